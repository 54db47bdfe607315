using BatchNormLab.Experiments;
using System.Xml.Linq;
using BatchNormLab.Reports;

namespace BatchNormLab.Tests.Reports;

public sealed class HtmlReportTests
{
    static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    static HtmlReport Sample()
    {
        var chart = new Chart { Title = "loss" };
        chart.Line("BN", [0, 1, 2], [2.3, 0.9, 0.4]);
        var report = new HtmlReport("BN <reproduction> & \"notes\"") { Subtitle = "seed 0" };
        report.Section("Learning-rate sweep")
            .Paragraph("Loss < 1 & rising \"fast\" isn't stable.")
            .Claim("BN allows 10× higher learning rates", VerdictKind.Agrees, "Largest stable rate: 1.0 vs 0.1.", ("max lr, BN", 1.0), ("max lr, no BN", 0.1))
            .Figure(chart, "Loss over training.")
            .Table(["run", "loss", "accuracy", "steps"], [["BN", 0.27806, "90.0%", 469], ["no BN", double.NaN, "84.0%", 12000]], "Final numbers");
        report.Section("Internal covariate shift")
            .Claim("BN reduces internal covariate shift", VerdictKind.DoesNotAgree, "ICS is about the same.")
            .Claim("Gradients are more predictive", VerdictKind.Inconclusive, "")
            .Figures([chart, chart, chart], "Three small multiples.", columns: 2);
        report.Section("Learning-rate sweep");
        return report;
    }

    static XDocument ParseHtml(string html) => XDocument.Parse(html);

    static IEnumerable<XElement> ByClass(XContainer root, string name) =>
        root.Descendants().Where(e => ((string?)e.Attribute("class"))?.Split(' ').Contains(name) == true);

    [Fact]
    public void OutputIsWellFormedAndTheContentsLinkEverySection()
    {
        var report = Sample();
        var doc = ParseHtml(report.ToHtml());
        var sections = doc.Descendants("section").Where(s => (string?)s.Attribute("class") != "summary").ToList();
        Assert.Equal(["learning-rate-sweep", "internal-covariate-shift", "learning-rate-sweep-2"], sections.Select(s => (string)s.Attribute("id")!));
        Assert.Equal(report.Sections.Select(s => s.Id), sections.Select(s => (string)s.Attribute("id")!));
        var toc = doc.Descendants("nav").Single().Descendants("a").ToList();
        Assert.Equal(sections.Select(s => "#" + (string)s.Attribute("id")!), toc.Select(a => (string)a.Attribute("href")!));
        Assert.Equal(["Learning-rate sweep", "Internal covariate shift", "Learning-rate sweep"], toc.Select(a => a.Value));
    }

    [Fact]
    public void TextIsEscaped()
    {
        string html = Sample().ToHtml();
        var doc = ParseHtml(html);
        Assert.Contains("<h1>BN &lt;reproduction&gt; &amp; &quot;notes&quot;</h1>", html);
        Assert.Equal("BN <reproduction> & \"notes\"", doc.Descendants("title").First().Value);
        Assert.Equal("Loss < 1 & rising \"fast\" isn't stable.", doc.Descendants("p").Single(p => p.Value.StartsWith("Loss")).Value);
    }

    [Fact]
    public void ClaimsCarryTheirVerdictClassesNumbersAndASummary()
    {
        var doc = ParseHtml(Sample().ToHtml());
        var claims = ByClass(doc, "claim").ToList();
        Assert.Equal(["claim agrees", "claim disagrees", "claim inconclusive"], claims.Select(c => (string)c.Attribute("class")!));
        Assert.Equal(["✓ Agrees", "✗ Does not agree", "? Inconclusive"], claims.Select(c => ByClass(c, "verdict").Single().Value));
        var numbers = ByClass(claims[0], "numbers").Single().Descendants("tr").Select(r => r.Elements("td").Select(td => td.Value).ToArray()).ToList();
        Assert.Equal([["max lr, BN", "1"], ["max lr, no BN", "0.1"]], numbers);
        Assert.Empty(ByClass(claims[2], "evidence"));

        var summary = doc.Descendants("section").Single(s => (string?)s.Attribute("id") == "claims");
        var rows = summary.Descendants("tbody").Single().Elements("tr").ToList();
        Assert.Equal(claims.Select(c => "#" + (string)c.Attribute("id")!), rows.Select(r => (string)r.Descendants("a").First().Attribute("href")!));
        Assert.Equal(["chip agrees", "chip disagrees", "chip inconclusive"], rows.Select(r => (string)r.Descendants("span").Single().Attribute("class")!));
        Assert.Equal("#internal-covariate-shift", (string)rows[1].Descendants("a").Last().Attribute("href")!);
    }

    [Fact]
    public void TableNumbersAreFormattedAndRightAligned()
    {
        var doc = ParseHtml(Sample().ToHtml());
        var table = ByClass(doc, "data").Single();
        Assert.Equal("Table 1. Final numbers", table.Element("caption")!.Value);
        Assert.Equal([null, "num", "num", "num"], table.Descendants("th").Select(th => (string?)th.Attribute("class")));
        var cells = table.Descendants("tbody").Single().Elements("tr").Select(r => r.Elements("td").Select(td => (td.Value, (string?)td.Attribute("class"))).ToArray()).ToList();
        Assert.Equal([("BN", null), ("0.2781", "num"), ("90.0%", "num"), ("469", "num")], cells[0]);
        Assert.Equal([("no BN", null), ("NaN", "num"), ("84.0%", "num"), ("12,000", "num")], cells[1]);
    }

    [Fact]
    public void FiguresAreNumberedInlineSvgAndSmallMultiplesAGrid()
    {
        var doc = ParseHtml(Sample().ToHtml());
        var figures = doc.Descendants("figure").ToList();
        Assert.Equal(["figure-1", "figure-2"], figures.Select(f => (string)f.Attribute("id")!));
        Assert.Single(figures[0].Elements(Svg + "svg"));
        Assert.Equal("Figure 1. Loss over training.", figures[0].Element("figcaption")!.Value);
        var grid = figures[1].Element("div")!;
        Assert.Equal("grid", (string?)grid.Attribute("class"));
        Assert.Equal(3, grid.Elements(Svg + "svg").Count());
        Assert.Equal("grid-template-columns:repeat(2,minmax(0,1fr))", (string?)grid.Attribute("style"));
    }

    [Fact]
    public void ReportIsSelfContained()
    {
        string html = Sample().ToHtml();
        var doc = ParseHtml(html);
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.DoesNotContain(doc.Descendants(), e => e.Name.LocalName is "script" or "link" or "img" or "iframe");
        // the only links are to anchors in the page
        Assert.All(doc.Descendants().Attributes().Where(a => a.Name.LocalName is "href" or "src"), a => Assert.StartsWith("#", a.Value));
        Assert.DoesNotContain("url(", doc.Descendants("style").Single().Value);
        Assert.Contains("@media print", doc.Descendants("style").Single().Value);
    }

    [Fact]
    public void SaveWritesTheReport()
    {
        var report = Sample();
        string path = Path.Combine(Path.GetTempPath(), $"bnlab-report-{Guid.NewGuid():N}.html");
        try
        {
            report.Save(path);
            Assert.Equal(report.ToHtml(), File.ReadAllText(path));
        }
        finally { File.Delete(path); }
    }
}
