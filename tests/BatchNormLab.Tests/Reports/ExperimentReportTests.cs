using System.Xml.Linq;
using BatchNormLab.Experiments;
using BatchNormLab.Reports;
using Series = BatchNormLab.Experiments.Series;

namespace BatchNormLab.Tests.Reports;

/// <summary>The report of experiment results, from synthetic results: one section each, one chart per figure, escaping, awkward data.</summary>
public sealed class ExperimentReportTests
{
    internal static ExperimentResult Result(string name, VerdictKind verdict, params FigureData[] figures) => new(
        name, $"Fig. {name}", $"{name} claims <b>something</b> & more", "tiny settings", "no real data",
        new Verdict(verdict, $"because of {name}"), figures,
        [new TableData("Runs <raw>", ["run", "loss"], [["BN & co", "0.5"], ["standard", "NaN"]])],
        new Dictionary<ResultKey, double> { [new("BN", "accuracy")] = 0.9, [new("standard", "diverged loss")] = double.NaN }, ["a.csv"], 1.5);

    static readonly double[] Steps = [0, 1, 2, 3];

    static ExperimentResult[] Synthetic() =>
    [
        Result("lr-sweep", VerdictKind.Agrees,
            new FigureData("Loss", "Loss per step.", "step", "loss",
                [new Series("BN", Steps, [2, 1, 0.5, 0.25]), new Series("standard <script>", Steps, [2, 50, double.NaN, double.NaN]) { DivergedAt = 1 }], LogY: true),
            new FigureData("Accuracy", "Accuracy per step.", "step", "accuracy", [new Series("BN", Steps, [0.1, 0.5, 0.8, 0.9]) { Lower = [0, 0.4, 0.7, 0.85], Upper = [0.2, 0.6, 0.9, 0.95] }])),
        Result("ics", VerdictKind.DoesNotAgree,
            new FigureData("Empty", "Nothing measured.", "step", "ics", [new Series("none", [], [])], LogX: true),
            new FigureData("All NaN", "Everything diverged.", "step", "loss", [new Series("gone", Steps, [double.NaN, double.NaN, double.NaN, double.NaN]) { DivergedAt = 0 }], LogY: true)),
        Result("landscape", VerdictKind.Inconclusive),
    ];

    static ReportRun Run(string label, params ExperimentResult[] results) =>
        new(label, "tiny", 3, 2, new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero), 12.5, "finished", results);

    static ExperimentResult Judged()
    {
        var rule = Rule.Accuracy(Claimed.Greater, 1);
        var verdict = Verdict.Of([rule.Judge("BN | beats standard", new SeedValues("BN", [0.9, 0.91, 0.92]), new SeedValues("standard", [0.8, 0.8, 0.81]))]);
        return Result("judged", verdict.Kind) with { Verdict = verdict, Source = "Paper § 2 <i>", Seeds = [4, 5, 6] };
    }

    [Fact]
    public void SubClaimsAreShownWithTheirSeedValuesRuleAndSource()
    {
        var doc = XDocument.Parse(ExperimentReport.Build(Run("run 1", Judged())).ToHtml());
        string section = doc.Descendants("section").Single(s => (string?)s.Attribute("class") != "summary").Value;
        Assert.Contains("Source: Paper § 2 <i>", section); // escaped text, not markup
        Assert.Contains("Seeds: 4, 5, 6", section);
        var table = doc.Descendants("table").First(t => t.Descendants("th").Any(h => h.Value == "rule (fixed before the run)"));
        var cells = table.Descendants("td").Select(c => c.Value).ToList();
        Assert.Contains("BN | beats standard", cells);
        Assert.Contains("BN: 0.9, 0.91, 0.92; standard: 0.8, 0.8, 0.81", cells);
        Assert.Contains("agrees", cells);
        Assert.Contains(cells, c => c.Contains("agrees when mean d > 1 points"));
    }

    [Fact]
    public void MarkdownTableHasARowPerExperimentWithEachSubClaim()
    {
        string table = ExperimentReport.MarkdownTable(Run("run 1", Judged(), Result("old", VerdictKind.Inconclusive)));
        var lines = table.TrimEnd('\n').Split('\n');
        Assert.Equal(4, lines.Length);
        Assert.Equal("| name | reproduces | the claim tested | tiny preset, seeds 4, 5, 6 |", lines[0]);
        Assert.StartsWith("| `judged` | Fig. judged |", lines[2]);
        Assert.Contains("**agrees**: ✓ BN \\| beats standard (mean d = +10.67", lines[2]); // a | in a cell is escaped
        Assert.EndsWith("| inconclusive: because of old |", lines[3]);
    }

    [Fact]
    public void MarkdownComparisonPutsRunsSideBySideAndNamesTheSubClaimsThatDiffer()
    {
        var rule = Rule.Accuracy(Claimed.Greater, 1);
        ExperimentResult With(double[] bn, ulong[] seeds)
        {
            var verdict = Verdict.Of([rule.Judge("BN beats standard", new SeedValues("BN", bn), new SeedValues("standard", [0.8, 0.8, 0.81])),
                rule.Judge("BN trains", new SeedValues("BN", bn), new SeedValues("chance", [0.1, 0.1, 0.1]))]);
            return Result("judged", verdict.Kind) with { Verdict = verdict, Seeds = seeds };
        }
        var first = Run("run 1", With([0.9, 0.91, 0.92], [0, 1, 2]), Result("steady", VerdictKind.Agrees));
        var second = Run("run 2", With([0.8, 0.81, 0.79], [10, 11, 12]), Result("steady", VerdictKind.Agrees));
        var lines = ExperimentReport.MarkdownComparison([first, second]).TrimEnd('\n').Split('\n');
        Assert.Equal("| experiment | run 1 (tiny, seeds 0, 1, 2) | run 2 (tiny, seeds 10, 11, 12) | same verdict |", lines[0]);
        Assert.Equal("| `judged` | agrees | inconclusive | **no** |", lines[2]);
        Assert.Equal("| `steady` | agrees | agrees | yes |", lines[3]);
        Assert.Contains("1 of 2 experiments have the same verdict in every run.", lines);
        var differing = lines.Where(l => l.StartsWith("- ")).ToList();
        Assert.Single(differing); // "BN trains" agrees in both runs, so only the comparison is listed
        Assert.StartsWith("- BN beats standard: run 1 ✓ mean d = +10.67", differing[0]);
        Assert.Contains("; run 2 ? mean d", differing[0]);
    }

    [Fact]
    public void ResultsJudgedOnMoreSeedsSaySoAndTheHeaderKeepsTheFirstSeeds()
    {
        var first = Run("run 1", Judged() with { Name = "more", Seeds = [4, 5, 6, 7, 8] }, Judged());
        var second = Run("run 2", Judged() with { Name = "more", Seeds = [14, 15, 16] }, Judged() with { Seeds = [14, 15, 16] });
        var table = ExperimentReport.MarkdownTable(first).Split('\n');
        Assert.Equal("| name | reproduces | the claim tested | tiny preset, seeds 4, 5, 6 |", table[0]);
        Assert.EndsWith(" (on 5 seeds, 4–8: inconclusive on the first 3) |", table[2]);
        Assert.DoesNotContain("inconclusive on the first", table[3]);
        var comparison = ExperimentReport.MarkdownComparison([first, second]).Split('\n');
        Assert.Equal("| `more` | agrees (on 5 seeds, 4–8: inconclusive on the first 3) | agrees | yes |", comparison[2]);
    }

    [Fact]
    public void EveryExperimentGetsASectionWithOneChartPerFigureAndItsVerdict()
    {
        var results = Synthetic();
        string html = ExperimentReport.Build(Run("run 7", results)).ToHtml();
        var doc = XDocument.Parse(html);
        var sections = doc.Descendants("section").Where(s => (string?)s.Attribute("class") != "summary").ToList();
        Assert.Equal(3, sections.Count);
        foreach (var (section, result) in sections.Zip(results))
        {
            Assert.Contains(result.Name, section.Element("h2")!.Value);
            // one chart per figure (an inner <svg> clips each plot area)
            Assert.Equal(result.Figures.Count, section.Descendants(SvgProbe.Ns + "svg").Count(e => e.Parent?.Name != SvgProbe.Ns + "svg"));
            Assert.Contains($"because of {result.Name}", section.Value);
            Assert.Equal(result.Tables.Count, section.Descendants("table").Count(t => (string?)t.Attribute("class") == "data"));
        }
        Assert.Contains("Agrees", html);
        Assert.Contains("Does not agree", html);
        Assert.Contains("Inconclusive", html);
        // the summary lists every experiment's claim with its verdict
        Assert.Equal(3, doc.Descendants("table").Single(t => (string?)t.Attribute("class") == "claims").Descendants("tr").Count(r => r.Parent?.Name == "tbody"));
        // metadata under the title
        Assert.Contains("preset tiny · seed 3 · 2 threads · started 2025-01-02 03:04 UTC · total 12.5 s", html);
    }

    [Fact]
    public void LabelsAreEscapedAndNothingIsFetched()
    {
        string html = ExperimentReport.Build(Run("run <1>", Synthetic())).ToHtml();
        Assert.DoesNotContain("<script>", html);
        Assert.DoesNotContain("<b>", html);
        Assert.DoesNotContain("<raw>", html);
        Assert.Contains("&lt;b&gt;something&lt;/b&gt; &amp; more", html);
        Assert.Contains("standard &lt;script&gt;", html);
        // the SVG namespace is a name, not a fetch
        Assert.DoesNotContain("http", html.Replace("xmlns=\"http://www.w3.org/2000/svg\"", ""));
    }

    [Fact]
    public void DivergedSeriesAreMarkedAndBandsDrawn()
    {
        var loss = ExperimentReport.Draw(Synthetic()[0].Figures[0]);
        var doc = SvgProbe.Parse(loss);
        Assert.Single(SvgProbe.ByClass(doc, "annotation"));
        Assert.Equal(["BN", "standard <script>"], SvgProbe.ByClass(doc, "series").Select(g => (string)g.Attribute("data-label")!));
        Assert.Single(SvgProbe.ByClass(SvgProbe.Parse(ExperimentReport.Draw(Synthetic()[0].Figures[1])), "band"));
        Assert.Equal(AxisScale.Log10, loss.Y.Scale);
        Assert.Equal("step", loss.X.Label);
    }

    [Fact]
    public void SeveralRunsAreComparedSideBySide()
    {
        var first = Synthetic();
        ExperimentResult[] second = [first[0] with { Verdict = new Verdict(VerdictKind.Inconclusive, "unsure"), Numbers = new Dictionary<ResultKey, double> { [new("BN", "accuracy")] = 0.7 } }];
        var doc = XDocument.Parse(ExperimentReport.Compare([Run("run 1", first), Run("run 2", second)]).ToHtml());
        var comparison = doc.Descendants("section").Single(s => (string?)s.Attribute("id") == "runs-compared");
        var lrSweep = comparison.Descendants("table").Single(t => t.Element("caption")!.Value.Contains("lr-sweep"));
        var rows = lrSweep.Descendants("tr").Select(r => r.Elements().Select(c => c.Value).ToList()).ToList();
        Assert.Equal(["", "run 1", "run 2"], rows[0]);
        Assert.Equal(["verdict", "agrees", "inconclusive"], rows[1]);
        Assert.Equal(["BN: accuracy", "0.9", "0.7"], rows[2]);
        var ics = comparison.Descendants("table").Single(t => t.Element("caption")!.Value.Contains("ics"));
        Assert.Equal(["verdict", "does not agree", "not run"], ics.Descendants("tr").Skip(1).First().Elements().Select(c => c.Value));
        // then each run's sections, labelled with the run
        var headings = doc.Descendants("section").Select(s => s.Element("h2")!.Value).ToList();
        Assert.Equal(3, headings.Count(h => h.StartsWith("run 1 · ")));
        Assert.Equal(1, headings.Count(h => h.StartsWith("run 2 · ")));
    }

    [Fact]
    public void TheoryCurvesAreDashedGreyMarkersNestAndReferenceLinesAreLabelled()
    {
        var figure = new FigureData("Steps", "Steps against η.", "η", "steps",
            [new Series("raw", [1, 2, 3], [30, 20, 10]) { Markers = true }, new Series("centred", [1, 2, 3], [30, 20, 10]) { Markers = true },
             new Series("closed form", [1, 2, 3], [31, 21, 11]) { Theory = true }], LogX: true)
        {
            References = [new ReferenceLine(2.5, "2/λmax"), new ReferenceLine(15, "tolerance", Horizontal: true)],
        };
        var doc = SvgProbe.Parse(ExperimentReport.Draw(figure));
        var lines = SvgProbe.ByClass(doc, "series").ToList();
        Assert.Equal(3, lines.Count);
        var theory = lines.Single(g => (string?)g.Attribute("data-label") == "closed form").Elements().Single();
        Assert.Equal("#333333", (string?)theory.Attribute("stroke"));
        Assert.NotNull(theory.Attribute("stroke-dasharray"));
        // the measurements keep the palette's first colours, in order
        Assert.Equal([Palette.Color(0), Palette.Color(1)], lines.Take(2).Select(g => (string)g.Elements().First().Attribute("stroke")!));
        // each marked series its own shape, the later one smaller
        var markers = SvgProbe.ByClass(doc, "markers").ToList();
        Assert.Equal(2, markers.Count);
        Assert.Equal(SvgProbe.Ns + "circle", markers[0].Elements().First().Name);
        Assert.Equal(SvgProbe.Ns + "rect", markers[1].Elements().First().Name);
        Assert.True(SvgProbe.Num(markers[1].Elements().First(), "width") < 2 * SvgProbe.Num(markers[0].Elements().First(), "r"));
        Assert.Equal(2, SvgProbe.ByClass(doc, "reference").Count());
        Assert.Contains("2/λmax", doc.ToString());
        Assert.Contains("tolerance", doc.ToString());
    }
}
