using System.Xml.Linq;

namespace BatchNormLab.Reports;

/// <summary>
/// One line of a <see cref="Chart"/>, with the bands drawn around it. Points the axes cannot show
/// (NaN, ±∞, non-positive on a log axis) break the line into separate segments.
/// </summary>
public sealed class Series
{
    readonly List<(double[] Lower, double[] Upper, double Opacity)> bands = [];

    internal Series(string label, double[] x, double[]? y, string color)
    {
        (Label, X, Y, Color) = (label, x, y, color);
    }

    /// <summary>Shown in the legend; an empty label keeps the series out of it.</summary>
    public string Label { get; }
    /// <summary>The line's, markers' and bands' colour, as a CSS colour such as "#0072B2".</summary>
    public string Color { get; set; }
    /// <summary>Whether the line is drawn dashed.</summary>
    public bool Dashed { get; set; }
    /// <summary>The marker drawn at each shown point; <see cref="MarkerShape.None"/> for none.</summary>
    public MarkerShape Marker { get; set; }
    /// <summary>The markers' radius in px.</summary>
    public double MarkerRadius { get; set; } = 3.5;
    /// <summary>The line's stroke width in px (also the radius of a lone point between gaps).</summary>
    public double LineWidth { get; set; } = 2;

    internal double[] X { get; }
    internal double[]? Y { get; }
    internal IReadOnlyList<(double[] Lower, double[] Upper, double Opacity)> Bands => bands;

    /// <summary>
    /// Fills between lower and upper (at this series' x) in its colour, under every line. Nested bands
    /// (5–95% then 25–75%) darken where they overlap, so the inner one needs no other colour.
    /// </summary>
    public Series WithBand(IReadOnlyList<double> lower, IReadOnlyList<double> upper, double opacity = 0.18)
    {
        Chart.CheckLength(X, lower, nameof(lower));
        Chart.CheckLength(X, upper, nameof(upper));
        bands.Add((lower.ToArray(), upper.ToArray(), opacity));
        return this;
    }
}

/// <summary>
/// A line chart: series with optional markers and percentile bands, reference lines, annotated
/// points, linear or log axes, and a legend beside or below the plot.
/// </summary>
public sealed class Chart : SvgChart
{
    readonly List<Series> series = [];
    readonly List<(double X, double Y, string? Text, MarkerShape Mark, string Color)> annotations = [];
    readonly List<(bool Horizontal, double Value, string? Label)> references = [];

    /// <summary>The horizontal axis.</summary>
    public Axis X { get; } = new();
    /// <summary>The vertical axis; automatic ends get 5% padding.</summary>
    public Axis Y { get; } = new() { Padding = 0.05 };
    /// <summary>Where the legend goes: right of the plot (the default), below it, or nowhere.</summary>
    public LegendPosition Legend { get; set; } = LegendPosition.Right;
    /// <summary>The series added so far, in drawing order.</summary>
    public IReadOnlyList<Series> Series => series;

    /// <summary>A line through (x[i], y[i]); its colour is the next of <see cref="Palette.OkabeIto"/> unless given.</summary>
    public Series Line(string label, IReadOnlyList<double> x, IReadOnlyList<double> y, string? color = null, bool dashed = false, MarkerShape marker = MarkerShape.None)
    {
        CheckLength(x, y, nameof(y));
        return Add(new Series(label, x.ToArray(), y.ToArray(), color ?? Palette.Color(series.Count)) { Dashed = dashed, Marker = marker });
    }

    /// <summary>A filled range with no line through it (e.g. the min–max of the loss along the gradient).</summary>
    public Series Area(string label, IReadOnlyList<double> x, IReadOnlyList<double> lower, IReadOnlyList<double> upper, string? color = null, double opacity = 0.35) =>
        Add(new Series(label, x.ToArray(), null, color ?? Palette.Color(series.Count))).WithBand(lower, upper, opacity);

    /// <summary>
    /// A mark at (x, y) with an optional label; it does not widen the axes. A y beyond the axis range, or
    /// not finite (a run whose loss became NaN or ∞), is pinned to the top edge (the bottom for −∞ and
    /// values below the range); an x beyond the range leaves the mark out.
    /// </summary>
    public void Annotate(double x, double y, string? text = null, MarkerShape mark = MarkerShape.Cross, string color = "#000000") =>
        annotations.Add((x, y, text, mark == MarkerShape.None ? MarkerShape.Cross : mark, color));

    /// <summary>A dashed reference line across the plot at <paramref name="y"/>, with an optional label; the automatic y range includes it.</summary>
    public void HorizontalLine(double y, string? label = null) => references.Add((true, y, label));
    /// <summary>A dashed reference line across the plot at <paramref name="x"/>, with an optional label; the automatic x range includes it.</summary>
    public void VerticalLine(double x, string? label = null) => references.Add((false, x, label));

    Series Add(Series s)
    {
        series.Add(s);
        return s;
    }

    internal static void CheckLength<T>(IReadOnlyCollection<double> x, IReadOnlyCollection<T> other, string name)
    {
        if (other.Count != x.Count) throw new ArgumentException($"{name} has {other.Count} values for {x.Count} x values", name);
    }

    internal override XElement Render()
    {
        // annotations stay out of the automatic ranges: a diverged run's last loss must not squash the rest
        var xRange = X.Resolve(series.SelectMany(s => s.X).Concat(references.Where(r => !r.Horizontal).Select(r => r.Value)));
        bool Visible(double x) => X.Accepts(x) && x >= xRange.Lo && x <= xRange.Hi;
        // the y range fits what lies inside the x range
        var yData = new List<double>();
        foreach (var s in series)
            for (int i = 0; i < s.X.Length; i++)
            {
                if (!Visible(s.X[i])) continue;
                if (s.Y is not null) yData.Add(s.Y[i]);
                foreach (var (lower, upper, _) in s.Bands) { yData.Add(lower[i]); yData.Add(upper[i]); }
            }
        yData.AddRange(references.Where(r => r.Horizontal).Select(r => r.Value));
        var frame = new PlotFrame(this, X, xRange, Y, Y.Resolve(yData), LegendEntries(), Legend);

        var root = Svg.Root(Width, Height, Title);
        frame.DrawGrid(root);
        var plot = frame.Clip();
        foreach (var s in series) DrawBands(plot, frame, s);
        foreach (var r in references) DrawReference(plot, frame, r.Horizontal, r.Value);
        foreach (var s in series.Where(s => s.Y is not null)) DrawLine(plot, frame, s);
        root.Add(plot);
        foreach (var s in series.Where(s => s.Y is not null && s.Marker != MarkerShape.None))
        {
            // markers sit outside the clip, so one at the edge of the range is drawn whole
            var g = Svg.El("g", ("class", "markers"));
            for (int i = 0; i < s.X.Length; i++)
                if (frame.InX(s.X[i]) && frame.InY(s.Y![i])) g.Add(Markers.Draw(s.Marker, frame.Px(s.X[i]), frame.Py(s.Y[i]), s.MarkerRadius, s.Color));
            root.Add(g);
        }
        frame.DrawAxes(root);
        // each vertical line's label a line lower than the previous one's, so labels of nearby lines do not overlap
        int verticalLabels = 0;
        foreach (var r in references.Where(r => r.Label is not null))
            DrawReferenceLabel(root, frame, r.Horizontal, r.Value, r.Label!, r.Horizontal ? 0 : verticalLabels++);
        foreach (var a in annotations) DrawAnnotation(root, frame, a.X, a.Y, a.Text, a.Mark, a.Color);
        frame.DrawLegend(root);
        return root;
    }

    List<LegendEntry> LegendEntries() => series.Where(s => s.Label.Length > 0)
        .Select(s => new LegendEntry(s.Label, s.Color, s.Y is not null, s.Bands.Count > 0, s.Dashed, s.Marker)).ToList();

    /// <summary>Runs of consecutive indices whose points the axes can show.</summary>
    static List<List<int>> Runs(int n, Func<int, bool> shown)
    {
        var runs = new List<List<int>>();
        List<int>? run = null;
        for (int i = 0; i < n; i++)
        {
            if (!shown(i)) { run = null; continue; }
            if (run is null) runs.Add(run = []);
            run.Add(i);
        }
        return runs;
    }

    void DrawLine(XElement plot, PlotFrame f, Series s)
    {
        var g = Svg.El("g", ("class", "series"), ("data-label", s.Label));
        var (x, y) = (s.X, s.Y!);
        foreach (var run in Runs(x.Length, i => X.Accepts(x[i]) && Y.Accepts(y[i])))
        {
            if (run.Count == 1)
            {
                // a lone point between gaps would be an invisible zero-length path
                g.Add(Svg.El("circle", ("class", "point"), ("cx", f.Px(x[run[0]])), ("cy", f.Py(y[run[0]])), ("r", s.LineWidth), ("fill", s.Color)));
                continue;
            }
            var d = string.Concat(run.Select((i, k) => $"{(k == 0 ? 'M' : 'L')}{Svg.Num(f.Px(x[i]))},{Svg.Num(f.Py(y[i]))}"));
            var path = Svg.El("path", ("class", "line"), ("d", d), ("fill", "none"), ("stroke", s.Color), ("stroke-width", s.LineWidth),
                ("stroke-linejoin", "round"), ("stroke-linecap", "round"));
            if (s.Dashed) path.SetAttributeValue("stroke-dasharray", "6 4");
            g.Add(path);
        }
        plot.Add(g);
    }

    void DrawBands(XElement plot, PlotFrame f, Series s)
    {
        foreach (var (lower, upper, opacity) in s.Bands)
        {
            var g = Svg.El("g", ("class", "band"), ("data-label", s.Label));
            foreach (var run in Runs(s.X.Length, i => X.Accepts(s.X[i]) && Y.Accepts(lower[i]) && Y.Accepts(upper[i])))
            {
                // upper edge left to right, then the lower edge back: 2n corners
                var corners = run.Select(i => (f.Px(s.X[i]), f.Py(upper[i])))
                    .Concat(Enumerable.Reverse(run).Select(i => (f.Px(s.X[i]), f.Py(lower[i]))));
                g.Add(Svg.El("polygon", ("points", Svg.Points(corners)), ("fill", s.Color), ("fill-opacity", opacity), ("stroke", "none")));
            }
            plot.Add(g);
        }
    }

    static void DrawReference(XElement plot, PlotFrame f, bool horizontal, double v)
    {
        if (horizontal ? !f.InY(v) : !f.InX(v)) return;
        var (x1, x2, y1, y2) = horizontal ? (f.Left, f.Left + f.Width, f.Py(v), f.Py(v)) : (f.Px(v), f.Px(v), f.Top, f.Top + f.Height);
        plot.Add(Svg.El("line", ("class", "reference"), ("x1", x1), ("x2", x2), ("y1", y1), ("y2", y2),
            ("stroke", Svg.Muted), ("stroke-width", 1.2), ("stroke-dasharray", "4 3")));
    }

    static void DrawReferenceLabel(XElement root, PlotFrame f, bool horizontal, double v, string label, int row)
    {
        if (horizontal ? !f.InY(v) : !f.InX(v)) return;
        // a vertical line's label reads to its right, or to its left near the right edge so it stays in the plot
        bool left = !horizontal && f.Px(v) > f.Left + 0.75 * f.Width;
        var text = horizontal
            ? Svg.Text(f.Left + f.Width - 4, f.Py(v) - 4, label, Svg.NoteFont, "end", Svg.Muted)
            : Svg.Text(left ? f.Px(v) - 4 : f.Px(v) + 4, f.Top + (Svg.NoteFont + 3) * (row + 1) - 1, label, Svg.NoteFont, left ? "end" : "start", Svg.Muted);
        root.Add(Svg.WithHalo(text));
    }

    void DrawAnnotation(XElement root, PlotFrame f, double x, double y, string? text, MarkerShape mark, string color)
    {
        if (!f.InX(x)) return;
        double py = double.IsNegativeInfinity(y) || (Y.Accepts(y) && y < f.YRange.Lo) || (Y.IsLog && y <= 0) ? f.Top + f.Height
            : f.InY(y) ? f.Py(y) : f.Top;
        double px = f.Px(x);
        var g = Svg.El("g", ("class", "annotation"));
        g.Add(Markers.Draw(mark, px, py, 5, color));
        if (text is not null)
        {
            // to the right of the mark, or to its left near the right edge; below it when pinned to the top
            bool left = px > f.Left + 0.75 * f.Width;
            double ty = py < f.Top + 14 ? py + 18 : py - 8;
            g.Add(Svg.WithHalo(Svg.Text(left ? px - 8 : px + 8, ty, text, Svg.NoteFont, left ? "end" : "start", color)));
        }
        root.Add(g);
    }
}
