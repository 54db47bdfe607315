using BatchNormLab.Experiments;
using BatchNormLab.Store;

namespace BatchNormLab.Tests;

/// <summary>
/// <c>bnlab reproduce</c> as a task graph on this machine: worker processes give the numbers of one process, a plan killed
/// midway completes on a rerun with the same numbers (a training task killed inside its run resumes it from its saved progress), and a task that fails is named in the report while the other
/// experiments are judged as before.
/// </summary>
public sealed class ScaleOutTests(ScaleOutTests.Reference reference) : IClassFixture<ScaleOutTests.Reference>
{
    static readonly string[] Experiments = ["lr-sweep", "ics", "sigmoid"];

    static string[] Job(string output, string db) =>
        ["reproduce", "--preset", "tiny", "--seed", "3", "--more-seeds", "1", "--only", string.Join(',', Experiments), "--out", output, "--db", db];

    /// <summary>One sequential run (one process), the numbers every other run here must equal.</summary>
    public sealed class Reference : IDisposable
    {
        public string Dir { get; } = Directory.CreateTempSubdirectory("bnlab-scale-out-").FullName;
        public Dictionary<string, ExperimentResult> Results { get; }

        public Reference()
        {
            var (code, _, err) = Cli.Run([.. Job(Path.Combine(Dir, "sequential"), Path.Combine(Dir, "sequential.db")), "--workers", "1"]);
            Assert.True(code == 0, err);
            Results = ReadResults(Path.Combine(Dir, "sequential"));
        }

        public void Dispose() => Directory.Delete(Dir, recursive: true);
    }

    static Dictionary<string, ExperimentResult> ReadResults(string output) =>
        Experiments.Where(e => File.Exists(Path.Combine(output, e, "result.json")))
            .ToDictionary(e => e, e => ResultJson.Deserialize(File.ReadAllText(Path.Combine(output, e, "result.json"))));

    void AssertSameNumbers(string output, params string[] experiments)
    {
        var results = ReadResults(output);
        foreach (string e in experiments)
        {
            Assert.Equal(reference.Results[e].Numbers, results[e].Numbers);
            Assert.Equal(reference.Results[e].Verdict.Reason, results[e].Verdict.Reason);
        }
    }

    [Fact]
    public void TwoWorkerProcessesGiveTheNumbersOfOneProcess()
    {
        string output = Path.Combine(reference.Dir, "workers");
        var (code, _, err) = Cli.Run([.. Job(output, Path.Combine(reference.Dir, "workers.db")), "--workers", "2"]);
        Assert.True(code == 0, err);
        AssertSameNumbers(output, Experiments);
        Assert.Contains("done", err);
    }

    [Fact]
    public void APlanKilledMidwayCompletesOnARerunWithTheSameNumbers()
    {
        string output = Path.Combine(reference.Dir, "killed"), db = Path.Combine(reference.Dir, "killed.db");
        using (var p = Cli.Start([.. Job(output, db), "--workers", "2"]))
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            string runs = Path.Combine(output, "runs");
            while (!p.HasExited && (!Directory.Exists(runs) || Directory.GetDirectories(runs).Length < 3) && clock.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(20);
            Assert.False(p.HasExited, "the plan finished before it could be killed");
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        Assert.False(File.Exists(Path.Combine(output, "report.html")));
        var (code, _, err) = Cli.Run([.. Job(output, db), "--workers", "2"]);
        Assert.True(code == 0, err);
        Assert.Matches(@"plan: \d+ tasks .*, [1-9]\d* done already", err);
        AssertSameNumbers(output, Experiments);
    }

    static string[] ProgressFiles(string output) =>
        Directory.Exists(Path.Combine(output, "runs")) ? Directory.GetFiles(Path.Combine(output, "runs"), "*.progress.safetensors") : [];

    /// <summary>
    /// Starts the tiny job with <paramref name="checkpointMinutes"/> and stops it with <paramref name="stop"/> once the
    /// predicate <paramref name="watch"/> makes at the start says a run is training, again (up to five times) where that run
    /// finished first; then checks that the rerun resumes the run from its saved progress and gives the sequential run's numbers.
    /// </summary>
    void StoppedMidRunResumes(string name, string checkpointMinutes, Func<string, Func<bool>> watch, Action<System.Diagnostics.Process, int> stop)
    {
        string output = Path.Combine(reference.Dir, name);
        string[] job = [.. Job(output, Path.Combine(reference.Dir, name + ".db")), "--workers", "1", "--checkpoint-minutes", checkpointMinutes];
        for (int attempt = 0; attempt < 5 && ProgressFiles(output).Length == 0; attempt++)
        {
            var midRun = watch(output);
            using var p = Cli.Start(job);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (!p.HasExited && !midRun() && clock.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(1);
            Assert.False(p.HasExited, "the plan finished before it could be stopped");
            stop(p, attempt);
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(60)), "the plan did not stop");
        }
        var stopped = Assert.Single(ProgressFiles(output));

        var (code, _, err) = Cli.Run(job);
        Assert.True(code == 0, err);
        Assert.Matches(@"resumed at step [1-9]\d* of \d+ from .*" + System.Text.RegularExpressions.Regex.Escape(Path.GetFileName(stopped)), err);
        Assert.Empty(ProgressFiles(output));
        AssertSameNumbers(output, Experiments);
    }

    // A tiny run takes about a tenth of a second: killed as soon as one has saved progress (after every step).
    [Fact]
    public void ATrainingTaskKilledMidRunResumesItsRunAndEndsWithTheSameNumbers() =>
        StoppedMidRunResumes("killed-mid-run", "0", output => () => ProgressFiles(output).Length > 0, (p, _) => p.Kill(entireProcessTree: true));

    // No timed saves in an hour: the only progress there can be is what SIGTERM makes the run save. A few milliseconds
    // after a run is saved the next one is training.
    [Fact]
    public void ATerminatedPlanSavesTheProgressOfItsRunAndResumesIt()
    {
        static int Saved(string output) => Directory.Exists(Path.Combine(output, "runs"))
            ? Directory.GetDirectories(Path.Combine(output, "runs")).Count(d => File.Exists(Path.Combine(d, "run.json"))) : 0;
        StoppedMidRunResumes("terminated", "60", output =>
        {
            int before = Saved(output);
            return () => Saved(output) > before;
        }, (p, attempt) =>
        {
            Thread.Sleep(new[] { 10, 30, 5, 50, 20 }[attempt]);
            using var kill = System.Diagnostics.Process.Start("kill", ["-TERM", p.Id.ToString()]);
            kill.WaitForExit();
        });
    }

    [Fact]
    public void ATaskThatFailsIsNamedInTheReportAndTheOthersAreJudgedAsBefore()
    {
        string output = Path.Combine(reference.Dir, "failing"), db = Path.Combine(reference.Dir, "failing.db");
        // A file where sigmoid's directory must go: its tasks fail, every time.
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "sigmoid"), "in the way");
        var (code, _, err) = Cli.Run([.. Job(output, db), "--workers", "2"]);

        Assert.Equal(4, code);
        Assert.Contains("did not finish", err);
        AssertSameNumbers(output, "lr-sweep", "ics");
        using var store = RunStore.Open(db, create: false);
        var sigmoid = store.Results(store.Runs()[0].Id).Single(r => r.Name == "sigmoid");
        Assert.Equal(VerdictKind.Inconclusive, sigmoid.Verdict.Kind);
        Assert.Matches(@"not judged: task \S+(, which it needs,)? exited with status 4 .*; its log: .*\.log", sigmoid.Verdict.Reason);
        Assert.True(File.Exists(Path.Combine(output, "report.html")));
    }

    // On tiny with seed 5, lr-sweep, noisy-bn and small-lr are inconclusive on their first two seeds and activations is
    // not; an added run is shared by all four.
    [Fact]
    public void AFailedFirstJudgementTakesNothingFromTheOtherExperimentsAddedSeeds()
    {
        string[] Shared(string output) => ["reproduce", "--preset", "tiny", "--seed", "5", "--more-seeds", "1", "--only", "lr-sweep,activations,noisy-bn,small-lr",
            "--out", Path.Combine(reference.Dir, output), "--db", Path.Combine(reference.Dir, output + ".db"), "--workers", "2"];
        var (code, _, err) = Cli.Run(Shared("shared"));
        Assert.True(code == 0, err);
        string failing = Path.Combine(reference.Dir, "shared-failing");
        Directory.CreateDirectory(failing);
        File.WriteAllText(Path.Combine(failing, "small-lr"), "in the way");

        (code, _, err) = Cli.Run(Shared("shared-failing"));
        Assert.Equal(4, code);
        Assert.True(File.Exists(Path.Combine(failing, "report.html")), err);
        foreach (string name in new[] { "lr-sweep", "activations", "noisy-bn" })
        {
            var expected = ResultJson.Deserialize(File.ReadAllText(Path.Combine(reference.Dir, "shared", name, "result.json")));
            var result = ResultJson.Deserialize(File.ReadAllText(Path.Combine(failing, name, "result.json")));
            Assert.Equal(expected.Numbers, result.Numbers);
            Assert.Equal(expected.Seeds, result.Seeds);
        }
        Assert.Contains("small-lr", err);
        Assert.DoesNotContain("more-seeds-lr-sweep", err.Split('\n').Single(l => l.Contains("did not finish")));
    }

    [Fact]
    public void PlanOnlyWritesThePlanAndTrainsNothing()
    {
        string output = Path.Combine(reference.Dir, "plan-only");
        var (code, stdout, err) = Cli.Run([.. Job(output, Path.Combine(reference.Dir, "plan-only.db")), "--plan-only"]);
        Assert.True(code == 0, err);
        Assert.Contains("plan.json", stdout);
        var plan = Tasks.Plan.Load(Path.Combine(output, "plan.json"));
        // An experiment task and its judgement over the added seeds each, and the report.
        Assert.Equal(2 * Experiments.Length + 1, plan.Tasks.Count(t => t.Kind != Tasks.TaskKind.Train));
        Assert.False(Directory.Exists(Path.Combine(output, "runs")));
    }

    [Fact]
    public void DescribeStatesTheTasksAndTheCoreHours()
    {
        var (code, stdout, err) = Cli.Run("reproduce", "--preset", "paper", "--describe", "--only", "lr-sweep,hessian", "--out", Path.Combine(reference.Dir, "describe"));
        Assert.True(code == 0, err);
        Assert.Matches(@"plan: \d+ tasks \(\d+ training runs, 2 experiments, \d+ more for the added seeds .* and 2 judgements over them, the report\).* training ≈ [\d.E+]+ core-hours .*, and up to [\d.E+]+ more for the added seeds", stdout);
    }

    [Theory]
    [InlineData("--executor", "kubernetes", "--executor 'kubernetes': expected local or slurm")]
    [InlineData("--workers", "0", "--workers 0: must be ≥ 1")]
    [InlineData("--checkpoint-minutes", "-1", "--checkpoint-minutes -1: must be ≥ 0 (0: after every step)")]
    public void BadScaleOutArgumentsExitWithTwoAndOneClearLine(string option, string value, string expected)
    {
        var (code, _, err) = Cli.Run("reproduce", "--preset", "tiny", "--only", "quadratic", option, value, "--out", Path.Combine(reference.Dir, "bad"));
        Assert.Equal(2, code);
        Assert.Contains(expected, err);
    }
}
