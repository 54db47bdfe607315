using System.Globalization;

namespace BatchNormLab.Experiments;

/// <summary>
/// A difference between two settings' means with its standard error, and whether it stands out of the
/// noise: it does when it exceeds the larger of two standard errors and a floor (so that a few
/// seeds that happen to agree closely do not turn a tiny difference into a finding).
/// </summary>
public sealed record Difference(double Value, double StandardError)
{
    /// <summary>mean(a) − mean(b) over seeds, with the two-sample standard error from the pooled variance (NaN with one seed each).</summary>
    public static Difference OfMeans(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        double ma = a.Average(), mb = b.Average();
        int dof = a.Count + b.Count - 2;
        double pooled = dof > 0 ? (a.Sum(v => (v - ma) * (v - ma)) + b.Sum(v => (v - mb) * (v - mb))) / dof : double.NaN;
        return new(ma - mb, Math.Sqrt(pooled * (1.0 / a.Count + 1.0 / b.Count)));
    }

    /// <summary>
    /// accuracy(a) − accuracy(b) of two classifiers on the same examples, with McNemar's standard error
    /// √(n₁₀ + n₀₁)/n: only the examples on which they disagree carry noise.
    /// </summary>
    public static Difference OfPairedAccuracies(bool[] a, bool[] b)
    {
        int onlyA = 0, onlyB = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i] && !b[i]) onlyA++;
            if (b[i] && !a[i]) onlyB++;
        }
        return new((double)(onlyA - onlyB) / a.Length, Math.Sqrt(onlyA + onlyB) / a.Length);
    }

    /// <summary>The mean of two independent differences (e.g. one per setting of another factor).</summary>
    public static Difference Average(Difference x, Difference y) =>
        new((x.Value + y.Value) / 2, Math.Sqrt(x.StandardError * x.StandardError + y.StandardError * y.StandardError) / 2);

    /// <summary>The size a difference must exceed to count: two standard errors, at least <paramref name="floor"/>.</summary>
    public double Margin(double floor) => double.IsNaN(StandardError) ? floor : Math.Max(2 * StandardError, floor);

    /// <summary>+1 when the difference is above the margin, −1 when below minus it, 0 within the noise.</summary>
    public int Sign(double floor) => Value > Margin(floor) ? 1 : Value < -Margin(floor) ? -1 : 0;

    /// <summary>
    /// One comparison judged on two measures, each +1 (ahead beyond the noise), −1 (behind) or 0 (within):
    /// +1 when ahead on one and not behind on the other, −1 when behind on one and not ahead on the
    /// other, 0 when both are within the noise or they point in opposite directions.
    /// </summary>
    public static int Overall(int first, int second) =>
        Math.Max(first, second) > 0 && Math.Min(first, second) >= 0 ? 1
        : Math.Min(first, second) < 0 && Math.Max(first, second) <= 0 ? -1
        : 0;

    /// <summary>"+1.2 ± 0.4 points": scaled by <paramref name="scale"/> (e.g. 100 for accuracies in points), with up to <paramref name="decimals"/> decimals.</summary>
    public string Format(double scale, string unit, int decimals = 2)
    {
        string digits = "0." + new string('#', decimals);
        string se = double.IsNaN(StandardError) ? "" : " ± " + (StandardError * scale).ToString(digits, CultureInfo.InvariantCulture);
        return (Value * scale).ToString($"+{digits};−{digits};0", CultureInfo.InvariantCulture) + se + (unit.Length > 0 ? " " + unit : "");
    }
}
