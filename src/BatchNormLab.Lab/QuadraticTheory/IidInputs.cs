namespace BatchNormLab.QuadraticTheory;

/// <summary>
/// p samples of N i.i.d. Gaussian inputs of mean m and variance v, and what LeCun, Kanter &amp; Solla
/// 1991 predict for the spectrum of their correlation matrix R = (1/p)·Σ_u x_u·x_uᵀ:
/// a Marchenko–Pastur bulk, N − p zeros when p &lt; N, and for m ≠ 0 one outlier along (1, …, 1)/√N.
/// </summary>
/// <param name="Dimension">N, the inputs per sample.</param>
/// <param name="Samples">p, the samples.</param>
/// <param name="Mean">m, every input's mean (0: centred inputs, no outlier).</param>
/// <param name="Variance">v, every input's variance (positive).</param>
public sealed record IidInputs(int Dimension, int Samples, double Mean, double Variance)
{
    /// <summary>α = p/N.</summary>
    public double Ratio => (double)Samples / Dimension;

    /// <summary>The spectrum of the centred inputs' R; for m ≠ 0 it is still the bulk (N − 1 eigenvalues of N).</summary>
    public MarchenkoPastur Bulk => new(Ratio, Variance);

    /// <summary>R has rank min(N, p): N − p eigenvalues at zero when p &lt; N.</summary>
    public int ZeroEigenvalues => Math.Max(0, Dimension - Samples);

    /// <summary>
    /// The outlier in the large-α limit, N·m² + v: there R → v·I + m²·11ᵀ, whose eigenvalue along
    /// (1, …, 1) is N·m² + v, all others v. (The seed writes N·m + v, taking m as the product of two means.)
    /// </summary>
    public double Outlier => Dimension * Mean * Mean + Variance;

    /// <summary>
    /// The outlier at finite α: the mean is a rank-one signal of strength θ² = N·m² added to the data
    /// matrix, and its top eigenvalue sits at (θ² + v)(1 + v/(α·θ²)) (Benaych-Georges &amp; Nadakuditi 2012,
    /// information plus noise) when θ² exceeds v/√α; NaN below that (the mean hides in the bulk).
    /// Within 0.1% of <see cref="Outlier"/> for N = 100, p = 1000, m = v = 1; 2% above it at p = N/2.
    /// </summary>
    public double OutlierAtRatio
    {
        get
        {
            double signal = Dimension * Mean * Mean;
            return signal > Variance / Math.Sqrt(Ratio) ? (signal + Variance) * (1 + Variance / (Ratio * signal)) : double.NaN;
        }
    }

    /// <summary>A p×N matrix of inputs (row u is sample u), drawn row by row from <paramref name="rng"/>.</summary>
    public double[,] Draw(Rng rng)
    {
        if (Dimension < 1 || Samples < 1) throw new ArgumentException($"need at least one input and one sample, got N = {Dimension}, p = {Samples}");
        if (!(Variance > 0)) throw new ArgumentOutOfRangeException(nameof(Variance), Variance, "the inputs' variance must be positive");
        var x = new double[Samples, Dimension];
        double std = Math.Sqrt(Variance);
        for (int u = 0; u < Samples; u++)
            for (int i = 0; i < Dimension; i++) x[u, i] = rng.Normal(Mean, std);
        return x;
    }
}

/// <summary>What is done to the inputs before the linear unit sees them; each statistic is over the p samples of an input.</summary>
public enum InputTreatment
{
    /// <summary>As drawn.</summary>
    Raw,
    /// <summary>Minus the input's sample mean.</summary>
    Centred,
    /// <summary>Minus the sample mean, over the biased sample standard deviation: what BatchNorm does over a full batch, without its ε.</summary>
    Standardised,
}

/// <summary>Applies an <see cref="InputTreatment"/> to a matrix of inputs.</summary>
public static class InputTreatments
{
    /// <summary>A treated copy of the p×N <paramref name="inputs"/>.</summary>
    public static double[,] Apply(this InputTreatment treatment, double[,] inputs)
    {
        int p = inputs.GetLength(0), n = inputs.GetLength(1);
        var x = (double[,])inputs.Clone();
        if (treatment == InputTreatment.Raw) return x;
        for (int i = 0; i < n; i++)
        {
            double mean = 0;
            for (int u = 0; u < p; u++) mean += x[u, i];
            mean /= p;
            double variance = 0;
            for (int u = 0; u < p; u++)
            {
                x[u, i] -= mean;
                variance += x[u, i] * x[u, i];
            }
            if (treatment == InputTreatment.Centred) continue;
            variance /= p;
            if (!(variance > 0)) throw new ArgumentException($"input {i} is constant over the samples and cannot be standardised", nameof(inputs));
            double scale = 1 / Math.Sqrt(variance);
            for (int u = 0; u < p; u++) x[u, i] *= scale;
        }
        return x;
    }
}
