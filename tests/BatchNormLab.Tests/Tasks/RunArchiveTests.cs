using BatchNormLab.Experiments;
using BatchNormLab.IO;

namespace BatchNormLab.Tests;

/// <summary>
/// <see cref="RunArchive"/>: a run read back from disk gives an experiment the numbers the run it trained gave, to the
/// bit, for every kind of probe a run carries.
/// </summary>
public sealed class RunArchiveTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-archive-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    sealed class Started(List<string> labels) : IExperimentProgress
    {
        public void RunStarted(string experiment, string run, int steps) { lock (labels) labels.Add(run); }
    }

    ExperimentContext Context(string output, List<string> trained) =>
        new(Path.Combine(dir, output), Preset.Tiny, null, threads: 2, seed: 5, new Started(trained)) { RunArchive = Path.Combine(dir, "runs") };

    /// <summary>
    /// Experiments whose runs carry every kind of probe state: ics and landscape, the probed VGG runs (ICS, landscape, theory
    /// probes, activations) and the probed DLN runs; sigmoid, saturation and activation probes on its own runs; loss-surface,
    /// kept checkpoints; hessian, kept copies (ModelAt).
    /// </summary>
    public static TheoryData<string> EveryProbeKind => ["ics", "landscape", "sigmoid", "loss-surface", "hessian"];

    [Theory]
    [MemberData(nameof(EveryProbeKind))]
    public void AnExperimentOnSavedRunsGivesTheNumbersOfTheRunsItTrained(string name)
    {
        var experiment = Experiment.Find(name)!;
        var (trainedFirst, trainedAgain) = (new List<string>(), new List<string>());
        var first = experiment.Run(Context("first", trainedFirst));
        var again = experiment.Run(Context("again", trainedAgain));

        Assert.NotEmpty(trainedFirst);
        Assert.Empty(trainedAgain);
        Assert.Equal(first.Numbers, again.Numbers);
        Assert.Equal(first.Verdict.Reason, again.Verdict.Reason);
        Assert.Equal(ResultJson.Serialize(first with { Seconds = 0, Tables = [] }), ResultJson.Serialize(again with { Seconds = 0, Tables = [] }));
    }

    [Fact]
    public void ARunFileThatIsNotARunIsAClearError()
    {
        string run = Path.Combine(dir, "broken");
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, "run.json"), "{ not json");
        var e = Assert.Throws<DataException>(() => RunArchive.Load(run, "key"));
        Assert.Contains(Path.Combine(run, "run.json"), e.Message);
        Assert.Null(RunArchive.Load(Path.Combine(dir, "absent"), "key"));
    }

    [Fact]
    public void ARunSavedUnderAnotherKeyIsNotTaken()
    {
        var trained = new List<string>();
        Experiment.Find("lr-sweep")!.Run(Context("first", trained));
        string saved = Directory.GetDirectories(Path.Combine(dir, "runs"))[0];
        var e = Assert.Throws<DataException>(() => RunArchive.Load(saved, "another key"));
        Assert.Contains("another key", e.Message, StringComparison.OrdinalIgnoreCase);
    }
}
