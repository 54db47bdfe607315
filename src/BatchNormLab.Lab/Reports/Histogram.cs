using System.Xml.Linq;

namespace BatchNormLab.Reports;

/// <summary>One data set's counts over a <see cref="Histogram"/>'s bins.</summary>
public sealed class HistogramLayer
{
    internal HistogramLayer(string label, double[] counts, string color) => (Label, Counts, Color) = (label, counts, color);

    /// <summary>Shown in the legend; an empty label keeps the layer out of it.</summary>
    public string Label { get; }
    /// <summary>The count in each bin, one per bin in edge order.</summary>
    public IReadOnlyList<double> Counts { get; }
    /// <summary>The bars' colour, as a CSS colour such as "#0072B2".</summary>
    public string Color { get; set; }
}

/// <summary>
/// A histogram: bars over shared bin edges, for one or more data sets (overlaid, semi-transparent),
/// with an optional log count axis. Bins are [e_i, e_{i+1}), the last one closed, as in numpy.
/// </summary>
public sealed class Histogram : SvgChart
{
    readonly double[] edges;
    readonly List<HistogramLayer> layers = [];

    /// <param name="edges">Strictly increasing bin edges: n bins need n + 1.</param>
    public Histogram(IReadOnlyList<double> edges)
    {
        if (edges.Count < 2) throw new ArgumentException("a histogram needs at least two bin edges", nameof(edges));
        for (int i = 0; i < edges.Count; i++)
            if (!double.IsFinite(edges[i]) || (i > 0 && edges[i] <= edges[i - 1]))
                throw new ArgumentException($"bin edges must be finite and strictly increasing (edge {i} is {edges[i]})", nameof(edges));
        this.edges = edges.ToArray();
    }

    /// <summary>Even bins spanning the finite values of <paramref name="values"/>, which become the first layer.</summary>
    public static Histogram FromData(string label, IReadOnlyList<double> values, int bins)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 1);
        var finite = values.Where(double.IsFinite).DefaultIfEmpty(0).ToArray();
        double lo = finite.Min(), hi = finite.Max();
        if (lo == hi) (lo, hi) = (lo - 0.5, hi + 0.5);
        var histogram = new Histogram(EvenEdges(lo, hi, bins));
        histogram.Add(label, values);
        return histogram;
    }

    /// <summary>The edges of <paramref name="bins"/> equal bins from <paramref name="min"/> to <paramref name="max"/>; the last edge is exactly <paramref name="max"/>.</summary>
    public static double[] EvenEdges(double min, double max, int bins)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 1);
        // computed from both ends, so the last edge is exactly max and the maximum lands in the last bin
        return Enumerable.Range(0, bins + 1).Select(i => i == bins ? max : min + (max - min) * i / bins).ToArray();
    }

    /// <summary>The bin edges, strictly increasing: one more than the bins.</summary>
    public IReadOnlyList<double> Edges => edges;
    /// <summary>The data sets added so far, in drawing order.</summary>
    public IReadOnlyList<HistogramLayer> Layers => layers;
    /// <summary>The horizontal axis, over the bin edges.</summary>
    public Axis X { get; } = new();
    /// <summary>The count axis (titled "count" unless set), linear or log.</summary>
    public Axis Y { get; } = new() { Padding = 0.05, Label = "count" };
    /// <summary>Where the legend goes: right of the plot (the default), below it, or nowhere.</summary>
    public LegendPosition Legend { get; set; } = LegendPosition.Right;

    /// <summary>Counts values into the bins; NaN, ±∞ and values outside the edges are left out.</summary>
    public HistogramLayer Add(string label, IReadOnlyList<double> values, string? color = null)
    {
        var counts = new double[edges.Length - 1];
        foreach (double v in values)
        {
            if (!double.IsFinite(v) || v < edges[0] || v > edges[^1]) continue;
            int i = Array.BinarySearch(edges, v);
            int bin = i >= 0 ? Math.Min(i, counts.Length - 1) : ~i - 1;
            counts[bin]++;
        }
        return AddCounts(label, counts, color);
    }

    /// <summary>Counts (or densities) computed elsewhere, one a bin.</summary>
    public HistogramLayer AddCounts(string label, IReadOnlyList<double> counts, string? color = null)
    {
        if (counts.Count != edges.Length - 1) throw new ArgumentException($"{counts.Count} counts for {edges.Length - 1} bins", nameof(counts));
        var layer = new HistogramLayer(label, counts.ToArray(), color ?? Palette.Color(layers.Count));
        layers.Add(layer);
        return layer;
    }

    internal override XElement Render()
    {
        var xRange = X.Resolve(edges);
        var counts = layers.SelectMany(l => l.Counts).Where(c => c > 0).ToList();
        // bars stand on zero (linear) or below the smallest count (log), so the smallest bar still shows
        var yData = Y.IsLog ? counts.Append(counts.DefaultIfEmpty(1).Min() / 2) : counts.Append(0);
        var yRange = Y.Resolve(yData);
        if (!Y.IsLog && Y.Min is null) yRange = (0, yRange.Hi);
        var legend = layers.Where(l => l.Label.Length > 0).Select(l => new LegendEntry(l.Label, l.Color, false, true)).ToList();
        var frame = new PlotFrame(this, X, xRange, Y, yRange, legend, Legend);

        var root = Svg.Root(Width, Height, Title);
        frame.DrawGrid(root);
        var plot = frame.Clip();
        double opacity = layers.Count > 1 ? 0.45 : 0.8;
        double baseline = frame.Top + frame.Height;
        foreach (var layer in layers)
        {
            var g = Svg.El("g", ("class", "bars"), ("data-label", layer.Label), ("fill", layer.Color), ("fill-opacity", opacity),
                ("stroke", layer.Color), ("stroke-width", 0.75));
            for (int i = 0; i < layer.Counts.Count; i++)
            {
                double c = layer.Counts[i];
                if (!Y.Accepts(c) || c <= 0 || !X.Accepts(edges[i]) || !X.Accepts(edges[i + 1])) continue;
                double xl = frame.Px(edges[i]), xr = frame.Px(edges[i + 1]), top = frame.Py(c);
                g.Add(Svg.El("rect", ("x", xl), ("y", Math.Min(top, baseline)), ("width", xr - xl), ("height", Math.Abs(baseline - top))));
            }
            plot.Add(g);
        }
        root.Add(plot);
        frame.DrawAxes(root);
        frame.DrawLegend(root);
        return root;
    }
}
