using System.CommandLine;
using System.Globalization;
using BatchNormLab.Experiments;
using BatchNormLab.IO;
using BatchNormLab.Reports;
using BatchNormLab.Store;
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

    public static Command Experiment()
    {
        var name = new Argument<string>("NAME") { Description = $"One of: {string.Join(", ", Experiments.Experiment.All.Select(e => e.Name))}" };
        var command = new Command("experiment", "Run one experiment of the papers and write its figures' data, tables and verdict.\n" +
            string.Join("\n", Experiments.Experiment.All.Select(e => $"  {e.Name,-15} {e.Figure}: {e.Claim}"))) { name, PresetOption, DatasetOption, DataDir, Out, Threads, Seed, Seeds, MoreSeeds, RunsCommand.Db, DescribeOnly, Markdown };
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
                var (settings, deviations) = e.Describe(preset, dataset);
                Console.WriteLine(p.GetValue(Markdown)
                    ? $"## `{e.Name}`: {e.Figure}\n\n**Claim.** {e.Claim}\n\n**Source.** {e.Source}\n\n**Settings ({presetName}).** {settings}\n\n**Where it differs from the paper.** {deviations}\n"
                    : $"{e.Name}: {e.Figure}\n  claim: {e.Claim}\n  settings ({presetName}): {settings}\n  differs from the paper: {deviations}\n");
            }
            return ExitCodes.Ok;
        }
        var context = new ExperimentContext(outDir, preset, p.GetValue(DataDir), p.GetValue(Threads), p.GetValue(Seed), new ConsoleProgress(), dataset, p.GetValue(Seeds), p.GetValue(MoreSeeds));
        using var store = RunStore.Open(p.GetValue(RunsCommand.Db)!, create: true);
        long id = store.StartRun(kind, RunsCommand.CommandLine(), preset.ToString().ToLowerInvariant(), context.Seed, context.Threads, outDir);
        string report = Path.Combine(outDir, "report.html");
        store.Complete(id, () =>
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            foreach (var (experiment, index) in experiments.Select((e, i) => (e, i)))
            {
                Console.Error.WriteLine($"== [{index + 1}/{experiments.Count}] {experiment.Name}: {experiment.Figure} (elapsed {clock.Elapsed:h\\:mm\\:ss})");
                var result = experiment.Run(context);
                string dir = context.DirectoryOf(experiment.Name), json = Path.Combine(dir, "result.json");
                AtomicFile.WriteAllText(json, ResultJson.Serialize(result));
                // recorded as soon as it finishes: a later crash loses nothing of it
                store.RecordExperiment(id, result, dir);
                store.RecordArtifact(id, result.Name, json);
            }
        });
        ExperimentReport.Build(store.ForReport(id)).Save(report);
        store.RecordArtifact(id, null, report);
        var table = new Table().Border(TableBorder.Rounded).AddColumns("experiment", "verdict", "sub-claims (✓ agrees, ✗ does not, ? inconclusive) and the numbers behind them");
        foreach (var r in store.Results(id))
            table.AddRow(Markup.Escape(r.Name), RunsCommand.VerdictMarkup(r.Verdict.Kind), Markup.Escape(r.Verdict.Parts.Count == 0 ? r.Verdict.Reason
                : string.Join("\n", r.Verdict.Parts.Select(part => $"{ExperimentReport.Mark(part.Kind)} {(part.Precondition ? "(precondition) " : "")}{part.Claim}: {part.Result}"))));
        AnsiConsole.Write(table);
        Console.WriteLine($"results in {Path.GetFullPath(outDir)}");
        Console.WriteLine($"report: {Path.GetFullPath(report)}");
        Console.WriteLine($"recorded as run {id} in {store.Path}");
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Progress on stderr: one line for the runs in progress (several train side by side), each with its step, loss and
    /// ETA, rewritten in place on a terminal or printed every 15 s when redirected; a line as each run ends.
    /// The context passes calls one at a time.
    /// </summary>
    sealed class ConsoleProgress : IExperimentProgress
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
        }

        public void RunStarted(string experiment, string run, int steps) => running[run] = new Running(steps);

        public void Step(string experiment, string run, StepMetrics m)
        {
            if (!running.TryGetValue(run, out var r)) return;
            r.Last = m;
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
            double rate = (m.Step + 1) / Math.Max(r.Clock.Elapsed.TotalSeconds, 1e-9);
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
