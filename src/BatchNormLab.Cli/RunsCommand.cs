using System.CommandLine;
using System.Globalization;
using BatchNormLab.Experiments;
using BatchNormLab.Reports;
using BatchNormLab.Store;
using Spectre.Console;

namespace BatchNormLab.Cli;

/// <summary><c>bnlab runs list|show</c> and <c>bnlab report</c>: what the run database holds, and reports rebuilt from it.</summary>
static class RunsCommand
{
    /// <summary>This invocation as typed, for the run database.</summary>
    public static string CommandLine() =>
        string.Join(' ', ["bnlab", .. Environment.GetCommandLineArgs().Skip(1).Select(a => a.Length > 0 && !a.Any(char.IsWhiteSpace) ? a : $"'{a}'")]);

    public static readonly Option<string> Db = new("--db") { Description = "The run database (SQLite)", DefaultValueFactory = _ => RunStore.DefaultPath };

    public static Command Runs() => new("runs", "The runs recorded in the run database.") { List(), Show() };

    static Command List()
    {
        var command = new Command("list", "Every recorded run, newest first: kind, start (UTC), duration, status (a run whose process is gone shows as crashed), verdicts (✓ agree, ✗ does not agree, ? inconclusive).") { Db, JsonOutput.Option };
        command.SetAction(p =>
        {
            using var store = RunStore.Open(p.GetValue(Db)!, create: false);
            if (p.GetValue(JsonOutput.Option))
            {
                JsonOutput.Print(store.Runs().Select(run => new
                {
                    run.Id, Kind = Name(run.Kind), StartedAt = run.StartedAt.UtcDateTime, run.Seconds, Status = Status(run.Status), run.Preset,
                    Verdicts = store.Verdicts(run.Id),
                }).ToList());
                return ExitCodes.Ok;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("id", "kind", "started", "duration", "status", "preset", "verdicts");
            foreach (var run in store.Runs())
            {
                var v = store.Verdicts(run.Id);
                table.AddRow(run.Id.ToString(CultureInfo.InvariantCulture), Name(run.Kind), run.StartedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture), ExperimentReport.Duration(run.Seconds),
                    StatusMarkup(run.Status), Markup.Escape(run.Preset ?? "-"), $"✓{v.Agrees} ✗{v.DoesNotAgree} ?{v.Inconclusive}");
            }
            AnsiConsole.Write(table);
            return ExitCodes.Ok;
        });
        return command;
    }

    static Command Show()
    {
        var id = new Argument<long>("ID") { Description = "A run id (see bnlab runs list)" };
        var command = new Command("show", "One run: its configuration and status, every experiment's verdict and reason, its numbers and files.") { id, Db, JsonOutput.Option };
        command.SetAction(p =>
        {
            using var store = RunStore.Open(p.GetValue(Db)!, create: false);
            var run = store.Run(p.GetValue(id));
            if (p.GetValue(JsonOutput.Option))
            {
                JsonOutput.Print(new
                {
                    run.Id, Kind = Name(run.Kind), Command = run.CommandLine, run.Preset, run.Seed, run.Threads, StartedAt = run.StartedAt.UtcDateTime,
                    FinishedAt = run.FinishedAt?.UtcDateTime, run.Seconds, Output = run.OutputDirectory, run.Pid, run.Machine, Status = Status(run.Status), run.Error,
                    Experiments = store.Results(run.Id).Select(r => new
                    {
                        r.Name, Verdict = Judgement.Name(r.Verdict.Kind), r.Seconds, r.Seeds, r.Verdict.Reason,
                        SubClaims = r.Verdict.Parts.Select(part => new { part.Claim, Verdict = Judgement.Name(part.Kind), part.Precondition, part.Result, part.Mean, part.StandardError }),
                    }),
                    Numbers = store.Numbers(run.Id),
                    Files = store.Artifacts(run.Id).Select(a => a.Path),
                });
                return ExitCodes.Ok;
            }
            var config = new Grid().AddColumn().AddColumn();
            foreach (var (key, value) in new (string, string?)[]
            {
                ("run", run.Id.ToString(CultureInfo.InvariantCulture)), ("kind", Name(run.Kind)), ("command", run.CommandLine),
                ("preset", run.Preset), ("seed", run.Seed?.ToString(CultureInfo.InvariantCulture)), ("threads", run.Threads?.ToString(CultureInfo.InvariantCulture)),
                ("started", Utc(run.StartedAt)), ("finished", run.FinishedAt is { } end ? Utc(end) : null),
                ("duration", ExperimentReport.Duration(run.Seconds)), ("output", run.OutputDirectory), ("process", $"{run.Pid} on {run.Machine}"), ("error", run.Error),
            })
                if (value is not null) config.AddRow(key, Markup.Escape(value));
            config.AddRow("status", StatusMarkup(run.Status));
            AnsiConsole.Write(config);

            // reasons are sentences: whole lines read better than a narrow table column
            Console.WriteLine("experiments:");
            foreach (var r in store.Results(run.Id))
            {
                AnsiConsole.MarkupLine($"  {Markup.Escape(r.Name)}: {VerdictMarkup(r.Verdict.Kind)} ({ExperimentReport.Duration(r.Seconds)})");
                if (r.Verdict.Parts.Count == 0) Console.WriteLine($"    {r.Verdict.Reason}");
                foreach (var part in r.Verdict.Parts)
                    AnsiConsole.MarkupLine($"    {VerdictMarkup(part.Kind)}: {Markup.Escape($"{(part.Precondition ? "(precondition) " : "")}{part.Claim} — {part.Result}")}");
            }

            var numbers = new Table().Border(TableBorder.Rounded).Title("numbers").AddColumns("experiment", "name", "value");
            foreach (var n in store.Numbers(run.Id))
                numbers.AddRow(Markup.Escape(n.Experiment), Markup.Escape(n.Name), n.Value.ToString("G6", CultureInfo.InvariantCulture));
            AnsiConsole.Write(numbers);

            Console.WriteLine("files:");
            foreach (var a in store.Artifacts(run.Id)) Console.WriteLine($"  {a.Path}");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Report()
    {
        var ids = new Argument<long[]>("RUN_ID") { Arity = ArgumentArity.OneOrMore, Description = "One run id, or several to put side by side" };
        var output = new Option<string?>("--out") { Description = "The HTML file to write (default: report-ID[-ID…].html beside the database)" };
        var markdown = new Option<bool>("--markdown") { Description = "Print the verdicts as Markdown instead of writing HTML: one run's as a table (the README's experiments table); several runs' side by side, with the sub-claims where they differ" };
        var command = new Command("report", "Rebuild report.html from the run database; with several runs, one report that compares them.") { ids, output, markdown, Db };
        command.SetAction(p =>
        {
            using var store = RunStore.Open(p.GetValue(Db)!, create: false);
            long[] runIds = p.GetValue(ids)!;
            if (p.GetValue(markdown))
            {
                Console.Write(runIds.Length == 1 ? ExperimentReport.MarkdownTable(store.ForReport(runIds[0]))
                    : ExperimentReport.MarkdownComparison([.. runIds.Select(store.ForReport)]));
                return ExitCodes.Ok;
            }
            var runs = runIds.Select(store.ForReport).ToList();
            string file = p.GetValue(output) ?? Path.Combine(Path.GetDirectoryName(store.Path)!, $"report-{string.Join('-', runIds)}.html");
            ExperimentReport.Compare(runs).Save(file);
            Console.WriteLine($"report: {Path.GetFullPath(file)}");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static string VerdictMarkup(VerdictKind kind) => kind switch
    {
        VerdictKind.Agrees => "[green]agrees[/]",
        VerdictKind.DoesNotAgree => "[red]does not agree[/]",
        _ => "[grey]inconclusive[/]",
    };

    static string StatusMarkup(RunStatus status) => status switch
    {
        RunStatus.Finished => "[green]finished[/]",
        RunStatus.Running => "[yellow]running[/]",
        RunStatus.Crashed => "[red]crashed[/]",
        _ => "[red]failed[/]",
    };

    static string Name(RunKind kind) => kind.ToString().ToLowerInvariant();

    static string Status(RunStatus status) => status.ToString().ToLowerInvariant();

    static string Utc(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);
}
