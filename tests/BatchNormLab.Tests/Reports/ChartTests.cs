using System.Xml.Linq;
using BatchNormLab.Reports;
using static BatchNormLab.Tests.Reports.SvgProbe;

namespace BatchNormLab.Tests.Reports;

public sealed class ChartTests
{
    const double Pixel = 0.02;  // coordinates are written to 0.01 px, the plot area's corner and size too

    [Fact]
    public void LogAxisTicksAreExactlyThePowersOfTenInRange()
    {
        var chart = new Chart();
        chart.X.Scale = AxisScale.Log10;
        (chart.X.Min, chart.X.Max) = (1e-4, 10);
        chart.Line("sweep", [1e-4, 1e-2, 10], [1, 2, 3]);
        var doc = Parse(chart);

        var ticks = TickLabels(doc, "x-axis");
        Assert.Equal([1e-4, 1e-3, 1e-2, 1e-1, 1, 10], ticks.Select(t => t.Value));
        Assert.Equal(["10⁻⁴", "10⁻³", "10⁻²", "10⁻¹", "10⁰", "10¹"], ticks.Select(t => t.Text));
        // minor ticks at 2…9 × 10ⁿ for each of the five whole decades, none beyond 10
        Assert.Equal(5 * 8, ByClass(ByClass(doc, "x-axis").Single(), "minor-tick").Count());
    }

    [Fact]
    public void LogTicksOverManyDecadesLabelEveryKthPowerAndOverLessThanTwoLabelOneTwoFive()
    {
        var wide = Ticks.Log(1e-30, 1e30, 7).Where(t => t.Major).Select(t => t.Value).ToArray();
        Assert.Equal([1e-27, 1e-18, 1e-9, 1, 1e9, 1e18, 1e27], wide);

        var narrow = Ticks.Log(0.2, 5, 5).Where(t => t.Major).ToArray();
        Assert.Equal([0.2, 0.5, 1, 2, 5], narrow.Select(t => t.Value));
        Assert.Equal(["0.2", "0.5", "1", "2", "5"], narrow.Select(t => t.Label));
        Assert.Equal([0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 3, 4], Ticks.Log(0.2, 5, 5).Where(t => !t.Major).Select(t => t.Value).Order());
    }

    [Fact]
    public void LinearTicksAreOneTwoFiveTimesAPowerOfTen()
    {
        var unit = Ticks.Linear(0, 1, 5);
        Assert.Equal([0, 0.2, 0.4, 0.6, 0.8, 1], unit.Select(t => t.Value));
        Assert.Equal(["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"], unit.Select(t => t.Label));
        Assert.Equal(["0", "5", "10"], Ticks.Linear(-3.7, 12.1, 5).Select(t => t.Label));
        Assert.Equal(["−0.02", "0.00", "0.02"], Ticks.Linear(-0.025, 0.025, 3).Select(t => t.Label));
        Assert.Equal(["0", "5×10⁵", "10⁶", "1.5×10⁶", "2×10⁶"], Ticks.Linear(0, 2e6, 4).Select(t => t.Label));
    }

    [Fact]
    public void DataPointsLandOnThePixelsTheirAxesGive()
    {
        var chart = new Chart();
        (chart.X.Min, chart.X.Max) = (0, 10);
        chart.Y.Scale = AxisScale.Log10;
        (chart.Y.Min, chart.Y.Max) = (1e-2, 1e2);
        chart.Line("a", [0, 5, 10, 2.5], [1e-2, 1, 100, 1e-1]);
        var doc = Parse(chart);
        var (x, y, w, h) = PlotArea(doc);

        var points = Points((string)ByClass(doc, "line").Single().Attribute("d")!);
        (double, double)[] expected = [(x, y + h), (x + w / 2, y + h / 2), (x + w, y), (x + w / 4, y + 3 * h / 4)];
        Assert.Equal(expected.Length, points.Count);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Item1, points[i].X, Pixel);
            Assert.Equal(expected[i].Item2, points[i].Y, Pixel);
        }
    }

    [Fact]
    public void AutomaticLinearRangeAddsFivePercentOfTheSpanToY()
    {
        var chart = new Chart();
        chart.Line("a", [0, 1], [0, 10]);
        var doc = Parse(chart);
        var (x, y, w, h) = PlotArea(doc);
        var points = Points((string)ByClass(doc, "line").Single().Attribute("d")!);
        // x spans the data exactly; y is [−0.5, 10.5]
        Assert.Equal(x, points[0].X, Pixel);
        Assert.Equal(x + w, points[1].X, Pixel);
        Assert.Equal(y + h - 0.5 / 11 * h, points[0].Y, Pixel);
        Assert.Equal(y + 0.5 / 11 * h, points[1].Y, Pixel);
    }

    [Fact]
    public void NaNInfinityAndNonPositiveOnLogBreakTheLineAndNeverReachTheSvg()
    {
        var chart = new Chart();
        chart.Y.Scale = AxisScale.Log10;
        chart.Line("nan", [0, 1, 2, 3, 4], [1, 2, double.NaN, 3, 4]);
        chart.Line("inf", [0, 1, 2, 3, 4], [1, 2, double.PositiveInfinity, 3, 4]);
        chart.Line("zero", [0, 1, 2, 3, 4, 5], [1, 2, 0, 3, 4, -1]);
        chart.Line("bad x", [0, double.NaN, 2, 3], [1, 2, 3, 4]);
        string svg = chart.ToSvg();
        var doc = XDocument.Parse(svg);

        int[] PathLengths(string label) => ByClass(doc, "series").Single(g => (string?)g.Attribute("data-label") == label)
            .Elements(Ns + "path").Select(p => Points((string)p.Attribute("d")!).Count).ToArray();
        Assert.Equal([2, 2], PathLengths("nan"));
        Assert.Equal([2, 2], PathLengths("inf"));
        Assert.Equal([2, 2], PathLengths("zero"));
        // x = NaN leaves the lone first point, drawn as a dot, then a segment of two
        Assert.Equal([2], PathLengths("bad x"));
        Assert.Single(ByClass(doc, "point"));
        Assert.DoesNotContain("NaN", svg);
        Assert.DoesNotContain("Infinity", svg);
        Assert.DoesNotContain("∞", svg);
    }

    [Fact]
    public void SeriesWithNothingToShowStillRender()
    {
        var chart = new Chart { Title = "empty" };
        chart.Y.Scale = AxisScale.Log10;
        chart.Line("all NaN", [0, 1], [double.NaN, double.NaN]);
        chart.Line("none", [], []);
        chart.Line("negative", [0, 1], [-1, -2]);
        var doc = Parse(chart);
        Assert.Empty(ByClass(doc, "line"));
        Assert.Equal([1.0, 10.0], TickLabels(doc, "y-axis").Select(t => t.Value));  // the default log range
    }

    [Fact]
    public void LegendListsTheLabelledSeriesInOrderOutsideThePlot()
    {
        var chart = new Chart();
        chart.Line("BN", [0, 1], [0, 1]);
        chart.Line("", [0, 1], [1, 0]);
        chart.Line("no BN", [0, 1], [1, 2], dashed: true).WithBand([0, 1], [2, 3]);
        chart.Area("range", [0, 1], [0, 0], [1, 1]);
        var doc = Parse(chart);
        var (x, y, w, h) = PlotArea(doc);

        var items = ByClass(doc, "legend-item").ToList();
        Assert.Equal(["BN", "no BN", "range"], items.Select(i => i.Element(Ns + "text")!.Value));
        Assert.All(items.SelectMany(i => i.Elements()).Where(e => e.Attribute("x") is not null || e.Attribute("x1") is not null),
            e => Assert.True(Num(e, e.Attribute("x") is not null ? "x" : "x1") > x + w));
        Assert.Equal("6 4", (string?)items[1].Element(Ns + "line")!.Attribute("stroke-dasharray"));
        Assert.Single(items[1].Elements(Ns + "rect"));  // the band's swatch under the line
        Assert.Null(items[2].Element(Ns + "line"));  // an area has no line
        Assert.Equal([Palette.Color(0), Palette.Color(2)], chart.Series.Where(s => s.Label.Length > 0).Take(2).Select(s => s.Color));

        chart.Legend = LegendPosition.Bottom;
        doc = Parse(chart);
        (x, y, w, h) = PlotArea(doc);
        Assert.All(ByClass(doc, "legend-item"), i => Assert.True(Num(i.Element(Ns + "text")!, "y") > y + h));
    }

    [Fact]
    public void TextIsEscapedAndCharactersXmlCannotCarryAreDropped()
    {
        const string label = "a<b & \"c\" 'd'";
        var chart = new Chart { Title = "loss < 1 & \"stable\"\u0001" };
        chart.X.Label = "x > 0";
        chart.Line(label, [0, 1], [0, 1]);
        string svg = chart.ToSvg();
        var doc = XDocument.Parse(svg);

        Assert.Contains("a&lt;b &amp; \"c\" 'd'</text>", svg);
        Assert.Contains("data-label=\"a&lt;b &amp; &quot;c&quot; 'd'\"", svg);
        Assert.Equal(label, ByClass(doc, "legend-item").Single().Element(Ns + "text")!.Value);
        Assert.Equal("loss < 1 & \"stable\"", ByClass(doc, "title").Single().Value);
        Assert.Equal("x > 0", ByClass(doc, "axis-label").Single().Value);
    }

    [Fact]
    public void BandIsOnePolygonOfTwoNCornersUpperThenLowerBack()
    {
        var chart = new Chart();
        (chart.Y.Min, chart.Y.Max) = (0, 10);
        (chart.X.Min, chart.X.Max) = (0, 4);
        double[] x = [0, 1, 2, 3, 4], lower = [1, 1, 2, 2, 3], upper = [5, 6, 7, 8, 9];
        chart.Line("median", x, [3, 3, 4, 5, 6]).WithBand(lower, upper).WithBand([2, 2, 3, 3, 4], [4, 4, 5, 6, 7]);
        var doc = Parse(chart);
        var (px, py, w, h) = PlotArea(doc);

        var bands = ByClass(doc, "band").ToList();
        Assert.Equal(2, bands.Count);
        var corners = Points((string)bands[0].Elements(Ns + "polygon").Single().Attribute("points")!);
        Assert.Equal(2 * x.Length, corners.Count);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal(px + x[i] / 4 * w, corners[i].X, Pixel);
            Assert.Equal(py + h - upper[i] / 10 * h, corners[i].Y, Pixel);
            Assert.Equal(px + x[^(i + 1)] / 4 * w, corners[x.Length + i].X, Pixel);
            Assert.Equal(py + h - lower[^(i + 1)] / 10 * h, corners[x.Length + i].Y, Pixel);
        }
        // bands sit under the lines: both come before the median in document order
        var plot = ByClass(doc, "plot").Single().Elements().ToList();
        Assert.True(plot.IndexOf(bands[1]) < plot.IndexOf(ByClass(doc, "series").Single()));
    }

    [Fact]
    public void AnnotationsOutOfRangeOrNotFinitePinToAnEdgeAndReferenceLinesSpanThePlot()
    {
        var chart = new Chart();
        (chart.X.Min, chart.X.Max, chart.Y.Min, chart.Y.Max) = (0, 10, 0, 1);
        chart.Line("loss", [0, 10], [0.5, 0.5]);
        chart.Annotate(5, double.NaN, "diverged at step 5");
        chart.Annotate(2, 1e30);
        chart.Annotate(8, -3);
        chart.Annotate(4, 0.25, "inside", MarkerShape.Circle);
        chart.Annotate(20, 0.5, "beyond x");
        chart.HorizontalLine(0.75, "target");
        chart.VerticalLine(3);
        var doc = Parse(chart);
        var (x, y, w, h) = PlotArea(doc);

        var marks = ByClass(doc, "annotation").ToList();
        Assert.Equal(4, marks.Count);
        (double, double) Centre(XElement g)
        {
            var m = g.Elements().First();
            if (m.Name == Ns + "circle") return (Num(m, "cx"), Num(m, "cy"));
            var p = Points((string)m.Attribute("d")!);  // the cross: corners of its first stroke
            return ((p[0].X + p[1].X) / 2, (p[0].Y + p[1].Y) / 2);
        }
        Assert.Equal((x + w / 2, y), Centre(marks[0]), new PixelComparer());
        Assert.Equal((x + w / 5, y), Centre(marks[1]), new PixelComparer());
        Assert.Equal((x + 0.8 * w, y + h), Centre(marks[2]), new PixelComparer());
        Assert.Equal((x + 0.4 * w, y + 0.75 * h), Centre(marks[3]), new PixelComparer());
        Assert.Equal("diverged at step 5", marks[0].Element(Ns + "text")!.Value);

        var refs = ByClass(doc, "reference").ToList();
        Assert.Equal((x, y + 0.25 * h), (Num(refs[0], "x1"), Num(refs[0], "y1")), new PixelComparer());
        Assert.Equal((x + w, y + 0.25 * h), (Num(refs[0], "x2"), Num(refs[0], "y2")), new PixelComparer());
        Assert.Equal((x + 0.3 * w, y), (Num(refs[1], "x1"), Num(refs[1], "y1")), new PixelComparer());
        Assert.Equal((x + 0.3 * w, y + h), (Num(refs[1], "x2"), Num(refs[1], "y2")), new PixelComparer());
    }

    [Fact]
    public void MarkersAreDrawnAtEveryShownPoint()
    {
        var chart = new Chart();
        (chart.X.Min, chart.X.Max) = (0, 3);
        chart.Line("a", [0, 1, 2, 3, 4], [1, double.NaN, 2, 3, 4], marker: MarkerShape.Square);
        var doc = Parse(chart);
        Assert.Equal(3, ByClass(ByClass(doc, "markers").Single(), "marker").Count());  // x = 4 is beyond the range
    }

    [Fact]
    public void SvgIsResponsiveAndEveryTextIsReadable()
    {
        var chart = new Chart { Title = "t", Width = 500, Height = 300 };
        chart.X.Label = "step";
        chart.Y.Label = "loss";
        chart.Line("a", [0, 1], [1, 2]);
        chart.Annotate(0.5, 1.5, "note");
        chart.HorizontalLine(1.2, "ref");
        var root = Parse(chart).Root!;

        Assert.Equal(Ns + "svg", root.Name);
        Assert.Equal("0 0 500 300", (string?)root.Attribute("viewBox"));
        Assert.Equal("100%", (string?)root.Attribute("width"));
        Assert.Equal(12, Num(root, "font-size"));
        Assert.All(root.Descendants(Ns + "text"), t => Assert.True(Num(t, "font-size") >= 11));
        Assert.Equal(["step", "loss"], ByClass(root, "axis-label").Select(e => e.Value));
        Assert.Equal("t", root.Element(Ns + "title")!.Value);
    }

    [Fact]
    public void MismatchedLengthsAndBadRangesAreRejected()
    {
        var chart = new Chart();
        Assert.Throws<ArgumentException>(() => chart.Line("a", [0, 1], [1]));
        Assert.Throws<ArgumentException>(() => chart.Line("a", [0, 1], [1, 2]).WithBand([0], [1, 2]));
        chart.Y.Scale = AxisScale.Log10;
        chart.Y.Min = 0;
        Assert.Throws<ArgumentOutOfRangeException>(() => chart.ToSvg());
        chart.Y.Scale = AxisScale.Linear;
        chart.Y.Max = -1;
        Assert.Throws<ArgumentException>(() => chart.ToSvg());
    }

    [Fact]
    public void SaveWritesTheSameSvg()
    {
        var chart = new Chart { Title = "saved" };
        chart.Line("a", [0, 1], [1, 2]);
        string path = Path.Combine(Path.GetTempPath(), $"bnlab-chart-{Guid.NewGuid():N}.svg");
        try
        {
            chart.Save(path);
            Assert.Equal(chart.ToSvg(), File.ReadAllText(path));
        }
        finally { File.Delete(path); }
    }

    sealed class PixelComparer : IEqualityComparer<(double, double)>
    {
        public bool Equals((double, double) a, (double, double) b) => Math.Abs(a.Item1 - b.Item1) < Pixel && Math.Abs(a.Item2 - b.Item2) < Pixel;
        public int GetHashCode((double, double) p) => 0;
    }
}
