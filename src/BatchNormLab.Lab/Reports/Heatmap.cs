using System.Xml.Linq;

namespace BatchNormLab.Reports;

/// <summary>
/// A matrix as coloured cells (row 0 at the top) with row and column labels and a colour bar.
/// NaN cells are grey. Labels are thinned when the cells are too small to carry them all.
/// </summary>
public sealed class Heatmap : SvgChart
{
    const double Pad = 10, BarWidth = 14, Slices = 64;
    readonly double[,] values;

    /// <summary>A heatmap of a copy of <paramref name="values"/> (rows × columns, at least one of each).</summary>
    public Heatmap(double[,] values)
    {
        if (values.GetLength(0) == 0 || values.GetLength(1) == 0) throw new ArgumentException("a heatmap needs at least one row and one column", nameof(values));
        this.values = (double[,])values.Clone();
    }

    /// <summary>The number of rows, drawn top to bottom.</summary>
    public int Rows => values.GetLength(0);
    /// <summary>The number of columns, drawn left to right.</summary>
    public int Columns => values.GetLength(1);
    /// <summary>One label per row, left of the cells; null for none.</summary>
    public IReadOnlyList<string>? RowLabels { get; set; }
    /// <summary>One label per column, below the cells (at −45° when wider than a column); null for none.</summary>
    public IReadOnlyList<string>? ColumnLabels { get; set; }
    /// <summary>The title under the column labels; null for none.</summary>
    public string? XLabel { get; set; }
    /// <summary>The title left of the row labels; null for none.</summary>
    public string? YLabel { get; set; }
    /// <summary>The colour bar's title; null for none.</summary>
    public string? ColorBarLabel { get; set; }
    /// <summary>The colour scale; viridis unless set.</summary>
    public ColorScale Colors { get; set; } = ColorScale.Viridis;
    /// <summary>Fixed ends of the colour scale; left null, they follow the data (symmetric about 0 for a diverging scale).</summary>
    public double? Min { get; set; }
    /// <summary>The colour scale's fixed upper end; null: it follows the data (see <see cref="Min"/>).</summary>
    public double? Max { get; set; }
    /// <summary>Writes each value in its cell, where the cell is big enough for it.</summary>
    public bool ShowValues { get; set; }

    /// <summary>The colour scale's range.</summary>
    public (double Lo, double Hi) Range()
    {
        var finite = values.Cast<double>().Where(double.IsFinite).DefaultIfEmpty(0);
        double lo = finite.Min(), hi = finite.Max();
        if (Colors.Symmetric) (lo, hi) = (-Math.Max(Math.Abs(lo), Math.Abs(hi)), Math.Max(Math.Abs(lo), Math.Abs(hi)));
        return (Min ?? lo, Max ?? hi);
    }

    /// <summary>The cell colour of <paramref name="v"/> on the colour scale over <see cref="Range"/>; grey when it is not finite.</summary>
    public string ColorOf(double v)
    {
        if (!double.IsFinite(v)) return Svg.Missing;
        var (lo, hi) = Range();
        return Colors.At(hi > lo ? (v - lo) / (hi - lo) : 0.5);
    }

    internal override XElement Render()
    {
        CheckLabels(RowLabels, Rows, nameof(RowLabels));
        CheckLabels(ColumnLabels, Columns, nameof(ColumnLabels));
        var (lo, hi) = Range();
        if (hi < lo) throw new ArgumentException($"colour range [{lo}, {hi}] is empty");
        var barTicks = hi > lo ? Ticks.Linear(lo, hi, 5) : [new Tick(lo, Format.Compact(lo))];
        double barLabels = barTicks.Max(t => Svg.TextWidth(t.Label!, Svg.TickFont));

        double top = Pad + (Title is null ? 4 : Svg.TitleFont + 12);
        double rowLabelWidth = RowLabels?.Max(l => Svg.TextWidth(l, Svg.TickFont)) ?? 0;
        double left = Pad + (YLabel is null ? 0 : Svg.LabelFont + 8) + rowLabelWidth + 6;
        double right = Pad + 16 + BarWidth + 8 + barLabels + (ColorBarLabel is null ? 0 : 8 + Svg.LabelFont);
        double width = Math.Max(20, Width - left - right), cellW = width / Columns;
        double colLabelWidth = ColumnLabels?.Max(l => Svg.TextWidth(l, Svg.TickFont)) ?? 0;
        bool rotate = colLabelWidth > cellW - 4;  // labels wider than their columns go at −45°
        double colLabelHeight = ColumnLabels is null ? 0 : rotate ? colLabelWidth * 0.71 + Svg.TickFont + 6 : Svg.TickFont + 8;
        double bottom = Pad + colLabelHeight + (XLabel is null ? 0 : 8 + Svg.LabelFont);
        double height = Math.Max(20, Height - top - bottom), cellH = height / Rows;

        var root = Svg.Root(Width, Height, Title);
        if (Title is not null)
        {
            var title = Svg.Text(left, Pad + Svg.TitleFont, Title, Svg.TitleFont);
            title.SetAttributeValue("font-weight", "600");
            title.SetAttributeValue("class", "title");
            root.Add(title);
        }
        var cells = Svg.El("g", ("class", "cells"));
        double valueFont = Math.Max(Svg.NoteFont, Math.Min(13, cellH * 0.5));
        for (int r = 0; r < Rows; r++)
            for (int c = 0; c < Columns; c++)
            {
                double v = values[r, c], x = left + c * cellW, y = top + r * cellH;
                string color = ColorOf(v);
                cells.Add(Svg.El("rect", ("class", "cell"), ("data-row", r), ("data-col", c), ("x", x), ("y", y),
                    ("width", cellW), ("height", cellH), ("fill", color)));
                string text = Format.Number(v);
                if (ShowValues && double.IsFinite(v) && cellH >= valueFont + 2 && cellW >= Svg.TextWidth(text, valueFont) + 4)
                    cells.Add(Svg.Text(x + cellW / 2, y + cellH / 2 + valueFont * 0.35, text, valueFont, "middle", Dark(color) ? "#ffffff" : "#000000"));
            }
        root.Add(cells);

        var labels = Svg.El("g", ("class", "labels"));
        if (RowLabels is not null)
        {
            int stride = (int)Math.Ceiling((Svg.TickFont + 2) / cellH);
            for (int r = 0; r < Rows; r += stride)
                labels.Add(Svg.Text(left - 6, top + (r + 0.5) * cellH + Svg.TickFont * 0.35, RowLabels[r], Svg.TickFont, "end"));
        }
        if (ColumnLabels is not null)
        {
            int stride = (int)Math.Ceiling((rotate ? Svg.TickFont + 2 : colLabelWidth + 8) / cellW);
            for (int c = 0; c < Columns; c += stride)
            {
                double x = left + (c + 0.5) * cellW, y = top + height + 6 + Svg.TickFont * 0.8;
                var label = Svg.Text(x, y, ColumnLabels[c], Svg.TickFont, rotate ? "end" : "middle");
                if (rotate) label.SetAttributeValue("transform", $"rotate(-45 {Svg.Num(x)} {Svg.Num(y - Svg.TickFont * 0.4)})");
                labels.Add(label);
            }
        }
        if (XLabel is not null) labels.Add(Svg.Text(left + width / 2, top + height + colLabelHeight + 8 + Svg.LabelFont * 0.8, XLabel, Svg.LabelFont, "middle"));
        if (YLabel is not null)
        {
            double lx = Pad + Svg.LabelFont * 0.8, ly = top + height / 2;
            var label = Svg.Text(lx, ly, YLabel, Svg.LabelFont, "middle");
            label.SetAttributeValue("transform", $"rotate(-90 {Svg.Num(lx)} {Svg.Num(ly)})");
            labels.Add(label);
        }
        root.Add(labels);
        root.Add(ColorBar(left + width + 16, top, height, lo, hi, barTicks));
        return root;
    }

    /// <summary>Stacked slices rather than a gradient: a gradient needs an id, and ids clash when many charts share a page.</summary>
    XElement ColorBar(double x, double top, double height, double lo, double hi, List<Tick> ticks)
    {
        var g = Svg.El("g", ("class", "colorbar"));
        double slice = height / Slices;
        for (int i = 0; i < Slices; i++)
            g.Add(Svg.El("rect", ("x", x), ("y", top + height - (i + 1) * slice), ("width", BarWidth), ("height", slice + 0.5),
                ("fill", Colors.At((i + 0.5) / Slices))));
        g.Add(Svg.El("rect", ("x", x), ("y", top), ("width", BarWidth), ("height", height), ("fill", "none"), ("stroke", Svg.Ink), ("stroke-width", 0.5)));
        foreach (var t in ticks)
        {
            double y = hi > lo ? top + height - (t.Value - lo) / (hi - lo) * height : top + height / 2;
            g.Add(Svg.El("line", ("x1", x + BarWidth), ("x2", x + BarWidth + 4), ("y1", y), ("y2", y), ("stroke", Svg.Ink)));
            g.Add(Svg.Text(x + BarWidth + 7, y + Svg.TickFont * 0.35, t.Label!, Svg.TickFont));
        }
        if (ColorBarLabel is not null)
        {
            double lx = x + BarWidth + 8 + ticks.Max(t => Svg.TextWidth(t.Label!, Svg.TickFont)) + 8 + Svg.LabelFont * 0.8, ly = top + height / 2;
            var label = Svg.Text(lx, ly, ColorBarLabel, Svg.LabelFont, "middle");
            label.SetAttributeValue("transform", $"rotate(90 {Svg.Num(lx)} {Svg.Num(ly)})");
            g.Add(label);
        }
        return g;
    }

    static void CheckLabels(IReadOnlyList<string>? labels, int count, string name)
    {
        if (labels is not null && labels.Count != count) throw new ArgumentException($"{labels.Count} {name} for {count}", name);
    }

    /// <summary>Whether black text would be hard to read on this colour (relative luminance below 0.4).</summary>
    static bool Dark(string hex)
    {
        double Channel(int i) => Convert.ToInt32(hex.Substring(i, 2), 16) / 255.0;
        return 0.2126 * Channel(1) + 0.7152 * Channel(3) + 0.0722 * Channel(5) < 0.4;
    }
}
