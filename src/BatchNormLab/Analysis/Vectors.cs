namespace BatchNormLab.Analysis;

/// <summary>The float64 vector arithmetic of the iterations (and of the lab's theory).</summary>
public static class Vectors
{
    /// <summary>Σ a_i·b_i over the length of <paramref name="a"/>.</summary>
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>‖a‖₂.</summary>
    public static double Norm(ReadOnlySpan<double> a) => Math.Sqrt(Dot(a, a));

    /// <summary>y ← y + a·x.</summary>
    public static void AddScaled(Span<double> y, double a, ReadOnlySpan<double> x)
    {
        for (int i = 0; i < y.Length; i++) y[i] += a * x[i];
    }

    /// <summary>v ← v/‖v‖; returns ‖v‖.</summary>
    public static double Normalize(Span<double> v)
    {
        double norm = Norm(v);
        for (int i = 0; i < v.Length; i++) v[i] /= norm;
        return norm;
    }

    /// <summary>Removes from <paramref name="v"/> its components along the orthonormal <paramref name="basis"/> (Gram–Schmidt, twice: once is not enough in floating point).</summary>
    public static void Orthogonalize(Span<double> v, IReadOnlyList<double[]> basis)
    {
        for (int pass = 0; pass < 2; pass++)
            foreach (var q in basis) AddScaled(v, -Dot(v, q), q);
    }

    /// <summary>Independent ±1 entries with equal probability.</summary>
    public static double[] Rademacher(Rng rng, int length)
    {
        var v = new double[length];
        for (int i = 0; i < length; i++) v[i] = (rng.NextUInt64() >> 63) == 0 ? -1 : 1;
        return v;
    }

    /// <summary>Independent N(0, 1) entries.</summary>
    public static double[] Gaussian(Rng rng, int length)
    {
        var v = new double[length];
        for (int i = 0; i < length; i++) v[i] = rng.Normal();
        return v;
    }
}
