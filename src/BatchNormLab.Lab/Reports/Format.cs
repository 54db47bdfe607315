namespace BatchNormLab.Reports;

/// <summary>Numbers as people read them: a true minus sign, superscript powers of ten, no "E+05".</summary>
internal static class Format
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    const string SuperscriptDigits = "⁰¹²³⁴⁵⁶⁷⁸⁹";

    public static string Minus(string s) => s.Replace('-', '−');

    public static string Superscript(int exponent)
    {
        var chars = exponent.ToString(Inv).ToCharArray();
        for (int i = 0; i < chars.Length; i++) chars[i] = chars[i] == '-' ? '⁻' : SuperscriptDigits[chars[i] - '0'];
        return new string(chars);
    }

    /// <summary>m·10^e, parsed rather than multiplied so that 1e-3 is the same double as the literal.</summary>
    public static double Scaled(int mantissa, int exponent) => double.Parse($"{mantissa}e{exponent}", Inv);

    /// <summary>An axis label: plain digits between 0.001 and 99999, otherwise 2×10⁶ (or 10⁶).</summary>
    public static string Compact(double v)
    {
        if (v == 0) return "0";
        int e = (int)Math.Floor(Math.Log10(Math.Abs(v)) + 1e-12);
        if (e is >= -3 and < 5) return Minus(v.ToString("G6", Inv));
        return Scientific(v, e, 2);
    }

    /// <summary>A table cell: four significant digits, thousands grouped, 1.235×10⁶ beyond.</summary>
    public static string Number(double v)
    {
        if (double.IsNaN(v)) return "NaN";
        if (double.IsInfinity(v)) return v > 0 ? "∞" : "−∞";
        double a = Math.Abs(v);
        if (a == 0) return "0";
        if (a >= 1e6 || a < 1e-4) return Scientific(v, (int)Math.Floor(Math.Log10(a) + 1e-12), 3);
        if (a >= 1000) return Minus(v.ToString("#,0", Inv));
        return Minus(v.ToString("G4", Inv));
    }

    static string Scientific(double v, int e, int decimals)
    {
        double m = Math.Round(v / Math.Pow(10, e), decimals);
        if (Math.Abs(m) >= 10) { m /= 10; e++; }
        string mantissa = m == 1 ? "" : m == -1 ? "−" : Minus(m.ToString("0." + new string('#', decimals), Inv)) + "×";
        return mantissa + "10" + Superscript(e);
    }
}
