using BatchNormLab.Experiments;
using BatchNormLab.IO;
using BatchNormLab.Training;

namespace BatchNormLab.Tests;

/// <summary>
/// <see cref="RunProgress"/>: a run stopped midway resumes from its saved progress (model, momentum, metrics, kept copies and
/// every probe's measurements) and ends with the numbers of a run never stopped, to the bit.
/// </summary>
public sealed class RunProgressTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-progress-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    sealed class Killed : Exception;

    // Stops training (as a kill would, between two saves) at step `killAt` of the first run that gets there; records what it sees.
    sealed class Watch(int? killAt) : IExperimentProgress
    {
        int killed;
        public List<string> Started { get; } = [];
        public List<string> Messages { get; } = [];
        public Dictionary<string, int> FirstStep { get; } = [];

        public void RunStarted(string experiment, string run, int steps) => Started.Add(run);
        public void Message(string experiment, string text) => Messages.Add(text);

        public void Step(string experiment, string run, StepMetrics metrics)
        {
            FirstStep.TryAdd(run, metrics.Step);
            if (metrics.Step == killAt && Interlocked.Exchange(ref killed, 1) == 0) throw new Killed();
        }
    }

    ExperimentContext Context(string output, string archive, Watch watch, TimeSpan checkpointEvery) =>
        new(Path.Combine(dir, output), Preset.Tiny, null, threads: 2, seed: 5, watch) { RunArchive = Path.Combine(dir, archive), CheckpointEvery = checkpointEvery };

    static string[] ProgressFiles(string archive) => Directory.Exists(archive) ? Directory.GetFiles(archive, "*.progress.safetensors") : [];

    [Theory]
    [MemberData(nameof(RunArchiveTests.EveryProbeKind), MemberType = typeof(RunArchiveTests))]
    public void ARunStoppedMidwayResumesAndEndsWithTheNumbersOfARunNeverStopped(string name)
    {
        const int killAt = 23;
        var experiment = Experiment.Find(name)!;
        var reference = experiment.Run(Context("reference", "reference-runs", new Watch(null), ExperimentContext.DefaultCheckpointEvery));

        string archive = Path.Combine(dir, "runs");
        Assert.ThrowsAny<Exception>(() => experiment.Run(Context("stopped", "runs", new Watch(killAt), TimeSpan.Zero)));
        var progress = Assert.Single(ProgressFiles(archive));

        var watch = new Watch(null);
        var resumed = experiment.Run(Context("resumed", "runs", watch, TimeSpan.Zero));
        Assert.Contains(watch.Messages, m => m.Contains($"resumed at step {killAt} of ") && m.Contains(progress));
        Assert.Contains(killAt, watch.FirstStep.Values);
        Assert.Empty(ProgressFiles(archive));
        Assert.Equal(reference.Numbers, resumed.Numbers);
        Assert.Equal(reference.Verdict.Reason, resumed.Verdict.Reason);
        Assert.Equal(ResultJson.Serialize(reference with { Seconds = 0, Tables = [] }), ResultJson.Serialize(resumed with { Seconds = 0, Tables = [] }));
        foreach (string run in Directory.GetDirectories(Path.Combine(dir, "reference-runs")))
            foreach (string file in Directory.GetFiles(run, "*.safetensors"))
                Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(archive, Path.GetFileName(run), Path.GetFileName(file))));
    }

    [Fact]
    public void ProgressSavedUnderAnotherRunsKeyIsSetAsideAndTheRunTrainsFromTheStart()
    {
        string archive = Path.Combine(dir, "runs");
        Assert.ThrowsAny<Exception>(() => Experiment.Find("lr-sweep")!.Run(Context("stopped", "runs", new Watch(5), TimeSpan.Zero)));
        string progress = Assert.Single(ProgressFiles(archive));
        var (entries, metadata) = Safetensors.Read(progress);
        var config = Checkpoint.FromState(entries, metadata, progress, otherEntries: true).Config;

        // The file moved to where another key's run looks for its progress: the same config, another run.
        var elsewhere = RunProgress.For(archive, "another key", ExperimentContext.DefaultCheckpointEvery);
        File.Move(progress, elsewhere.File);
        var watch = new Watch(null);
        var run = TrainedRun.Train(Context("other", "runs", watch, TimeSpan.Zero), "lr-sweep", "another run", config, progress: elsewhere);
        var fresh = TrainedRun.Train(Context("fresh", "fresh-runs", new Watch(null), TimeSpan.Zero), "lr-sweep", "another run", config);

        Assert.Contains(watch.Messages, m => m.Contains("cannot resume from its saved progress") && m.Contains(elsewhere.File) && m.Contains("another run"));
        Assert.Equal(0, watch.FirstStep["another run"]);
        Assert.False(File.Exists(elsewhere.File));
        Assert.Equal(fresh.Steps.Select(s => s.Loss), run.Steps.Select(s => s.Loss));
        Assert.Equal(fresh.Model.StateDict().Select(e => e.Tensor?.ToDoubleArray()), run.Model.StateDict().Select(e => e.Tensor?.ToDoubleArray()));
    }
}
