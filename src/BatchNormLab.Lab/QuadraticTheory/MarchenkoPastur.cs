namespace BatchNormLab.QuadraticTheory;

/// <summary>
/// The Marchenko–Pastur law: the limit, as N, p → ∞ at α = p/N, of the eigenvalue distribution of
/// R = (1/p)·Σ_u x_u·x_uᵀ for N inputs with i.i.d. zero-mean entries of variance v (LeCun, Kanter &amp; Solla 1991,
/// eq. 13). A continuous part on [λ−, λ+], λ± = v(1 ± 1/√α)², of mass
/// min(1, α), and for α &lt; 1 the rest, 1 − α, at exactly zero (R has rank p).
/// </summary>
/// <param name="Ratio">α = p/N, samples per input.</param>
/// <param name="Variance">v, the inputs' variance.</param>
public sealed record MarchenkoPastur(double Ratio, double Variance)
{
    /// <summary>Midpoints per <see cref="Fraction"/> integral: the substituted integrand is smooth, so this is exact to ~1e-6.</summary>
    const int QuadraturePoints = 512;

    /// <summary>λ− = v(1 − 1/√α)², the continuous part's lower edge.</summary>
    public double Lower => Variance * Math.Pow(1 - 1 / Math.Sqrt(Ratio), 2);
    /// <summary>λ+ = v(1 + 1/√α)², the continuous part's upper edge.</summary>
    public double Upper => Variance * Math.Pow(1 + 1 / Math.Sqrt(Ratio), 2);

    /// <summary>The fraction of eigenvalues at exactly zero: 1 − α when p &lt; N, else 0.</summary>
    public double ZeroMass => Math.Max(0, 1 - Ratio);

    /// <summary>The continuous part's density per eigenvalue, α·√((λ+ − λ)(λ − λ−))/(2π·v·λ) on (λ−, λ+), 0 elsewhere.</summary>
    public double Density(double lambda) =>
        lambda <= Lower || lambda >= Upper || lambda <= 0 ? 0 : Ratio * Math.Sqrt((Upper - lambda) * (lambda - Lower)) / (2 * Math.PI * Variance * lambda);

    /// <summary>
    /// The fraction of eigenvalues the continuous part puts in [a, b]. With λ = c − r·cos θ
    /// (c, r the bulk's centre and half-width) the square root becomes r·sin θ and the integrand
    /// α·r²·sin²θ/(2π·v·λ) is smooth, so a midpoint rule over θ is accurate.
    /// </summary>
    public double Fraction(double a, double b)
    {
        double centre = (Upper + Lower) / 2, halfWidth = (Upper - Lower) / 2;
        double from = Angle(Math.Max(a, Lower)), to = Angle(Math.Min(b, Upper));
        if (!(to > from)) return 0;
        double h = (to - from) / QuadraturePoints, sum = 0;
        for (int i = 0; i < QuadraturePoints; i++)
        {
            double theta = from + (i + 0.5) * h;
            double sin = Math.Sin(theta);
            sum += sin * sin / (centre - halfWidth * Math.Cos(theta));
        }
        return Ratio * halfWidth * halfWidth * sum * h / (2 * Math.PI * Variance);

        double Angle(double lambda) => Math.Acos(Math.Clamp((centre - lambda) / halfWidth, -1, 1));
    }
}
