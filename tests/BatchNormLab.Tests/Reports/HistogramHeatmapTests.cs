using BatchNormLab.Reports;
using static BatchNormLab.Tests.Reports.SvgProbe;

namespace BatchNormLab.Tests.Reports;

public sealed class HistogramHeatmapTests
{
    [Fact]
    public void BinsAreHalfOpenWithTheLastClosedLikeNumpy()
    {
        var h = new Histogram([0, 1, 2, 3, 4]);
        var layer = h.Add("a", [0, 0.5, 1, 2.999, 3, 4, -0.1, 4.1, double.NaN, double.PositiveInfinity]);
        // numpy.histogram([0, .5, 1, 2.999, 3, 4], bins=[0, 1, 2, 3, 4]) -> [2, 1, 1, 2]
        Assert.Equal([2.0, 1, 1, 2], layer.Counts);
    }

    [Fact]
    public void CountsFromDataSumToTheNumberOfFiniteValues()
    {
        var rng = new Random(3);
        var values = Enumerable.Range(0, 1000).Select(i => i % 97 == 0 ? double.NaN : rng.NextDouble() * 6 - 3).ToArray();
        var h = Histogram.FromData("a", values, 25);
        Assert.Equal(26, h.Edges.Count);
        Assert.Equal(values.Min(v => double.IsNaN(v) ? double.MaxValue : v), h.Edges[0]);
        Assert.Equal(values.Where(double.IsFinite).Max(), h.Edges[^1]);
        Assert.Equal(values.Count(double.IsFinite), h.Layers.Single().Counts.Sum());
    }

    [Fact]
    public void BarsSpanTheirBinsAndStandOnZero()
    {
        var h = new Histogram([0, 1, 2, 4]);
        h.Y.Max = 10;
        h.AddCounts("a", [5, 0, 10]);
        var doc = Parse(h);
        var (x, y, w, height) = PlotArea(doc);
        var bars = ByClass(doc, "bars").Single().Elements(Ns + "rect").ToList();
        Assert.Equal(2, bars.Count);  // the empty bin draws nothing
        Assert.Equal(x, Num(bars[0], "x"), 0.02);
        Assert.Equal(w / 4, Num(bars[0], "width"), 0.02);
        Assert.Equal(height / 2, Num(bars[0], "height"), 0.02);
        Assert.Equal(y + height, Num(bars[0], "y") + Num(bars[0], "height"), 0.02);
        Assert.Equal(x + w / 2, Num(bars[1], "x"), 0.02);
        Assert.Equal(height, Num(bars[1], "height"), 0.02);
        Assert.Equal(0.0, TickLabels(doc, "y-axis")[0].Value);
    }

    [Fact]
    public void LogCountAxisSkipsEmptyBinsAndStartsBelowTheSmallestCount()
    {
        var h = new Histogram([0, 1, 2, 3]) { Title = "log" };
        h.Y.Scale = AxisScale.Log10;
        h.AddCounts("a", [1, 0, 1000]);
        h.Add("b", [0.5, 2.5, 2.5]);
        var doc = Parse(h);
        Assert.Equal([2, 2], ByClass(doc, "bars").Select(g => g.Elements(Ns + "rect").Count()));
        // the smallest count (1) halved, snapped down to 0.5: every bar has height
        Assert.All(ByClass(doc, "bars").SelectMany(g => g.Elements(Ns + "rect")), r => Assert.True(Num(r, "height") > 10));
        Assert.Equal([1.0, 10, 100, 1000], TickLabels(doc, "y-axis").Select(t => t.Value));
        Assert.Equal(["a", "b"], ByClass(doc, "legend-item").Select(i => i.Element(Ns + "text")!.Value));
    }

    [Fact]
    public void BadEdgesAndCountsAreRejected()
    {
        Assert.Throws<ArgumentException>(() => new Histogram([0]));
        Assert.Throws<ArgumentException>(() => new Histogram([0, 1, 1]));
        Assert.Throws<ArgumentException>(() => new Histogram([0, double.NaN]));
        Assert.Throws<ArgumentException>(() => new Histogram([0, 1, 2]).AddCounts("a", [1]));
    }

    [Fact]
    public void HeatmapHasACellPerEntryWithTheScaleEndsAtTheExtremes()
    {
        var values = new double[3, 4];
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) values[r, c] = r * 4 + c;
        values[2, 1] = double.NaN;
        var map = new Heatmap(values) { Title = "g", RowLabels = ["a", "b", "c"], ColumnLabels = ["0", "1", "2", "3"], ColorBarLabel = "∂L/∂z" };
        var doc = Parse(map);

        var cells = ByClass(doc, "cell").ToList();
        Assert.Equal(3 * 4, cells.Count);
        string Fill(int r, int c) => (string)cells.Single(e => (int)e.Attribute("data-row")! == r && (int)e.Attribute("data-col")! == c).Attribute("fill")!;
        Assert.Equal("#440154", Fill(0, 0));
        Assert.Equal("#fde725", Fill(2, 3));
        Assert.Equal(ColorScale.Viridis.At(5 / 11.0), Fill(1, 1));
        Assert.Equal("#d9d9d9", Fill(2, 1));
        // cells tile one rectangle, row 0 on top
        Assert.True(Num(cells[0], "y") < Num(cells[4], "y"));
        Assert.Equal(Num(cells[0], "x") + Num(cells[0], "width"), Num(cells[1], "x"), 0.02);

        var bar = ByClass(doc, "colorbar").Single().Elements(Ns + "rect").ToList();
        Assert.Equal("#fde725", ColorScale.Viridis.At(1));
        Assert.Equal(ColorScale.Viridis.At(0.5 / 64), (string)bar[0].Attribute("fill")!);  // the bottom slice, at the minimum
        Assert.Contains("∂L/∂z", ByClass(doc, "colorbar").Single().Elements(Ns + "text").Select(t => t.Value));
    }

    [Fact]
    public void DivergingScaleIsSymmetricSoZeroIsWhite()
    {
        var map = new Heatmap(new double[,] { { -1, 0, 3 } }) { Colors = ColorScale.Diverging };
        Assert.Equal((-3.0, 3.0), map.Range());
        Assert.Equal("#f7f7f7", map.ColorOf(0));
        Assert.Equal("#b2182b", map.ColorOf(3));
        Assert.Equal("#2166ac", map.ColorOf(-3));
        map.Min = -1;
        Assert.Equal((-1.0, 3.0), map.Range());
    }

    [Fact]
    public void ColorScaleHitsItsStopsAndInterpolatesBetween()
    {
        Assert.Equal("#482878", ColorScale.Viridis.At(1 / 9.0));
        Assert.Equal("#440154", ColorScale.Viridis.At(-5));
        Assert.Equal("#fde725", ColorScale.Viridis.At(5));
        // halfway from #F7F7F7 to #FDDBC7
        Assert.Equal("#fae9df", ColorScale.Diverging.At(0.5 + 1 / 16.0));
    }

    [Fact]
    public void HeatmapValuesAreWrittenInBigCellsInAContrastingColour()
    {
        var map = new Heatmap(new double[,] { { 0, 1 } }) { ShowValues = true, Width = 300, Height = 120 };
        var texts = ByClass(Parse(map), "cells").Single().Elements(Ns + "text").ToList();
        Assert.Equal(["0", "1"], texts.Select(t => t.Value));
        Assert.Equal(["#ffffff", "#000000"], texts.Select(t => (string)t.Attribute("fill")!));
    }
}
