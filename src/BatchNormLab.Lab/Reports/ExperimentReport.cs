using BatchNormLab.Experiments;
using ResultSeries = BatchNormLab.Experiments.Series;
using VerdictKind = BatchNormLab.Experiments.VerdictKind;

namespace BatchNormLab.Reports;

/// <summary>One run of experiments as the report shows it: how it was run and what each experiment produced.</summary>
public sealed record ReportRun(string Label, string Preset, ulong Seed, int Threads, DateTimeOffset StartedAt, double? Seconds, string Status,
    IReadOnlyList<ExperimentResult> Results);

/// <summary>
/// The report of experiment runs, built only from <see cref="ExperimentResult"/> (figures, tables, numbers,
/// verdict), so a new experiment needs nothing here. One run: its metadata, the verdicts at a glance, then a
/// section per experiment. Several runs: a comparison of verdicts and numbers first, then each run's sections.
/// </summary>
public static class ExperimentReport
{
    /// <summary>The report's title; a comparison appends the runs' labels.</summary>
    public const string Title = "BatchNormLab: reproducing Santurkar et al. 2018";

    /// <summary>The report of one run: its metadata, the verdicts at a glance, then a section per experiment.</summary>
    public static HtmlReport Build(ReportRun run)
    {
        var report = new HtmlReport(Title) { Subtitle = Describe(run) };
        AddSections(report, run, "");
        return report;
    }

    /// <summary>The report of several runs: verdicts and numbers compared side by side, then each run's sections; one run gives <see cref="Build"/>'s report.</summary>
    public static HtmlReport Compare(IReadOnlyList<ReportRun> runs)
    {
        if (runs.Count == 1) return Build(runs[0]);
        var report = new HtmlReport($"{Title}: {string.Join(", ", runs.Select(r => r.Label))} compared")
        {
            Subtitle = $"{runs.Count} runs side by side",
        };
        var comparison = report.Section("Runs compared")
            .Table(["run", "preset", "seed", "threads", "started", "time", "status"],
                runs.Select(r => (IReadOnlyList<object?>)[r.Label, r.Preset, r.Seed, r.Threads, Date(r.StartedAt), Duration(r.Seconds), r.Status]), "The runs");
        foreach (string name in runs.SelectMany(r => r.Results.Select(e => e.Name)).Distinct())
        {
            var results = runs.Select(r => r.Results.FirstOrDefault(e => e.Name == name)).ToList();
            List<IReadOnlyList<object?>> rows = [["verdict", .. results.Select(e => e is null ? "not run" : VerdictName(e.Verdict.Kind))]];
            foreach (var number in results.SelectMany(e => e?.Numbers.Keys ?? []).Distinct())
                rows.Add([number.ToString(), .. results.Select(e => e is not null && e.Numbers.TryGetValue(number, out double v) ? (object)v : null)]);
            comparison.Table(["", .. runs.Select(r => r.Label)], rows, $"{name}: verdict and numbers per run");
        }
        foreach (var run in runs) AddSections(report, run, $"{run.Label} · ");
        return report;
    }

    static void AddSections(HtmlReport report, ReportRun run, string prefix)
    {
        foreach (var result in run.Results)
        {
            var section = report.Section($"{prefix}{result.Name}: {result.Figure}")
                .Paragraph($"Reproduces {result.Figure}.")
                .Claim(result.Claim, result.Verdict.Kind, result.Verdict.Reason,
                    result.Numbers.Select(n => (n.Key.ToString(), (object)n.Value)).ToArray())
;
            if (result.Verdict.Kind == VerdictKind.DoesNotAgree)
                section.Paragraph("A disagreement here is a measurement, not a failure of the code: each rule below was fixed before the run, and the sub-claims, settings and deviations say what was measured and how this setting differs from the paper's.");
            if (result.Source.Length > 0) section.Paragraph($"Source: {result.Source}");
            if (result.Seeds.Count > 0) section.Paragraph($"Seeds: {string.Join(", ", result.Seeds)}; each comparison is judged over them, paired by seed.");
            if (result.Verdict.Parts.Count > 0)
                section.Table(["sub-claim", "values per seed", "result", "rule (fixed before the run)", "verdict"],
                    result.Verdict.Parts.Select(p => (IReadOnlyList<object?>)[(p.Precondition ? "precondition: " : "") + p.Claim,
                        string.Join("; ", p.Values.Select(v => $"{v.Label}: {v.Format()}")), p.Result, p.Rule, Judgement.Name(p.Kind)]),
                    "Sub-claims: the verdict is their conjunction (agrees when every one agrees, does not agree when any does not)");
            section
                .Paragraph($"Settings: {result.Settings}")
                .Paragraph($"Deviations from the paper: {result.Deviations}")
                .Paragraph($"Took {Duration(result.Seconds)} (training runs shared with an earlier experiment of the same report count there, not here).");
            var charts = result.Figures.Select(Draw).ToList();
            if (charts.Count > 0)
            {
                string caption = string.Join(" ", result.Figures.Select((f, i) => charts.Count == 1 ? f.Caption : $"({(char)('a' + i)}) {f.Title}: {f.Caption}"));
                // panels side by side: small multiples under one caption
                section.Figures(charts, caption, columns: 2);
            }
            foreach (var table in result.Tables)
                section.Table(table.Header, table.Rows.Select(r => (IReadOnlyList<object?>)r.ToArray<object?>()), table.Title);
            if (result.Files.Count > 0) section.Paragraph($"Files: {string.Join(", ", result.Files)}");
        }
    }

    /// <summary>The seeds every experiment of the run was judged on first: the fewest any result has (some add seeds where inconclusive).</summary>
    static IReadOnlyList<ulong> FirstSeeds(ReportRun run) => run.Results.Select(r => r.Seeds).Where(s => s.Count > 0).MinBy(s => s.Count) ?? [];

    /// <summary>" (on 5 seeds, 0–4: inconclusive on the first 3)" where the result was judged on more seeds than the run's first ones.</summary>
    static string MoreSeedsNote(ReportRun run, ExperimentResult result) =>
        FirstSeeds(run).Count is var first && result.Seeds.Count > first
            ? $" (on {result.Seeds.Count} seeds, {result.Seeds[0]}–{result.Seeds[^1]}: inconclusive on the first {first})" : "";

    /// <summary>
    /// The verdicts of one run as a Markdown table, one row per experiment (the README's experiments table
    /// is this, pasted): what it reproduces, the claim, and the verdict with each sub-claim's outcome and statistic.
    /// </summary>
    public static string MarkdownTable(ReportRun run)
    {
        static string Cell(string text) => text.Replace("|", "\\|").Replace("\n", " ");
        var lines = new List<string>
        {
            $"| name | reproduces | the claim tested | {run.Preset} preset, seeds {string.Join(", ", FirstSeeds(run))} |",
            "|---|---|---|---|",
        };
        foreach (var r in run.Results)
        {
            string verdict = r.Verdict.Parts.Count == 0 ? $"{VerdictName(r.Verdict.Kind)}: {r.Verdict.Reason}"
                : $"**{VerdictName(r.Verdict.Kind)}**: " + string.Join("; ", r.Verdict.Parts.Select(p => $"{Mark(p.Kind)} {(p.Precondition ? "(precondition) " : "")}{p.Claim} ({p.Result})"));
            lines.Add($"| `{r.Name}` | {Cell(r.Figure)} | {Cell(r.Claim)} | {Cell(verdict + MoreSeedsNote(run, r))} |");
        }
        return string.Join("\n", lines) + "\n";
    }

    /// <summary>
    /// The verdicts of several runs side by side as Markdown (the same claims measured again, e.g. over other seeds):
    /// one row per experiment with each run's verdict and whether they agree, then, for each experiment whose verdicts
    /// differ, the sub-claims whose outcomes differ, with each run's statistic.
    /// </summary>
    public static string MarkdownComparison(IReadOnlyList<ReportRun> runs)
    {
        static string Cell(string text) => text.Replace("|", "\\|").Replace("\n", " ");
        static string Seeds(ReportRun r) => string.Join(", ", FirstSeeds(r));
        var names = runs.SelectMany(r => r.Results.Select(x => x.Name)).Distinct().ToList();
        ExperimentResult? Of(ReportRun run, string name) => run.Results.FirstOrDefault(x => x.Name == name);
        var lines = new List<string>
        {
            $"| experiment | {string.Join(" | ", runs.Select(r => $"{r.Label} ({r.Preset}, seeds {Seeds(r)})"))} | same verdict |",
            $"|---|{string.Concat(runs.Select(_ => "---|"))}---|",
        };
        var differing = new List<string>();
        foreach (string name in names)
        {
            var results = runs.Select(r => Of(r, name)).ToList();
            bool same = results.All(x => x is not null) && results.Select(x => x!.Verdict.Kind).Distinct().Count() == 1;
            if (!same) differing.Add(name);
            lines.Add($"| `{name}` | {string.Join(" | ", runs.Zip(results, (r, x) => x is null ? "–" : VerdictName(x.Verdict.Kind) + MoreSeedsNote(r, x)))} | {(same ? "yes" : "**no**")} |");
        }
        lines.Add("");
        lines.Add($"{names.Count - differing.Count} of {names.Count} experiments have the same verdict in every run.");
        foreach (string name in differing)
        {
            lines.Add("");
            lines.Add($"`{name}`, the sub-claims whose outcomes differ:");
            var results = runs.Select(r => Of(r, name)).ToList();
            var claims = results.Where(x => x is not null).SelectMany(x => x!.Verdict.Parts.Select(p => p.Claim)).Distinct();
            foreach (string claim in claims)
            {
                var parts = results.Select(x => x?.Verdict.Parts.FirstOrDefault(p => p.Claim == claim)).ToList();
                if (parts.All(p => p is not null) && parts.Select(p => p!.Kind).Distinct().Count() == 1) continue;
                lines.Add($"- {Cell(claim)}: " + string.Join("; ", parts.Select((p, i) => $"{runs[i].Label} {(p is null ? "–" : $"{Mark(p.Kind)} {Cell(p.Result)}")}")));
            }
        }
        return string.Join("\n", lines) + "\n";
    }

    /// <summary>One figure as a line chart: bands where a series has Lower/Upper, × at the x where it diverged.</summary>
    internal static Chart Draw(FigureData figure)
    {
        // Drawn two to a row of a ~60rem page: a 500 px natural width keeps the 12 px tick labels near 12 px on screen.
        var chart = new Chart { Title = figure.Title, Legend = figure.Series.Count > 4 ? LegendPosition.Bottom : LegendPosition.Right, Width = 500, Height = 340 };
        chart.X.Label = figure.XLabel;
        chart.Y.Label = figure.YLabel;
        if (figure.LogX) chart.X.Scale = AxisScale.Log10;
        if (figure.LogY) chart.Y.Scale = AxisScale.Log10;
        int measured = 0, marked = 0;
        foreach (var s in figure.Series)
        {
            // theory curves share one colour, so the measurements keep the palette's order; each marked
            // series has its own marker shape, smaller than the one before, so points that coincide nest visibly
            var line = s.Theory
                ? chart.Line(s.Label, s.X, s.Y, TheoryColor, dashed: true)
                : chart.Line(s.Label, s.X, s.Y, Palette.Color(measured++), marker: s.Markers ? MarkerShapes[marked % MarkerShapes.Length] : MarkerShape.None);
            if (s.Theory) line.LineWidth = 1.5;
            if (s.Markers) line.MarkerRadius = Math.Max(2.5, 6 - 1.5 * marked++);
            if (s.Lower is not null && s.Upper is not null) line.WithBand(s.Lower, s.Upper);
            if (s.DivergedAt is double at) chart.Annotate(at, LastBefore(s, at), color: line.Color);
        }
        foreach (var r in figure.References)
            if (r.Horizontal) chart.HorizontalLine(r.Value, r.Label);
            else chart.VerticalLine(r.Value, r.Label);
        return chart;
    }

    /// <summary>Dark grey: theory drawn over coloured measurements stays visible on each of them.</summary>
    const string TheoryColor = "#333333";

    static readonly MarkerShape[] MarkerShapes = [MarkerShape.Circle, MarkerShape.Square, MarkerShape.Triangle, MarkerShape.Diamond];

    /// <summary>The last y at or before x (NaN when none; a NaN or huge loss pins the mark to the top edge).</summary>
    static double LastBefore(ResultSeries s, double x)
    {
        double y = double.NaN;
        for (int i = 0; i < s.X.Length && s.X[i] <= x; i++) y = s.Y[i];
        return y;
    }

    /// <summary>✓, ✗ or ? for agrees, does not agree, inconclusive.</summary>
    public static string Mark(VerdictKind kind) => kind switch { VerdictKind.Agrees => "✓", VerdictKind.DoesNotAgree => "✗", _ => "?" };

    static string VerdictName(VerdictKind kind) => kind switch
    {
        VerdictKind.Agrees => "agrees",
        VerdictKind.DoesNotAgree => "does not agree",
        _ => "inconclusive",
    };

    static string Describe(ReportRun r) =>
        $"{r.Label} · preset {r.Preset} · seed {r.Seed} · {r.Threads} thread{(r.Threads == 1 ? "" : "s")} · started {Date(r.StartedAt)} · total {Duration(r.Seconds)} · {r.Status}";

    static string Date(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);

    /// <summary>A duration as "12.3 s" under a minute, "m:ss" under an hour, "h:mm:ss" beyond; "unknown" for null.</summary>
    public static string Duration(double? seconds) => seconds switch
    {
        null => "unknown",
        < 60 => string.Create(CultureInfo.InvariantCulture, $"{seconds:F1} s"),
        double s => TimeSpan.FromSeconds(Math.Round(s)).ToString(s >= 3600 ? @"h\:mm\:ss" : @"m\:ss", CultureInfo.InvariantCulture),
    };
}
