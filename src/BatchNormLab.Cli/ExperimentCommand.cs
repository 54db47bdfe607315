using System.CommandLine;
using System.Globalization;
using BatchNormLab.Experiments;
using BatchNormLab.IO;
using BatchNormLab.Reports;
using BatchNormLab.Store;
using BatchNormLab.Tasks;
using BatchNormLab.Training;
using Spectre.Console;

namespace BatchNormLab.Cli;

/// <summary>
/// <c>bnlab experiment NAME</c> and <c>bnlab reproduce</c>: run the papers' experiments, write their numbers,
/// verdicts and report.html, and record the run in the run database.
/// </summary>
static class ExperimentCommand
{
    static readonly Option<string> PresetOption = new("--preset") { Description = "tiny (seconds, for tests), quick (minutes on 2 cores), paper (the paper's settings)", DefaultValueFactory = _ => "quick" };
    static readonly Option<string?> DatasetOption = new("--dataset") { Description = "The VGG runs' dataset instead of the preset's: fashion-mnist, cifar10, gaussian-mixture or gaussian-images (the same mixture as 2×4×4 images); the DLN keeps its synthetic regression" };
    static readonly Option<string?> DataDir = new("--data") { Description = "Directory with the dataset's files (else $BNLAB_DATA, else /usr/share/datasets/fashion-mnist)" };
    static readonly Option<string> Out = new("--out") { Description = "Output directory", DefaultValueFactory = _ => "runs/experiments" };
    static readonly Option<int> Threads = new("--threads") { Description = "Compute threads", DefaultValueFactory = _ => Math.Min(2, Environment.ProcessorCount) };
    static readonly Option<ulong> Seed = new("--seed") { Description = "Seed of every run", DefaultValueFactory = _ => 0UL };
    static readonly Option<int?> Seeds = new("--seeds") { Description = "Seeds every comparison is judged over (--seed, --seed + 1, …); default 3 on quick and paper, 2 on tiny" };
    static readonly Option<int?> MoreSeeds = new("--more-seeds") { Description = "Seeds an experiment adds when its verdict is inconclusive on the first --seeds, and is judged on again; default 2 on quick and paper, 0 on tiny" };
    static readonly Option<bool> DescribeOnly = new("--describe") { Description = "Print the settings this preset uses and where they differ from the paper, then stop (nothing runs)" };
    static readonly Option<bool> Markdown = new("--markdown") { Description = "With --describe: as Markdown, a section per experiment (docs/experiments.md is this)" };
    static readonly Option<bool> PlanOnly = new("--plan-only") { Description = "Write the task graph to OUT/plan.json (every training run, experiment and the report as a task) and stop" };
    static readonly Option<string> Executor = new("--executor") { Description = "Where the tasks run: local (this machine) or slurm (job arrays on a Slurm cluster)", DefaultValueFactory = _ => "local" };
    static readonly Option<int?> Workers = new("--workers") { Description = "local: tasks at a time, each in a worker process with threads/workers compute threads (1: all in this process); default: --threads" };
    static readonly Option<string?> Partition = new("--partition") { Description = "slurm: the partition" };
    static readonly Option<string?> TimeLimit = new("--time") { Description = "slurm: each task's time limit (sbatch --time, e.g. 2:00:00)" };
    static readonly Option<int> CpusPerTask = new("--cpus-per-task") { Description = "slurm: CPUs of each task, also its compute threads", DefaultValueFactory = _ => 2 };
    static readonly Option<string?> Memory = new("--mem") { Description = "slurm: memory of each task (sbatch --mem, e.g. 4G)" };
    static readonly Option<int?> ArrayLimit = new("--array-limit") { Description = "slurm: tasks of one array running at a time (the %k of sbatch --array)" };
    static readonly Option<string[]> SbatchArgs = new("--sbatch-arg") { Description = "slurm: one more sbatch argument, passed as it is (repeat for more), e.g. --sbatch-arg=--account=lab", AllowMultipleArgumentsPerToken = false };
    static readonly Option<bool> NoWait = new("--no-wait") { Description = "slurm: submit and stop, without following the jobs (run the same command again to see where they are)" };

    static readonly Option<double> CheckpointMinutes = new("--checkpoint-minutes")
    {
        Description = "Minutes of training between saves of a training run's progress under OUT/runs (0: after every step): a task killed midway resumes its run from there",
        DefaultValueFactory = _ => ExperimentContext.DefaultCheckpointEvery.TotalMinutes,
    };
    static Option[] ScaleOut => [PlanOnly, Executor, Workers, Partition, TimeLimit, CpusPerTask, Memory, ArrayLimit, SbatchArgs, NoWait, CheckpointMinutes];

    public static Command Experiment()
    {
        var name = new Argument<string>("NAME") { Description = $"One of: {string.Join(", ", Experiments.Experiment.All.Select(e => e.Name))}" };
        var command = new Command("experiment", "Run one experiment of the papers and write its figures' data, tables and verdict.\n" +
            string.Join("\n", Experiments.Experiment.All.Select(e => $"  {e.Name,-15} {e.Figure}: {e.Claim}"))) { name, PresetOption, DatasetOption, DataDir, Out, Threads, Seed, Seeds, MoreSeeds, RunsCommand.Db, DescribeOnly, Markdown };
        foreach (var option in ScaleOut) command.Options.Add(option);
        command.SetAction(p =>
        {
            string n = p.GetValue(name)!;
            var experiment = Experiments.Experiment.Find(n) ?? throw new ArgumentException($"unknown experiment '{n}'; experiments: {string.Join(", ", Experiments.Experiment.All.Select(e => e.Name))}");
            return RunAll(p, RunKind.Experiment, [experiment]);
        });
        return command;
    }

    public static Command Reproduce()
    {
        var only = new Option<string[]?>("--only") { Description = "Run only these experiments (names, comma-separated), sharing their runs as the full run would", CustomParser = r => r.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries)).ToArray() };
        var command = new Command("reproduce", "Run every experiment and write one report.") { PresetOption, DatasetOption, DataDir, Out, Threads, Seed, Seeds, MoreSeeds, only, RunsCommand.Db, DescribeOnly, Markdown };
        foreach (var option in ScaleOut) command.Options.Add(option);
        command.SetAction(p => RunAll(p, RunKind.Reproduce, p.GetValue(only) is { Length: > 0 } names
            ? names.Select(n => Experiments.Experiment.Find(n) ?? throw new ArgumentException($"--only: unknown experiment '{n}'; experiments: {string.Join(", ", Experiments.Experiment.All.Select(e => e.Name))}")).ToList()
            : Experiments.Experiment.All));
        return command;
    }

    static Preset ParsePreset(string s) => s.ToLowerInvariant() switch
    {
        "tiny" => Preset.Tiny,
        "quick" => Preset.Quick,
        "paper" => Preset.Paper,
        _ => throw new ArgumentException($"--preset '{s}': expected tiny, quick or paper"),
    };

    static int RunAll(ParseResult p, RunKind kind, IReadOnlyList<Experiment> experiments)
    {
        var preset = ParsePreset(p.GetValue(PresetOption)!);
        if (p.GetValue(Threads) < 1) throw new ArgumentException($"--threads {p.GetValue(Threads)}: must be ≥ 1");
        if (p.GetValue(Seeds) is int seeds && seeds < 1) throw new ArgumentException($"--seeds {seeds}: must be ≥ 1 (2 or more for a noise estimate)");
        if (p.GetValue(MoreSeeds) is int more && more < 0) throw new ArgumentException($"--more-seeds {more}: must be ≥ 0");
        string outDir = p.GetValue(Out)!;
        string? dataset = p.GetValue(DatasetOption);
        if (dataset is not null && dataset is not ("fashion-mnist" or "cifar10" or "gaussian-mixture" or "gaussian-images"))
            throw new ArgumentException($"--dataset '{dataset}': expected fashion-mnist, cifar10, gaussian-mixture or gaussian-images");
        if (p.GetValue(Markdown) && !p.GetValue(DescribeOnly)) throw new ArgumentException("--markdown: goes with --describe (a run's verdicts as Markdown: bnlab report ID --markdown)");
        if (p.GetValue(DescribeOnly))
        {
            string presetName = preset.ToString().ToLowerInvariant();
            foreach (var e in experiments)
            {
                var (described, deviations) = e.Describe(preset, dataset);
                Console.WriteLine(p.GetValue(Markdown)
                    ? $"## `{e.Name}`: {e.Figure}\n\n**Claim.** {e.Claim}\n\n**Source.** {e.Source}\n\n**Settings ({presetName}).** {described}\n\n**Where it differs from the paper.** {deviations}\n"
                    : $"{e.Name}: {e.Figure}\n  claim: {e.Claim}\n  settings ({presetName}): {described}\n  differs from the paper: {deviations}\n");
            }
            if (!p.GetValue(Markdown)) Console.WriteLine(Summary(Plan.Make(Settings(p, kind, preset, experiments), Plan.FileIn(Path.GetFullPath(p.GetValue(Out)!)))));
            return ExitCodes.Ok;
        }
        string executor = p.GetValue(Executor)!;
        if (executor is not ("local" or "slurm")) throw new ArgumentException($"--executor '{executor}': expected local or slurm");
        int workers = p.GetValue(Workers) ?? p.GetValue(Threads);
        if (workers < 1) throw new ArgumentException($"--workers {workers}: must be ≥ 1");
        if (p.GetValue(CpusPerTask) < 1) throw new ArgumentException($"--cpus-per-task {p.GetValue(CpusPerTask)}: must be ≥ 1");
        if (p.GetValue(ArrayLimit) is int limit && limit < 1) throw new ArgumentException($"--array-limit {limit}: must be ≥ 1");
        if (!(p.GetValue(CheckpointMinutes) is >= 0 and < 1e6)) throw new ArgumentException($"--checkpoint-minutes {p.GetValue(CheckpointMinutes)}: must be ≥ 0 (0: after every step)");
        var settings = Settings(p, kind, preset, experiments);
        Directory.CreateDirectory(settings.OutputDirectory);
        string planFile = Plan.FileIn(settings.OutputDirectory);
        Console.Error.WriteLine("planning: finding each experiment's runs …");
        var plan = Plan.Make(settings, planFile);
        plan.Save(planFile);
        Console.Error.WriteLine(Summary(plan));
        if (p.GetValue(PlanOnly))
        {
            Console.WriteLine($"plan: {planFile}");
            return ExitCodes.Ok;
        }
        var progress = new LineProgress();
        using var signals = StopSignals.SaveProgress();
        IReadOnlyList<string> failed;
        if (executor == "local")
            failed = new LocalExecutor(workers, p.GetValue(Threads)).Run(plan, new ConsoleProgress(), progress);
        else
        {
            var slurm = new SlurmExecutor(new SlurmOptions(p.GetValue(Partition), p.GetValue(TimeLimit), p.GetValue(CpusPerTask), p.GetValue(Memory),
                p.GetValue(ArrayLimit), p.GetValue(SbatchArgs) ?? []));
            var jobs = slurm.Submit(plan, progress);
            Console.WriteLine($"slurm jobs: {string.Join(' ', jobs)}");
            if (p.GetValue(NoWait))
            {
                Console.WriteLine($"plan: {planFile}; run the same command again to submit what has not finished");
                return ExitCodes.Ok;
            }
            slurm.Follow(plan, jobs, progress, TimeSpan.FromSeconds(5));
            failed = [.. plan.Tasks.Where(t => !TaskRunner.IsDone(plan, t) && TaskRunner.IsWanted(plan, t)).Select(t => t.Id)];
        }
        if (TaskRunner.ReportedRun(plan) is not long id || !File.Exists(Path.Combine(settings.OutputDirectory, "report.html")))
        {
            Console.Error.WriteLine($"bnlab: the report task did not finish; see {Plan.TasksDirectory(settings.OutputDirectory)}");
            return ExitCodes.TasksFailed;
        }
        using var store = RunStore.Open(settings.Database, create: false);
        var table = new Table().Border(TableBorder.Rounded).AddColumns("experiment", "verdict", "sub-claims (✓ agrees, ✗ does not, ? inconclusive) and the numbers behind them");
        foreach (var r in store.Results(id))
            table.AddRow(Markup.Escape(r.Name), RunsCommand.VerdictMarkup(r.Verdict.Kind), Markup.Escape(r.Verdict.Parts.Count == 0 ? r.Verdict.Reason
                : string.Join("\n", r.Verdict.Parts.Select(part => $"{ExperimentReport.Mark(part.Kind)} {(part.Precondition ? "(precondition) " : "")}{part.Claim}: {part.Result}"))));
        AnsiConsole.Write(table);
        Console.WriteLine($"results in {settings.OutputDirectory}");
        Console.WriteLine($"report: {Path.Combine(settings.OutputDirectory, "report.html")}");
        Console.WriteLine($"recorded as run {id} in {store.Path}");
        if (failed.Count == 0) return ExitCodes.Ok;
        Console.Error.WriteLine($"bnlab: {failed.Count} task{(failed.Count == 1 ? "" : "s")} did not finish ({string.Join(", ", failed)}); the report names them. Run the same command again to retry them.");
        return ExitCodes.TasksFailed;
    }

    static PlanSettings Settings(ParseResult p, RunKind kind, Preset preset, IReadOnlyList<Experiment> experiments) =>
        new(preset.ToString().ToLowerInvariant(), p.GetValue(DatasetOption), p.GetValue(DataDir) is { } data ? Path.GetFullPath(data) : null, p.GetValue(Seed),
            p.GetValue(Seeds), p.GetValue(MoreSeeds), Path.GetFullPath(p.GetValue(Out)!), Path.GetFullPath(p.GetValue(RunsCommand.Db)!), RunsCommand.CommandLine(),
            [.. experiments.Select(e => e.Name)], kind, p.GetValue(CheckpointMinutes));

    /// <summary>The plan in a few lines: its tasks by kind and the estimated core-hours of its training.</summary>
    internal static string Summary(Plan plan)
    {
        int train = plan.Tasks.Count(t => t.Kind == TaskKind.Train && t.Condition is null), experiments = plan.Tasks.Count(t => t.Kind == TaskKind.Experiment);
        int added = plan.Tasks.Count(t => t.Kind == TaskKind.Train && t.Condition is not null);
        int done = plan.Tasks.Count(t => t.Kind != TaskKind.Report && TaskRunner.IsDone(plan, t));
        string more = added == 0 ? "" : $", {added} more for the added seeds where a first judgement is inconclusive and {experiments} judgement{(experiments == 1 ? "" : "s")} over them";
        string moreHours = added == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $", and up to {plan.ConditionalCoreHours:G3} more for the added seeds");
        return string.Create(CultureInfo.InvariantCulture,
            $"plan: {plan.Tasks.Count} tasks ({train} training runs, {experiments} experiment{(experiments == 1 ? "" : "s")}{more}, the report), {done} done already; " +
            $"training ≈ {plan.CoreHours:G3} core-hours at {Plan.FlopsPerCoreSecond / 1e9:G3} GFLOP/s per core{moreHours}");
    }

    // Task lines, and what the running tasks are doing: rewritten in place on a terminal, every 15 s into a log.
    sealed class LineProgress : IPlanProgress
    {
        readonly bool live = !Console.IsErrorRedirected;
        readonly System.Diagnostics.Stopwatch sinceStatus = System.Diagnostics.Stopwatch.StartNew();
        bool lineOpen;

        public void Report(string line)
        {
            lock (this)
            {
                if (lineOpen) Console.Error.Write("\r" + new string(' ', Width) + "\r");
                lineOpen = false;
                Console.Error.WriteLine(line);
            }
        }

        public void Status(string line)
        {
            lock (this)
            {
                if (sinceStatus.Elapsed < TimeSpan.FromSeconds(live ? 0.25 : 15)) return;
                sinceStatus.Restart();
                if (!live) { Console.Error.WriteLine(line); return; }
                Console.Error.Write("\r" + (line.Length > Width ? line[..Width] : line.PadRight(Width)));
                lineOpen = true;
            }
        }

        static int Width => Console.BufferWidth > 0 ? Console.BufferWidth - 1 : 160;
    }

    internal sealed class ConsoleProgress : IExperimentProgress
    {
        readonly bool live = !Console.IsErrorRedirected;
        readonly Dictionary<string, Running> running = [];
        readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();
        double lastPrint = double.NegativeInfinity;
        bool lineOpen;

        sealed class Running(int total)
        {
            public int Total { get; } = total;
            public System.Diagnostics.Stopwatch Clock { get; } = System.Diagnostics.Stopwatch.StartNew();
            public StepMetrics? Last { get; set; }
            // The run's first step here: a resumed run starts past 0, and its rate counts only the steps done here.
            public int? First { get; set; }
        }

        public void RunStarted(string experiment, string run, int steps) => running[run] = new Running(steps);

        public void Step(string experiment, string run, StepMetrics m)
        {
            if (!running.TryGetValue(run, out var r)) return;
            r.Last = m;
            r.First ??= m.Step;
            double now = clock.Elapsed.TotalSeconds;
            if (now - lastPrint < (live ? 0.25 : 15)) return;
            lastPrint = now;
            string line = $"{experiment} | " + string.Join("  ·  ", running.Where(p => p.Value.Last is not null).Select(p => Describe(p.Key, p.Value)));
            if (live)
            {
                int width = Console.BufferWidth > 0 ? Console.BufferWidth - 1 : 160;
                Console.Error.Write("\r" + (line.Length > width ? line[..width] : line.PadRight(width)));
                lineOpen = true;
            }
            else Console.Error.WriteLine(line);
        }

        static string Describe(string run, Running r)
        {
            var m = r.Last!;
            double rate = (m.Step + 1 - r.First!.Value) / Math.Max(r.Clock.Elapsed.TotalSeconds, 1e-9);
            var eta = TimeSpan.FromSeconds(Math.Round((r.Total - m.Step - 1) / Math.Max(rate, 1e-9)));
            return string.Create(CultureInfo.InvariantCulture, $"{run}: step {m.Step + 1}/{r.Total} loss {m.Loss:G4} {rate:F1}/s ETA {eta:m\\:ss}");
        }

        public void RunFinished(string experiment, string run, TrainingOutcome outcome)
        {
            if (!running.Remove(run, out var r)) return;
            EndLine();
            string how = outcome.Diverged ? $"diverged at step {outcome.DivergedAtStep} ({outcome.DivergenceReason})"
                : string.Create(CultureInfo.InvariantCulture, $"{outcome.StepsDone} steps in {r.Clock.Elapsed.TotalSeconds:F0} s{(outcome.FinalEvaluation is { } e ? $", test accuracy {e.Accuracy:P1}" : "")}");
            Console.Error.WriteLine($"{experiment} | {run}: {how}");
        }

        void EndLine()
        {
            if (lineOpen) Console.Error.Write("\r" + new string(' ', Console.BufferWidth > 0 ? Console.BufferWidth - 1 : 160) + "\r");
            lineOpen = false;
        }

        public void Message(string experiment, string text)
        {
            EndLine();
            Console.Error.WriteLine($"{experiment} | {text}");
        }
    }
}
