using System.Xml.Linq;

namespace BatchNormLab.Reports;

/// <summary>Where a chart's legend goes.</summary>
public enum LegendPosition
{
    /// <summary>In a column right of the plot, or below it when wider than 30% of the chart.</summary>
    Right,
    /// <summary>In rows below the plot.</summary>
    Bottom,
    /// <summary>No legend.</summary>
    None,
}

/// <summary>A legend row: a line (solid or dashed, with its marker) and/or a filled swatch for bands and bars.</summary>
internal sealed record LegendEntry(string Label, string Color, bool Line, bool Area, bool Dashed = false, MarkerShape Marker = MarkerShape.None);

/// <summary>
/// The layout shared by line charts and histograms: title, plot area, two axes with ticks and
/// labels, grid, and a legend kept outside the plot area (right, or below when it is too wide).
/// Maps data values to pixels.
/// </summary>
internal sealed class PlotFrame
{
    const double Pad = 10, TickLength = 5, LegendRow = 18, Swatch = 22, LegendGap = 16;
    readonly SvgChart chart;
    readonly Axis xAxis, yAxis;
    readonly double x0, x1, y0, y1;  // range, on the transformed scale
    readonly List<Tick> xTicks, yTicks;
    readonly IReadOnlyList<LegendEntry> legend;
    readonly List<(double X, double Y)> legendPlaces = [];

    public double Left { get; }
    public double Top { get; }
    public double Width { get; }
    public double Height { get; }
    public (double Lo, double Hi) XRange { get; }
    public (double Lo, double Hi) YRange { get; }

    public PlotFrame(SvgChart chart, Axis x, (double Lo, double Hi) xRange, Axis y, (double Lo, double Hi) yRange, IReadOnlyList<LegendEntry> legend, LegendPosition position)
    {
        (this.chart, xAxis, yAxis, XRange, YRange) = (chart, x, y, xRange, yRange);
        (x0, x1, y0, y1) = (x.Transform(xRange.Lo), x.Transform(xRange.Hi), y.Transform(yRange.Lo), y.Transform(yRange.Hi));
        this.legend = position == LegendPosition.None ? [] : legend;

        double legendWidth = this.legend.Count == 0 ? 0 : Swatch + 6 + this.legend.Max(e => Svg.TextWidth(e.Label, Svg.TickFont));
        bool below = position == LegendPosition.Bottom || legendWidth > 0.3 * chart.Width;
        Top = Pad + (chart.Title is null ? 4 : Svg.TitleFont + 12);
        double axisBelow = TickLength + 4 + Svg.TickFont + (x.Label is null ? 0 : 8 + Svg.LabelFont);
        double bottom = Pad + axisBelow;

        // y ticks come first (their labels set the left margin), from the height before any legend rows below
        yTicks = Ticks.For(y, yRange.Lo, yRange.Hi, chart.Height - Top - bottom, 45);
        double labelWidth = yTicks.Where(t => t.Major).Select(t => Svg.TextWidth(t.Label!, Svg.TickFont)).DefaultIfEmpty(0).Max();
        Left = Pad + (y.Label is null ? 0 : Svg.LabelFont + 8) + labelWidth + TickLength + 4;
        double right = Pad + (this.legend.Count > 0 && !below ? LegendGap + legendWidth : 0);
        xTicks = Ticks.For(x, xRange.Lo, xRange.Hi, chart.Width - Left - right, 70);
        var lastLabel = xTicks.LastOrDefault(t => t.Major).Label;
        if (lastLabel is not null) right = Math.Max(right, Pad + Svg.TextWidth(lastLabel, Svg.TickFont) / 2);
        Width = Math.Max(20, chart.Width - Left - right);

        if (below && this.legend.Count > 0)
        {
            // flow the entries into rows under the x axis
            double cx = 0, row = 0;
            foreach (var e in this.legend)
            {
                double w = Swatch + 6 + Svg.TextWidth(e.Label, Svg.TickFont) + 18;
                if (cx > 0 && cx + w > Width) { cx = 0; row++; }
                legendPlaces.Add((Left + cx, row));
                cx += w;
            }
            bottom += 8 + (row + 1) * LegendRow;
            Height = Math.Max(20, chart.Height - Top - bottom);
            for (int i = 0; i < legendPlaces.Count; i++)
                legendPlaces[i] = (legendPlaces[i].X, Top + Height + axisBelow + 8 + legendPlaces[i].Y * LegendRow + LegendRow / 2);
        }
        else
        {
            Height = Math.Max(20, chart.Height - Top - bottom);
            for (int i = 0; i < this.legend.Count; i++) legendPlaces.Add((Left + Width + LegendGap, Top + 6 + i * LegendRow));
        }
    }

    public double Px(double v) => Left + (xAxis.Transform(v) - x0) / (x1 - x0) * Width;
    public double Py(double v) => Top + Height - (yAxis.Transform(v) - y0) / (y1 - y0) * Height;

    public bool InX(double v) => xAxis.Accepts(v) && v >= XRange.Lo && v <= XRange.Hi;
    public bool InY(double v) => yAxis.Accepts(v) && v >= YRange.Lo && v <= YRange.Hi;

    /// <summary>A nested viewport the size of the plot area, in the outer coordinates: what is drawn in it is clipped to the plot, with no ids to clash when many charts share a page.</summary>
    public XElement Clip() => Svg.El("svg", ("class", "plot"), ("x", Left), ("y", Top), ("width", Width), ("height", Height),
        ("viewBox", $"{Svg.Num(Left)} {Svg.Num(Top)} {Svg.Num(Width)} {Svg.Num(Height)}"), ("overflow", "hidden"));

    /// <summary>The plot area and its grid, drawn under the data.</summary>
    public void DrawGrid(XElement root)
    {
        root.Add(Svg.El("rect", ("class", "plot-area"), ("x", Left), ("y", Top), ("width", Width), ("height", Height), ("fill", "#ffffff")));
        var grid = Svg.El("g", ("class", "grid"), ("stroke-width", 1));
        foreach (var t in xTicks)
            grid.Add(Svg.El("line", ("x1", Px(t.Value)), ("x2", Px(t.Value)), ("y1", Top), ("y2", Top + Height), ("stroke", t.Major ? Svg.GridLine : Svg.MinorGridLine)));
        foreach (var t in yTicks)
            grid.Add(Svg.El("line", ("x1", Left), ("x2", Left + Width), ("y1", Py(t.Value)), ("y2", Py(t.Value)), ("stroke", t.Major ? Svg.GridLine : Svg.MinorGridLine)));
        root.Add(grid);
    }

    /// <summary>Title, axis lines, ticks and their labels, and the axis titles, drawn over the data.</summary>
    public void DrawAxes(XElement root)
    {
        if (chart.Title is not null)
        {
            var title = Svg.Text(Left, Pad + Svg.TitleFont, chart.Title, Svg.TitleFont);
            title.SetAttributeValue("font-weight", "600");
            title.SetAttributeValue("class", "title");
            root.Add(title);
        }
        double bottom = Top + Height;
        var xg = Svg.El("g", ("class", "x-axis"));
        xg.Add(Svg.El("line", ("x1", Left), ("x2", Left + Width), ("y1", bottom), ("y2", bottom), ("stroke", Svg.Ink)));
        foreach (var t in xTicks)
        {
            double px = Px(t.Value);
            xg.Add(Svg.El("line", ("class", t.Major ? "tick" : "minor-tick"), ("x1", px), ("x2", px), ("y1", bottom), ("y2", bottom + (t.Major ? TickLength : TickLength / 2)), ("stroke", Svg.Ink)));
            if (t.Major) xg.Add(TickLabel(Svg.Text(px, bottom + TickLength + 2 + Svg.TickFont * 0.9, t.Label!, Svg.TickFont, "middle"), t.Value));
        }
        if (xAxis.Label is not null)
            xg.Add(Class(Svg.Text(Left + Width / 2, bottom + TickLength + 4 + Svg.TickFont + 8 + Svg.LabelFont * 0.8, xAxis.Label, Svg.LabelFont, "middle"), "axis-label"));
        root.Add(xg);

        var yg = Svg.El("g", ("class", "y-axis"));
        yg.Add(Svg.El("line", ("x1", Left), ("x2", Left), ("y1", Top), ("y2", bottom), ("stroke", Svg.Ink)));
        foreach (var t in yTicks)
        {
            double py = Py(t.Value);
            yg.Add(Svg.El("line", ("class", t.Major ? "tick" : "minor-tick"), ("x1", Left - (t.Major ? TickLength : TickLength / 2)), ("x2", Left), ("y1", py), ("y2", py), ("stroke", Svg.Ink)));
            if (t.Major) yg.Add(TickLabel(Svg.Text(Left - TickLength - 3, py + Svg.TickFont * 0.35, t.Label!, Svg.TickFont, "end"), t.Value));
        }
        if (yAxis.Label is not null)
        {
            double lx = Pad + Svg.LabelFont * 0.8, ly = Top + Height / 2;
            var label = Class(Svg.Text(lx, ly, yAxis.Label, Svg.LabelFont, "middle"), "axis-label");
            label.SetAttributeValue("transform", $"rotate(-90 {Svg.Num(lx)} {Svg.Num(ly)})");
            yg.Add(label);
        }
        root.Add(yg);
    }

    public void DrawLegend(XElement root)
    {
        if (legend.Count == 0) return;
        var g = Svg.El("g", ("class", "legend"));
        for (int i = 0; i < legend.Count; i++)
        {
            var (e, (x, y)) = (legend[i], legendPlaces[i]);
            var item = Svg.El("g", ("class", "legend-item"));
            if (e.Area)
                item.Add(Svg.El("rect", ("x", x), ("y", y - 5), ("width", Swatch), ("height", 10), ("fill", e.Color), ("fill-opacity", e.Line ? 0.25 : 0.5)));
            if (e.Line)
            {
                var line = Svg.El("line", ("x1", x), ("x2", x + Swatch), ("y1", y), ("y2", y), ("stroke", e.Color), ("stroke-width", 2));
                if (e.Dashed) line.SetAttributeValue("stroke-dasharray", "6 4");
                item.Add(line);
            }
            if (e.Marker != MarkerShape.None) item.Add(Markers.Draw(e.Marker, x + Swatch / 2, y, 3.5, e.Color));
            item.Add(Svg.Text(x + Swatch + 6, y + Svg.TickFont * 0.35, e.Label, Svg.TickFont));
            g.Add(item);
        }
        root.Add(g);
    }

    static XElement TickLabel(XElement text, double value)
    {
        text.SetAttributeValue("class", "tick-label");
        text.SetAttributeValue("data-value", value.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        return text;
    }

    static XElement Class(XElement e, string name)
    {
        e.SetAttributeValue("class", name);
        return e;
    }
}
