using BatchNormLab.Experiments;
using BatchNormLab.IO;
using BatchNormLab.Tasks;

namespace BatchNormLab.Tests;

/// <summary><see cref="Plan"/>: the task graph of a reproduce run, found without training, and what its tasks leave behind.</summary>
public sealed class PlanTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-plan-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    PlanSettings Settings(params string[] experiments) =>
        new("tiny", null, null, 5, null, null, Path.Combine(dir, "out"), Path.Combine(dir, "runs.db"), "test", experiments.Length > 0 ? experiments : [.. Experiment.All.Select(e => e.Name)]);

    [Fact]
    public void EverySharedRunIsOneTaskEveryExperimentNeedsItsRunsAndTheReportComesLast()
    {
        var plan = Plan.Make(Settings(), Path.Combine(dir, "plan.json"));
        var train = plan.Tasks.Where(t => t.Kind == TaskKind.Train).ToList();
        var experiments = plan.Tasks.Where(t => t.Kind == TaskKind.Experiment).ToList();

        Assert.Equal(Experiment.All.Select(e => $"experiment-{e.Name}"), experiments.Select(t => t.Id));
        Assert.Equal(train.Count, train.Select(t => t.RunKey).Distinct().Count());
        Assert.All(train, t => Assert.True(t.Cost > 0, t.Id));
        Assert.Equal("report", plan.Tasks[^1].Id);
        Assert.Equal(experiments.Select(t => t.Id), plan.Tasks[^1].Needs);
        // Each task comes after the tasks it needs, in an earlier stage, and runs as `task run --plan … --index i`.
        for (int i = 0; i < plan.Tasks.Count; i++)
        {
            var task = plan.Tasks[i];
            Assert.All(task.Needs, need => Assert.True(plan.IndexOf(need) < i && plan.Tasks[plan.IndexOf(need)].Stage < task.Stage, $"{task.Id} needs {need}"));
            Assert.Equal(["task", "run", "--plan", Path.Combine(dir, "plan.json"), "--index", i.ToString()], task.Command[^6..]);
        }
        // The VGG runs that lr-sweep trains first are shared: ics and landscape need lr-sweep's LR 0.1 runs' tasks.
        var sweep = experiments.Single(t => t.Experiment == "lr-sweep");
        Assert.NotEmpty(sweep.Needs.Intersect(experiments.Single(t => t.Experiment == "ics").Needs));
    }

    [Fact]
    public void ThePlannedRunsAreTheRunsTheExperimentsTrainAndEachIsTrainedAsItsFirstAskerWould()
    {
        var settings = Settings();
        var plan = Plan.Make(settings, Path.Combine(dir, "plan.json"));
        var context = settings.Context(threads: 2, progress: null);
        foreach (var name in settings.Experiments) Experiment.Find(name)!.Run(context);

        // Every run a sequential run trains (tiny judges on its first seeds only) is a task of the plan.
        var saved = Directory.GetDirectories(Plan.RunsDirectory(settings.OutputDirectory)).Order(StringComparer.Ordinal);
        var planned = plan.Tasks.Where(t => t.Kind == TaskKind.Train).ToList();
        Assert.Equal(saved, planned.Select(t => t.Output).Order(StringComparer.Ordinal));
        foreach (var task in planned)
        {
            var run = RunArchive.Load(task.Output, task.RunKey!)!;
            Assert.Equal(task.Experiment, run.Experiment);
            Assert.Equal(task.Label, run.Label);
        }
    }

    [Fact]
    public void ATrainingTaskTrainsItsRunAloneAndARerunIsANoOp()
    {
        var settings = Settings("lr-sweep");
        string file = Path.Combine(dir, "plan.json");
        var plan = Plan.Make(settings, file);
        plan.Save(file);
        plan = Plan.Load(file);
        int index = plan.Tasks.Select((t, i) => (t, i)).First(x => x.t.Kind == TaskKind.Train).i;
        var trained = new List<string>();
        var runner = new TaskRunner(plan, 2, new Counting(trained));

        runner.Run(index);
        Assert.True(TaskRunner.IsDone(plan, plan.Tasks[index]));
        var written = File.GetLastWriteTimeUtc(Path.Combine(plan.Tasks[index].Output, "run.json"));
        new TaskRunner(plan, 2, new Counting(trained)).Run(index);

        Assert.Equal([plan.Tasks[index].Label!], trained);
        Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(plan.Tasks[index].Output, "run.json")));
        Assert.False(TaskRunner.IsDone(plan, plan.Tasks.Single(t => t.Kind == TaskKind.Experiment)));
    }

    // On tiny with seed 5, lr-sweep, noisy-bn and small-lr are inconclusive on their first two seeds, activations is not.
    [Fact]
    public void TheAddedSeedsRunsAreTasksThatTrainOnlyForAnInconclusiveFirstJudgementAndTheResultsAreASequentialRunsBits()
    {
        string[] names = ["lr-sweep", "activations", "noisy-bn", "small-lr"];
        var settings = Settings(names) with { MoreSeeds = 1 };
        string file = Path.Combine(dir, "plan.json");
        var plan = Plan.Make(settings, file);
        plan.Save(file);
        plan = Plan.Load(file);

        var added = plan.Tasks.Where(t => t.Condition is not null).ToList();
        Assert.NotEmpty(added);
        Assert.All(added, t => Assert.Equal((TaskKind.Train, 2), (t.Kind, t.Stage)));
        Assert.All(added, t => Assert.Equal(t.Condition!.Select(c => $"experiment-{c}"), t.Needs));
        Assert.DoesNotContain(added, t => plan.Tasks.Any(u => u.Condition is null && u.RunKey == t.RunKey));
        var more = plan.Tasks.Where(t => t.Kind == TaskKind.MoreSeeds).ToList();
        Assert.Equal(names.Select(n => $"more-seeds-{n}"), more.Select(t => t.Id));
        Assert.All(more, t => Assert.Equal(3, t.Stage));
        Assert.Equal(more.Select(t => t.Id), plan.Tasks[^1].Needs);
        // Each run added for an experiment is a task its judgement over more seeds needs.
        Assert.All(added, t => Assert.All(t.Condition!, c => Assert.Contains(t.Id, more.Single(m => m.Experiment == c).Needs)));

        Assert.Empty(new LocalExecutor(1, 2).Run(plan, null, new Silent()));
        var sequential = new ExperimentContext(Path.Combine(dir, "sequential"), Preset.Tiny, null, 2, settings.Seed, moreSeeds: 1) { RunArchive = Path.Combine(dir, "sequential-runs") };
        var expected = names.ToDictionary(n => n, n => Experiment.Find(n)!.Run(sequential));
        foreach (string name in names)
        {
            var result = ResultJson.Deserialize(File.ReadAllText(Path.Combine(settings.OutputDirectory, name, "result.json")));
            Assert.Equal(ResultJson.Serialize(expected[name] with { Seconds = 0, Tables = [] }), ResultJson.Serialize(result with { Seconds = 0, Tables = [] }));
            // An added run is trained exactly when one of the experiments it serves was inconclusive on its first seeds.
            bool inconclusive = expected[name].Seeds.Count > sequential.Seeds;
            Assert.Equal(inconclusive, File.Exists(TaskRunner.FirstJudgementFile(plan, plan.Tasks.Single(t => t.Id == $"experiment-{name}"))));
        }
        Assert.Contains(expected.Values, r => r.Seeds.Count > sequential.Seeds);
        Assert.Contains(expected.Values, r => r.Seeds.Count == sequential.Seeds);
        // The plan trained the runs the sequential run trained, no more.
        Assert.Equal(Directory.GetDirectories(Path.Combine(dir, "sequential-runs")).Select(Path.GetFileName).Order(),
            Directory.GetDirectories(Plan.RunsDirectory(settings.OutputDirectory)).Select(Path.GetFileName).Order());
        Assert.All(plan.Tasks, t => Assert.True(TaskRunner.IsDone(plan, t), t.Id));
    }

    sealed class Silent : IPlanProgress
    {
        public void Report(string line) { }
    }

    sealed class Counting(List<string> labels) : IExperimentProgress
    {
        public void RunStarted(string experiment, string run, int steps) { lock (labels) labels.Add(run); }
    }

    [Fact]
    public void TheFingerprintFollowsWhatResultsDependOn()
    {
        var settings = Settings("lr-sweep");
        Assert.Equal(settings.Fingerprint, (settings with { Database = "elsewhere.db", CommandLine = "other" }).Fingerprint);
        Assert.NotEqual(settings.Fingerprint, (settings with { Seed = 6 }).Fingerprint);
        Assert.NotEqual(settings.Fingerprint, (settings with { Preset = "quick" }).Fingerprint);
    }

    [Fact]
    public void AFileThatIsNotAPlanIsAClearError()
    {
        string file = Path.Combine(dir, "plan.json");
        Assert.Contains("no such plan file", Assert.Throws<DataException>(() => Plan.Load(file)).Message);
        File.WriteAllText(file, "[]");
        Assert.Contains(file, Assert.Throws<DataException>(() => Plan.Load(file)).Message);
        var plan = Plan.Make(Settings("quadratic"), file);
        Assert.Contains("the plan has tasks 0 to", Assert.Throws<ArgumentException>(() => plan[plan.Tasks.Count]).Message);
    }
}
