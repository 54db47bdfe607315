namespace BatchNormLab.Reports;

/// <summary>How an axis maps values to positions.</summary>
public enum AxisScale
{
    /// <summary>Equal differences take equal lengths.</summary>
    Linear,
    /// <summary>Equal ratios take equal lengths; only positive values are shown.</summary>
    Log10,
}

/// <summary>
/// One axis: its title, scale and range. Min and Max fix an end; left null, that end follows the
/// data. Values the scale cannot show (NaN, ±∞, and non-positive on a log axis) are skipped.
/// </summary>
public sealed class Axis
{
    /// <summary>The axis title drawn beside it; null for none.</summary>
    public string? Label { get; set; }
    /// <summary>Linear (the default) or log₁₀.</summary>
    public AxisScale Scale { get; set; }
    /// <summary>The fixed lower end; null: it follows the data.</summary>
    public double? Min { get; set; }
    /// <summary>The fixed upper end; null: it follows the data.</summary>
    public double? Max { get; set; }

    /// <summary>Fraction of the data's span added beyond each automatic end of a linear axis.</summary>
    public double Padding { get; set; }

    internal bool IsLog => Scale == AxisScale.Log10;

    internal bool Accepts(double v) => double.IsFinite(v) && (!IsLog || v > 0);

    internal double Transform(double v) => IsLog ? Math.Log10(v) : v;

    /// <summary>
    /// The range to draw. Automatic log ends snap outwards to 1, 2 or 5 × 10ⁿ, so the axis starts and
    /// ends on a labelled value; automatic linear ends get <see cref="Padding"/>.
    /// </summary>
    internal (double Lo, double Hi) Resolve(IEnumerable<double> data)
    {
        if (IsLog && (Min <= 0 || Max <= 0)) throw new ArgumentOutOfRangeException(nameof(Min), $"a log axis needs a positive range, got [{Min}, {Max}]");
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        foreach (double v in data)
            if (Accepts(v)) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
        if (lo > hi) (lo, hi) = IsLog ? (1.0, 10.0) : (0.0, 1.0);

        if (IsLog)
        {
            if (lo == hi) (lo, hi) = (lo / 2, hi * 2);
            (lo, hi) = (NiceDown(lo), NiceUp(hi));
        }
        else
        {
            double pad = hi > lo ? Padding * (hi - lo) : lo == 0 ? 1 : Math.Abs(lo) / 10;
            (lo, hi) = (lo - pad, hi + pad);
        }
        lo = Min ?? lo;
        hi = Max ?? hi;
        if (hi > lo) return (lo, hi);
        if (Min is not null && Max is not null) throw new ArgumentException($"axis range [{Min}, {Max}] is empty");
        // A fixed end beyond all the data: open the other end by a decade, or by the magnitude.
        double step = IsLog ? 0 : Math.Max(Math.Abs(Max is null ? lo : hi), 1);
        return Max is null ? (lo, IsLog ? lo * 10 : lo + step) : (IsLog ? hi / 10 : hi - step, hi);
    }

    static double NiceDown(double v)
    {
        int d = (int)Math.Floor(Math.Log10(v));
        foreach (int m in (int[])[5, 2, 1])
            if (Format.Scaled(m, d) <= v * (1 + 1e-12)) return Format.Scaled(m, d);
        return Format.Scaled(5, d - 1);
    }

    static double NiceUp(double v)
    {
        int d = (int)Math.Floor(Math.Log10(v));
        foreach (int m in (int[])[1, 2, 5])
            if (Format.Scaled(m, d) >= v * (1 - 1e-12)) return Format.Scaled(m, d);
        return Format.Scaled(1, d + 1);
    }
}

/// <summary>A tick at a data value; minor ticks have no label.</summary>
internal readonly record struct Tick(double Value, string? Label)
{
    public bool Major => Label is not null;
}

/// <summary>Where ticks go: 1/2/5 × 10ⁿ steps on linear axes, powers of ten on log axes.</summary>
internal static class Ticks
{
    /// <summary>Ticks for an axis range, with about one labelled tick per <paramref name="spacing"/> pixels of <paramref name="length"/>.</summary>
    public static List<Tick> For(Axis axis, double lo, double hi, double length, double spacing)
    {
        int target = Math.Clamp((int)(length / spacing), 2, 10);
        return axis.IsLog ? Log(lo, hi, target) : Linear(lo, hi, target);
    }

    public static List<Tick> Linear(double lo, double hi, int target)
    {
        double raw = (hi - lo) / target;
        int e = (int)Math.Floor(Math.Log10(raw));
        double f = raw / Format.Scaled(1, e);
        double step = f < 1.5 ? Format.Scaled(1, e) : f < 3 ? Format.Scaled(2, e) : f < 7 ? Format.Scaled(5, e) : Format.Scaled(1, e + 1);
        int decimals = Math.Max(0, -(int)Math.Floor(Math.Log10(step) + 1e-9));
        double magnitude = Math.Max(Math.Abs(lo), Math.Abs(hi));
        bool scientific = magnitude >= 1e5 || magnitude < 1e-3;
        var ticks = new List<Tick>();
        for (double k = Math.Ceiling(lo / step - 1e-9); k <= Math.Floor(hi / step + 1e-9); k++)
        {
            double v = k * step;
            if (decimals is > 0 and <= 15) v = Math.Round(v, decimals);  // 3 × 0.1 is 0.30000000000000004
            if (v == 0) v = 0;  // no "−0"
            ticks.Add(new Tick(v, scientific ? Format.Compact(v) : Format.Minus(v.ToString("F" + decimals, System.Globalization.CultureInfo.InvariantCulture))));
        }
        return ticks;
    }

    /// <summary>
    /// Two or more powers of ten in range: those are the labels (every k-th when there are more than
    /// <paramref name="maxLabels"/>), with minor ticks at 2…9 × 10ⁿ. Fewer: 1, 2 and 5 × 10ⁿ are
    /// labelled; failing two of those, linear ticks.
    /// </summary>
    public static List<Tick> Log(double lo, double hi, int maxLabels)
    {
        double t0 = Math.Log10(lo), t1 = Math.Log10(hi);
        int d0 = (int)Math.Ceiling(t0 - 1e-9), d1 = (int)Math.Floor(t1 + 1e-9);
        var ticks = new List<Tick>();
        bool InRange(double v) => v >= lo * (1 - 1e-12) && v <= hi * (1 + 1e-12);
        if (d1 > d0)
        {
            int stride = (int)Math.Ceiling((d1 - d0 + 1) / (double)Math.Max(2, maxLabels));
            for (int d = d0; d <= d1; d++) ticks.Add(new Tick(Format.Scaled(1, d), d % stride == 0 ? "10" + Format.Superscript(d) : null));
            if (stride == 1)
                for (int d = d0 - 1; d <= d1; d++)
                    for (int m = 2; m <= 9; m++)
                        if (InRange(Format.Scaled(m, d))) ticks.Add(new Tick(Format.Scaled(m, d), null));
            return ticks;
        }
        for (int d = (int)Math.Floor(t0); d <= (int)Math.Ceiling(t1); d++)
            for (int m = 1; m <= 9; m++)
            {
                double v = Format.Scaled(m, d);
                if (InRange(v)) ticks.Add(new Tick(v, m is 1 or 2 or 5 ? Format.Compact(v) : null));
            }
        return ticks.Count(t => t.Major) >= 2 ? ticks : Linear(lo, hi, 4);
    }
}
