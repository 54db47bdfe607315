using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BatchNormLab.Experiments;
using BatchNormLab.IO;
using BatchNormLab.Store;

namespace BatchNormLab.Tasks;

/// <summary>What a task does: train one shared run, judge one experiment on its runs (again over more seeds), or write the report.</summary>
public enum TaskKind
{
    /// <summary>Trains one run that experiments share (or an experiment's own), and saves it to the run archive.</summary>
    Train,
    /// <summary>Judges one experiment on its first seeds' runs: its result.json, or, where the verdict is inconclusive and seeds are to be added, the first judgement for <see cref="MoreSeeds"/>.</summary>
    Experiment,
    /// <summary>Judges an experiment again over the added seeds where its first judgement was inconclusive, and writes its result.json; nothing to do otherwise.</summary>
    MoreSeeds,
    /// <summary>Records every experiment's result in the run store and writes report.html: the last task.</summary>
    Report,
}

/// <summary>One unit of work of a <see cref="Plan"/>.</summary>
/// <param name="Id">A stable name: <c>train-HASH</c>, <c>experiment-NAME</c>, <c>more-seeds-NAME</c> or <c>report</c>.</param>
/// <param name="Kind">What it does.</param>
/// <param name="Stage">
/// 0: training; 1: first judgements; 2: training for the added seeds; 3: judgements over the added seeds; 4: the report.
/// A task needs tasks of earlier stages only.
/// </param>
/// <param name="Command">The command line that runs it (<c>bnlab task run --plan … --index …</c>).</param>
/// <param name="Needs">The ids of the tasks it needs.</param>
/// <param name="Cost">Its expected cost in floating-point operations (training: steps × batch × the model's work per example; 0 where not estimated).</param>
/// <param name="Output">Where its output goes (a run directory, an experiment's result.json, report.html).</param>
/// <param name="Experiment">The experiment it runs, or whose request for a run it trains; null for the report.</param>
/// <param name="RunKey">The key of the run a training task trains.</param>
/// <param name="Label">The run's label (training tasks).</param>
/// <param name="Condition">
/// A training task for added seeds: the experiments that ask for its run when their first judgement is inconclusive. It
/// trains only if one of them was; it is trained as the first of them (<see cref="Experiment"/>) asks over the wider seeds.
/// </param>
public sealed record PlanTask(string Id, TaskKind Kind, int Stage, string[] Command, string[] Needs, double Cost, string Output,
    string? Experiment = null, string? RunKey = null, string? Label = null, string[]? Condition = null);

/// <summary>The settings a plan was made with: everything a task needs to rebuild its experiment context.</summary>
/// <param name="Preset">tiny, quick or paper.</param>
/// <param name="Dataset">The VGG runs' dataset instead of the preset's, or null.</param>
/// <param name="DataDirectory">Where the dataset's files are (null: $BNLAB_DATA, else the Debian package's directory).</param>
/// <param name="Seed">The first seed.</param>
/// <param name="Seeds">Seeds per comparison, or null for the preset's.</param>
/// <param name="MoreSeeds">Seeds added where a verdict is inconclusive, or null for the preset's.</param>
/// <param name="OutputDirectory">Where results go (absolute).</param>
/// <param name="Database">The run store (SQLite) the report task writes (absolute).</param>
/// <param name="CommandLine">The command line that made the plan, recorded with the run.</param>
/// <param name="Experiments">The experiments, in the order a sequential run takes them.</param>
/// <param name="Kind">The kind of run recorded in the store (reproduce or experiment).</param>
/// <param name="CheckpointMinutes">Minutes of training between saves of a training task's progress (0: after every step).</param>
public sealed record PlanSettings(string Preset, string? Dataset, string? DataDirectory, ulong Seed, int? Seeds, int? MoreSeeds,
    string OutputDirectory, string Database, string CommandLine, string[] Experiments, RunKind Kind = RunKind.Reproduce, double CheckpointMinutes = 10)
{
    /// <summary>The preset as the enum.</summary>
    [JsonIgnore]
    public Preset PresetValue => Enum.Parse<Preset>(Preset, ignoreCase: true);

    /// <summary>A context for these settings on <paramref name="threads"/> threads, saving and loading runs in the plan's run archive.</summary>
    public ExperimentContext Context(int threads, IExperimentProgress? progress) =>
        new(OutputDirectory, PresetValue, DataDirectory, threads, Seed, progress, Dataset, Seeds, MoreSeeds)
        {
            RunArchive = Plan.RunsDirectory(OutputDirectory), CheckpointEvery = TimeSpan.FromMinutes(CheckpointMinutes),
        };

    /// <summary>
    /// A hash of what the results depend on (not the threads, which change no bit, nor the run store or the checkpoints): a task's output made
    /// under other settings is not reused.
    /// </summary>
    [JsonIgnore]
    public string Fingerprint => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
        JsonSerializer.Serialize(new object?[] { Preset, Dataset, DataDirectory, Seed, Seeds, MoreSeeds, Experiments }))))[..16];
}

/// <summary>
/// The experiments of a reproduce run as a task graph: a training task per shared run (found by each experiment's
/// <see cref="Experiment.Discover"/>, in the order a sequential run asks for them, each trained as its first asker would),
/// an experiment task per experiment needing the runs it asks for; where seeds are added to an inconclusive judgement, a
/// training task per run only the added seeds need (trained only if an experiment it serves was inconclusive) and per
/// experiment a task judging it again over them; and the report last. Written to OUT/plan.json; any
/// executor (one process, worker processes, Slurm job arrays) runs its tasks with <c>bnlab task run</c>.
/// </summary>
/// <param name="Format">The file format's name and version.</param>
/// <param name="Fingerprint">The settings' fingerprint.</param>
/// <param name="Settings">The settings it was made with.</param>
/// <param name="Tasks">The tasks, each after every task it needs.</param>
public sealed record Plan(string Format, string Fingerprint, PlanSettings Settings, IReadOnlyList<PlanTask> Tasks)
{
    const string CurrentFormat = "bnlab-plan-2";

    /// <summary>
    /// Floating-point operations per second one core sustains on these models, for the core-hour estimate: our VGG training
    /// step runs at about a tenth of a 2-core AVX-512 machine's FMA peak (docs/benchmarks.md).
    /// </summary>
    public const double FlopsPerCoreSecond = 20e9;

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>The plan file of an output directory.</summary>
    public static string FileIn(string outputDirectory) => Path.Combine(outputDirectory, "plan.json");

    /// <summary>Where the trained runs of an output directory are saved.</summary>
    public static string RunsDirectory(string outputDirectory) => Path.Combine(outputDirectory, "runs");

    /// <summary>Where task status files and logs go.</summary>
    public static string TasksDirectory(string outputDirectory) => Path.Combine(outputDirectory, "tasks");

    /// <summary>The estimated core-hours of the training tasks that always run.</summary>
    [JsonIgnore]
    public double CoreHours => Tasks.Where(t => t.Condition is null).Sum(t => t.Cost) / FlopsPerCoreSecond / 3600;

    /// <summary>The estimated core-hours of the training for added seeds, all of which runs only if every first judgement is inconclusive.</summary>
    [JsonIgnore]
    public double ConditionalCoreHours => Tasks.Where(t => t.Condition is not null).Sum(t => t.Cost) / FlopsPerCoreSecond / 3600;

    /// <summary>The task at <paramref name="index"/>, or an ArgumentException naming the plan's size.</summary>
    public PlanTask this[int index] =>
        index >= 0 && index < Tasks.Count ? Tasks[index] : throw new ArgumentException($"--index {index}: the plan has tasks 0 to {Tasks.Count - 1}");

    /// <summary>
    /// Plans <paramref name="settings"/>' experiments: each experiment's shared runs are discovered (nothing trains), on
    /// the first seeds and, where seeds are added to inconclusive judgements, on the wider seeds; every task's command line
    /// names <paramref name="planFile"/>.
    /// </summary>
    public static Plan Make(PlanSettings settings, string planFile)
    {
        var context = settings.Context(threads: 1, progress: null);
        string scratch = Path.Combine(Path.GetTempPath(), $"bnlab-plan-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var costs = new ModelCosts(settings);
        // Runs by key in the order first asked for: those of the first seeds, then those only the added seeds need (with the experiments that would ask).
        var runs = new Dictionary<string, RunRequest>();
        var added = new Dictionary<string, List<string>>();
        var experiments = new List<PlanTask>();
        var moreSeeds = new List<PlanTask>();
        string RunDirectory(string key) => RunArchive.DirectoryFor(RunsDirectory(settings.OutputDirectory), key);
        string Id(string key) => $"train-{Path.GetFileName(RunDirectory(key))}";
        try
        {
            // First every experiment's runs on the first seeds, so a run some experiment always needs is never conditional.
            foreach (string name in settings.Experiments)
            {
                var experiment = Experiment.Find(name) ?? throw new ArgumentException($"unknown experiment '{name}'");
                var requests = experiment.Discover(context, scratch);
                foreach (var request in requests) runs.TryAdd(request.Key, request);
                experiments.Add(new PlanTask($"experiment-{name}", TaskKind.Experiment, 1, [], [.. requests.Select(r => Id(r.Key)).Distinct()], 0,
                    Path.Combine(settings.OutputDirectory, name, "result.json"), name));
            }
            if (context.MoreSeeds > 0)
                foreach (string name in settings.Experiments)
                {
                    var requests = Experiment.Find(name)!.Discover(Experiment.Wider(context), scratch);
                    foreach (var request in requests)
                    {
                        if (runs.TryAdd(request.Key, request)) added[request.Key] = [name];
                        else if (added.TryGetValue(request.Key, out var askers)) askers.Add(name);
                    }
                    moreSeeds.Add(new PlanTask($"more-seeds-{name}", TaskKind.MoreSeeds, 3, [],
                        [$"experiment-{name}", .. requests.Where(r => added.ContainsKey(r.Key)).Select(r => Id(r.Key)).Distinct()], 0,
                        Path.Combine(settings.OutputDirectory, name, "result.json"), name));
                }
        }
        finally
        {
            if (Directory.Exists(scratch)) Directory.Delete(scratch, recursive: true);
        }
        PlanTask Train(RunRequest r, List<string>? askers) =>
            new(Id(r.Key), TaskKind.Train, askers is null ? 0 : 2, [], askers is null ? [] : [.. askers.Select(a => $"experiment-{a}")], costs.Of(r.Config),
                RunDirectory(r.Key), r.Experiment, r.Key, r.Label, askers?.ToArray());
        var judged = moreSeeds.Count > 0 ? moreSeeds : experiments;
        List<PlanTask> tasks = [.. runs.Values.Where(r => !added.ContainsKey(r.Key)).Select(r => Train(r, null)), .. experiments,
            .. runs.Values.Where(r => added.ContainsKey(r.Key)).Select(r => Train(r, added[r.Key])), .. moreSeeds,
            new PlanTask("report", TaskKind.Report, 4, [], [.. judged.Select(t => t.Id)], 0, Path.Combine(settings.OutputDirectory, "report.html"))];
        var self = SelfCommand();
        var numbered = tasks.Select((t, i) => t with { Command = [.. self, "task", "run", "--plan", Path.GetFullPath(planFile), "--index", i.ToString(System.Globalization.CultureInfo.InvariantCulture)] }).ToList();
        return new Plan(CurrentFormat, settings.Fingerprint, settings, numbered);
    }

    /// <summary>Writes the plan as JSON (atomically).</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    /// <summary>Reads a plan written by <see cref="Save"/>.</summary>
    /// <exception cref="DataException">The file is missing or is not a plan of this version.</exception>
    public static Plan Load(string path)
    {
        if (!File.Exists(path)) throw new DataException($"{path}: no such plan file (make one with bnlab reproduce … --plan-only)");
        Plan? plan;
        try { plan = JsonSerializer.Deserialize<Plan>(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw new DataException($"{path}: not a plan ({e.Message})"); }
        if (plan is null || plan.Format != CurrentFormat) throw new DataException($"{path}: not a plan of format {CurrentFormat}");
        return plan;
    }

    /// <summary>The index of the task named <paramref name="id"/>.</summary>
    public int IndexOf(string id) => Tasks.Select((t, i) => (t, i)).Single(x => x.t.Id == id).i;

    /// <summary>The command that runs this bnlab again: the apphost, or dotnet with the entry assembly.</summary>
    public static string[] SelfCommand()
    {
        string process = Environment.ProcessPath ?? "bnlab";
        string entry = System.Reflection.Assembly.GetEntryAssembly()?.Location ?? "";
        return Path.GetFileNameWithoutExtension(process) == "dotnet" && entry.Length > 0 ? [process, entry] : [process];
    }
}
