using BatchNormLab.Kernels;

namespace BatchNormLab.Experiments;

/// <summary>How big a run is: <c>tiny</c> runs in seconds (tests), <c>quick</c> in minutes on 2 cores, <c>paper</c> uses the paper's settings.</summary>
public enum Preset
{
    /// <summary>An MLP on a synthetic Gaussian mixture for a few dozen steps: seconds, for tests; its verdicts say nothing about the papers.</summary>
    Tiny,
    /// <summary>A ⅛-width VGG-11 on Fashion-MNIST for a few hundred steps: minutes on 2 cores.</summary>
    Quick,
    /// <summary>The paper's own setting (VGG-16 on CIFAR-10, 15,000 steps).</summary>
    Paper,
}

/// <summary>Whether this run's numbers agree with the paper's claim.</summary>
public enum VerdictKind
{
    /// <summary>The numbers support the claim beyond the seeds' noise.</summary>
    Agrees,
    /// <summary>The numbers contradict the claim beyond the seeds' noise (the effect is absent, too small or reversed).</summary>
    DoesNotAgree,
    /// <summary>Neither: the noise band straddles the margin, too few seeds, a non-finite value, or a precondition failed.</summary>
    Inconclusive,
}

/// <summary>A verdict and the numbers behind it, in words.</summary>
public sealed partial record Verdict(VerdictKind Kind, string Reason);

/// <summary>What an experiment needs from outside: where to write, which data, how many threads, and where to report progress.</summary>
/// <param name="outputDirectory">The directory experiments write their files under, one subdirectory each (<see cref="DirectoryOf"/>).</param>
/// <param name="preset">How big the runs are.</param>
/// <param name="dataDirectory">Where the image datasets' files are (the --data option); null: the BNLAB_DATA environment variable, then the Debian package's location (Fashion-MNIST only).</param>
/// <param name="threads">The compute threads each experiment runs on (<see cref="Threading.Use"/>).</param>
/// <param name="seed">The first seed; the others follow it (<see cref="SeedList"/>). The synthetic datasets are drawn from it too.</param>
/// <param name="progress">Where progress goes; null: nowhere.</param>
/// <param name="dataset">An image dataset for the VGG runs other than the preset's (e.g. cifar10 on quick); null keeps the preset's.</param>
/// <param name="seeds">Seeds per compared configuration (context.Seed, +1, …); null: the preset's (<see cref="DefaultSeeds"/>).</param>
/// <param name="moreSeeds">Seeds added where an experiment's verdict is inconclusive on the first ones (<see cref="Experiment.Run"/>); null: the preset's (<see cref="DefaultMoreSeeds"/>).</param>
public sealed class ExperimentContext(string outputDirectory, Preset preset, string? dataDirectory, int threads, ulong seed, IExperimentProgress? progress = null, string? dataset = null, int? seeds = null, int? moreSeeds = null)
{
    // Not readonly: a context over more seeds (WithSeeds) shares them, so data loads and shared runs train once.
    Dictionary<string, (Dataset Train, Dataset Test)> datasets = [];
    Dictionary<string, Lazy<TrainedRun>> sharedRuns = [];

    /// <summary>The directory experiments write their files under, one subdirectory each.</summary>
    public string OutputDirectory { get; } = outputDirectory;
    /// <summary>How big the runs are.</summary>
    public Preset Preset { get; } = preset;
    /// <summary>Where the image datasets' files are; null: the BNLAB_DATA environment variable, then the Debian package's location (Fashion-MNIST only).</summary>
    public string? DataDirectory { get; } = dataDirectory;
    /// <summary>The compute threads each experiment runs on.</summary>
    public int Threads { get; } = threads;
    /// <summary>The first seed of <see cref="SeedList"/>; also the seed the synthetic datasets are drawn from.</summary>
    public ulong Seed { get; } = seed;
    /// <summary>The image dataset the VGG runs use instead of the preset's (e.g. "cifar10"); null: the preset's.</summary>
    public string? Dataset { get; } = dataset;
    /// <summary>Where progress goes; calls from concurrent runs (<see cref="Threading.Concurrently"/>) reach it one at a time.</summary>
    public IExperimentProgress Progress { get; } = progress as OneAtATime ?? new OneAtATime(progress ?? new SilentProgress());

    /// <summary>How many seeds every comparison is judged over.</summary>
    public int Seeds { get; } = seeds is int n ? (n >= 1 ? n : throw new ArgumentOutOfRangeException(nameof(seeds), n, "at least one seed")) : DefaultSeeds(preset);

    /// <summary>The seeds themselves: Seed, Seed + 1, …, Seed + Seeds − 1.</summary>
    public IReadOnlyList<ulong> SeedList => Enumerable.Range(0, Seeds).Select(i => Seed + (ulong)i).ToArray();

    /// <summary>Three seeds on quick and paper (the fewest that give a noise estimate worth the name); two on tiny, whose verdicts say nothing anyway.</summary>
    public static int DefaultSeeds(Preset preset) => preset == Preset.Tiny ? 2 : 3;

    /// <summary>How many seeds an experiment adds when its verdict is inconclusive on the first <see cref="Seeds"/> (0: never).</summary>
    public int MoreSeeds { get; } = moreSeeds is int m ? (m >= 0 ? m : throw new ArgumentOutOfRangeException(nameof(moreSeeds), m, "zero or more seeds")) : DefaultMoreSeeds(preset);

    /// <summary>
    /// Two on quick and paper: three seeds' standard error has two degrees of freedom, so an effect near a rule's
    /// margin lands on either side of it; five narrow the band by about a third and steady its width. None on tiny.
    /// </summary>
    public static int DefaultMoreSeeds(Preset preset) => preset == Preset.Tiny ? 0 : 2;

    /// <summary>
    /// This context over <paramref name="count"/> seeds from the same first seed, adding none: it shares the loaded data
    /// and the shared runs, so a seed both contexts judge over is trained once.
    /// </summary>
    public ExperimentContext WithSeeds(int count) =>
        new(OutputDirectory, Preset, DataDirectory, Threads, Seed, Progress, Dataset, count, moreSeeds: 0)
        {
            datasets = datasets, sharedRuns = sharedRuns, RunArchive = RunArchive, CheckpointEvery = CheckpointEvery, discovery = discovery,
        };

    /// <summary>
    /// Where trained runs are saved (<see cref="Experiments.RunArchive"/>), one directory per shared run, or null to keep them in
    /// memory only. With it, a run another process (a task of the plan) or an earlier, interrupted invocation trained is loaded
    /// instead of trained again.
    /// </summary>
    public string? RunArchive { get; init; }

    /// <summary>How much training a run in the <see cref="RunArchive"/> does between saves of its progress (<see cref="RunProgress"/>); zero: after every step.</summary>
    public TimeSpan CheckpointEvery { get; init; } = DefaultCheckpointEvery;

    /// <summary>Ten minutes: a few seconds of writing per save on the paper's models, and at most ten minutes lost to a kill.</summary>
    public static readonly TimeSpan DefaultCheckpointEvery = TimeSpan.FromMinutes(10);

    // Set while an experiment's runs are being discovered (Plan): Shared records each request and hands back a stand-in.
    RunDiscovery? discovery;

    /// <summary>A context in which <see cref="Experiment.Discover"/> lists an experiment's shared runs without training them.</summary>
    internal ExperimentContext ForDiscovery(RunDiscovery found, string outputDirectory, IExperimentProgress? progress) =>
        new(outputDirectory, Preset, DataDirectory, 1, Seed, progress, Dataset, Seeds, MoreSeeds) { RunArchive = RunArchive, CheckpointEvery = CheckpointEvery, discovery = found };

    /// <summary>
    /// The run shared under <paramref name="key"/>: trained by <paramref name="train"/> on first request, the same run after
    /// (from memory, else from <see cref="RunArchive"/>, where a trained run is then saved). <paramref name="own"/> says whether
    /// the run is this request's own: trained for <paramref name="experiment"/> under <paramref name="label"/>, here or by a task
    /// standing in for it, rather than first by another experiment or under another label.
    /// </summary>
    internal TrainedRun Shared(string key, string experiment, string label, TrainConfig config, Func<RunProgress?, TrainedRun> train, out bool own)
    {
        if (discovery is not null) return discovery.Request(key, experiment, label, config, train, out own);
        Lazy<TrainedRun>? entry;
        lock (sharedRuns)
        {
            if (!sharedRuns.TryGetValue(key, out entry))
                sharedRuns[key] = entry = new Lazy<TrainedRun>(() => LoadOrTrain(key, train), LazyThreadSafetyMode.ExecutionAndPublication);
        }
        var run = entry.Value;
        own = run.Experiment == experiment && run.Label == label;
        return run;
    }

    TrainedRun LoadOrTrain(string key, Func<RunProgress?, TrainedRun> train)
    {
        if (RunArchive is null) return train(null);
        string directory = Experiments.RunArchive.DirectoryFor(RunArchive, key);
        if (Experiments.RunArchive.Load(directory, key) is { } saved)
        {
            // A kill between saving the run and deleting its progress leaves the progress behind.
            Experiments.RunArchive.DeleteProgress(directory);
            return saved;
        }
        var run = train(RunProgress.For(RunArchive, key, CheckpointEvery));
        Experiments.RunArchive.Save(run, key, directory);
        return run;
    }

    /// <summary>Loads a dataset once per context (experiments and concurrent runs share it).</summary>
    public (Dataset Train, Dataset Test) Data(string name)
    {
        // Data is work: discovery stops where an experiment reaches for it outside the run it trains.
        if (discovery is { Training: false }) throw new RunDiscovery.Stop();
        lock (datasets)
        {
            if (!datasets.TryGetValue(name, out var pair)) datasets[name] = pair = DatasetCatalog.Load(name, DataDirectory, Seed);
            return pair;
        }
    }

    /// <summary>The directory of one experiment's files (created).</summary>
    public string DirectoryOf(string experiment)
    {
        string dir = Path.Combine(OutputDirectory, experiment);
        Directory.CreateDirectory(dir);
        return dir;
    }

    sealed class SilentProgress : IExperimentProgress;

    sealed class OneAtATime(IExperimentProgress inner) : IExperimentProgress
    {
        public void RunStarted(string experiment, string run, int steps) { lock (inner) inner.RunStarted(experiment, run, steps); }
        public void Step(string experiment, string run, StepMetrics metrics) { lock (inner) inner.Step(experiment, run, metrics); }
        public void RunFinished(string experiment, string run, TrainingOutcome outcome) { lock (inner) inner.RunFinished(experiment, run, outcome); }
        public void Message(string experiment, string text) { lock (inner) inner.Message(experiment, text); }
    }
}

/// <summary>Where experiments report what they are doing; every method optional.</summary>
public interface IExperimentProgress
{
    /// <summary>A training run starts: its label and length.</summary>
    void RunStarted(string experiment, string run, int steps) { }
    /// <summary>A training run finished a step (after its update): the step's loss, accuracy and gradient norm.</summary>
    void Step(string experiment, string run, StepMetrics metrics) { }
    /// <summary>A training run ended: the steps done, whether it diverged, and its final evaluation.</summary>
    void RunFinished(string experiment, string run, TrainingOutcome outcome) { }
    /// <summary>A line of news from an experiment between runs, e.g. which measurement it is on.</summary>
    void Message(string experiment, string text) { }
}

/// <summary>
/// One experiment of the papers: what it reproduces (figure and claim), how it runs per preset, and
/// a verdict computed from its numbers. Results carry tables and series that the report draws.
/// </summary>
public abstract class Experiment
{
    /// <summary>The CLI name, e.g. "lr-sweep".</summary>
    public abstract string Name { get; }
    /// <summary>Which figure of which paper, e.g. "Santurkar et al. 2018, Fig. 1".</summary>
    public abstract string Figure { get; }
    /// <summary>The paper's claim that the verdict tests, as its source states it.</summary>
    public abstract string Claim { get; }
    /// <summary>Where the claim comes from: paper, section or figure, and the seed file that reports it; says so where the claim is this project's own extension.</summary>
    public abstract string Source { get; }

    /// <summary>The settings a preset uses, and where they differ from the paper, in words.</summary>
    public abstract (string Settings, string Deviations) Describe(Preset preset, string? dataset = null);

    /// <summary>
    /// Runs the experiment: its measurements, figures and verdict, with its source and seeds attached. A sequential
    /// rule, the same for every experiment and fixed before any run: judged over the context's seeds; where that
    /// verdict is inconclusive, judged again over <see cref="ExperimentContext.MoreSeeds"/> more (the first seeds'
    /// runs reused), and that verdict is the result. The settings say which happened.
    /// </summary>
    public ExperimentResult Run(ExperimentContext context)
    {
        var first = MeasureFirst(context);
        return NeedsMoreSeeds(context, first) ? MeasureMore(context, first) : Conclude(context, first);
    }

    /// <summary>The first judgement, over the context's seeds (<see cref="Run"/>'s first part; a plan's experiment task).</summary>
    internal ExperimentResult MeasureFirst(ExperimentContext context)
    {
        using var threads = Threading.Use(context.Threads);
        return Measure(context);
    }

    /// <summary>Whether <paramref name="first"/> is inconclusive and the context has seeds to add.</summary>
    internal static bool NeedsMoreSeeds(ExperimentContext context, ExperimentResult first) =>
        context.MoreSeeds > 0 && first.Verdict.Kind == VerdictKind.Inconclusive;

    /// <summary>The context over the first seeds and the added ones, sharing <paramref name="context"/>'s data and runs.</summary>
    internal static ExperimentContext Wider(ExperimentContext context) => context.WithSeeds(context.Seeds + context.MoreSeeds);

    /// <summary><paramref name="first"/> as the result: the first judgement was conclusive (or no seeds are added).</summary>
    internal ExperimentResult Conclude(ExperimentContext context, ExperimentResult first) =>
        first with { Source = Source, Seeds = context.SeedList, Settings = $"{first.Settings} {SeedsRule(context)}." };

    /// <summary>The judgement over <see cref="Wider"/> seeds after the inconclusive <paramref name="first"/>; its time includes the first's.</summary>
    internal ExperimentResult MeasureMore(ExperimentContext context, ExperimentResult first)
    {
        using var threads = Threading.Use(context.Threads);
        var wider = Wider(context);
        context.Progress.Message(Name, $"inconclusive on {context.Seeds} seeds: judging again on {wider.Seeds}");
        var result = Measure(wider);
        return result with
        {
            Seconds = first.Seconds + result.Seconds, Source = Source, Seeds = wider.SeedList,
            Settings = $"{result.Settings} {SeedsRule(context)}: inconclusive on them, so judged on {SeedRange(wider.SeedList)}.",
        };
    }

    static string SeedsRule(ExperimentContext context) =>
        $"Seeds: {SeedRange(context.SeedList)}" +
        (context.MoreSeeds > 0 ? $", and {context.MoreSeeds} more where the verdict on them is inconclusive (a rule fixed before any run)" : "");

    static string SeedRange(IReadOnlyList<ulong> seeds) => seeds.Count == 1 ? $"{seeds[0]}" : $"{seeds[0]}–{seeds[^1]}";

    /// <summary>One pass of the experiment over the context's seeds: runs, measurements, figures and verdict (<see cref="Run"/> adds the source and seeds, and may call it again with more seeds).</summary>
    protected abstract ExperimentResult Measure(ExperimentContext context);

    // Measure on one thread, so the requests come in the order a sequential run makes them.
    internal void MeasureForDiscovery(ExperimentContext context)
    {
        using var threads = Threading.Use(1);
        Measure(context);
    }

    /// <summary>
    /// The shared runs this experiment asks for on <paramref name="context"/>'s seeds, in order, found by measuring with stand-ins
    /// for the runs until the experiment uses one or reaches for data (nothing is trained or written there).
    /// </summary>
    internal IReadOnlyList<RunRequest> Discover(ExperimentContext context, string scratchDirectory)
    {
        var found = new RunDiscovery(target: null, threads: 1, archive: null, TimeSpan.Zero);
        found.Replay(this, context.ForDiscovery(found, scratchDirectory, null));
        return found.Requests;
    }

    /// <summary>
    /// Trains the shared run this experiment asks for under <paramref name="key"/>, as its measurement would (the same
    /// requests before it, the same callbacks and probes), and saves it to <paramref name="context"/>'s run archive.
    /// </summary>
    /// <exception cref="InvalidOperationException">The experiment does not ask for <paramref name="key"/> before it uses a run or data.</exception>
    internal void TrainShared(ExperimentContext context, string key)
    {
        if (context.RunArchive is null) throw new InvalidOperationException("training a shared run on its own needs a run archive to save it to");
        var found = new RunDiscovery(target: key, threads: context.Threads, archive: context.RunArchive, context.CheckpointEvery);
        found.Replay(this, context.ForDiscovery(found, context.OutputDirectory, context.Progress));
        if (!found.Trained) throw new InvalidOperationException($"{Name} asks for no shared run with key {key} before it needs its runs or data");
    }

    /// <summary>Writes raw measurements (a header line first) into this experiment's directory; returns the file name for the result's files.</summary>
    protected string WriteCsv(ExperimentContext context, string file, IEnumerable<string> lines)
    {
        IO.AtomicFile.WriteAllText(Path.Combine(context.DirectoryOf(Name), file), string.Join('\n', lines) + "\n");
        return file;
    }

    /// <summary>Every experiment, in the report's order.</summary>
    public static IReadOnlyList<Experiment> All { get; } = [new LrSweep(), new Activations(), new NoisyBn(), new Ics(), new Landscape(), new Theory(), new LpNormalisation(), new HessianSpectrum(),
        new RelativeLoss(), new GradientHistogram(), new Explosion(), new SmallLr(), new LossSurfacePlots(), new QuadraticSurface(), new BatchSizes(),
        new Placement(), new Affine(), new SigmoidSaturation(), new InferenceStatistics(),
        new ScaleInvariance(), new InitSensitivity()];

    /// <summary>The experiment whose CLI <see cref="Name"/> is <paramref name="name"/>; null when there is none.</summary>
    public static Experiment? Find(string name) => All.FirstOrDefault(e => e.Name == name);
}
