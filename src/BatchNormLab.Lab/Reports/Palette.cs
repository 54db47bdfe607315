namespace BatchNormLab.Reports;

/// <summary>
/// Okabe–Ito colours: distinguishable with every common form of colour blindness. Ordered so the
/// first few (the usual BN / no-BN pairs) are the most distinct; the pale yellow comes last.
/// </summary>
public static class Palette
{
    /// <summary>The eight colours as "#RRGGBB", in the order series take them.</summary>
    public static IReadOnlyList<string> OkabeIto { get; } =
        ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];

    /// <summary>The colour of the series at <paramref name="index"/> (from 0), cycling after the eighth.</summary>
    public static string Color(int index) => OkabeIto[index % OkabeIto.Count];
}

/// <summary>A colour scale for heatmaps: colours sampled at even steps from 0 to 1, interpolated linearly in between.</summary>
public sealed class ColorScale
{
    readonly (byte R, byte G, byte B)[] stops;

    ColorScale(bool symmetric, params string[] hex)
    {
        Symmetric = symmetric;
        stops = hex.Select(h => (Convert.ToByte(h[1..3], 16), Convert.ToByte(h[3..5], 16), Convert.ToByte(h[5..7], 16))).ToArray();
    }

    /// <summary>matplotlib's viridis: perceptually uniform, colour-blind safe, readable in greyscale.</summary>
    public static ColorScale Viridis { get; } =
        new(false, "#440154", "#482878", "#3E4989", "#31688E", "#26828E", "#1F9E89", "#35B779", "#6ECE58", "#B5DE2B", "#FDE725");

    /// <summary>ColorBrewer's RdBu, blue for negative, white at zero, red for positive; its automatic range is symmetric about 0.</summary>
    public static ColorScale Diverging { get; } =
        new(true, "#2166AC", "#4393C3", "#92C5DE", "#D1E5F0", "#F7F7F7", "#FDDBC7", "#F4A582", "#D6604D", "#B2182B");

    /// <summary>Whether the automatic range is [−m, m], so that zero sits at the middle colour.</summary>
    public bool Symmetric { get; }

    /// <summary>The colour at t (clamped to [0, 1]) as #rrggbb.</summary>
    public string At(double t)
    {
        double u = Math.Clamp(t, 0, 1) * (stops.Length - 1);
        int i = Math.Min((int)u, stops.Length - 2);
        double f = u - i;
        var (a, b) = (stops[i], stops[i + 1]);
        return $"#{Mix(a.R, b.R, f):x2}{Mix(a.G, b.G, f):x2}{Mix(a.B, b.B, f):x2}";
    }

    static int Mix(byte a, byte b, double f) => (int)Math.Round(a + (b - a) * f);
}
