namespace BatchNormLab.Kernels;

/// <summary>
/// ℓp normalisation in training mode (<see cref="Nn.LpNorm"/>) over an (N, C, S) view in plain double loops,
/// per channel over N and S; slow and obvious. <see cref="LpNormKernels"/> is tested against it.
/// </summary>
public static class LpNormReference
{
    // μ = mean x (centred) or 0;  c = x − μ;  M = mean |c|ᵖ (p = 1, 2) or max |c| (p = ∞);  D = (M + ε)^(1/q);  y = γ·c/D + β
    /// <summary>
    /// Training forward with norm <paramref name="p"/> = 1, 2 or ∞: writes y, and μ and M per channel into
    /// <paramref name="mean"/> and <paramref name="moment"/> (μ = 0 unless <paramref name="centred"/>).
    /// Null γ means γ = 1, null β means β = 0.
    /// </summary>
    public static void ForwardTrain(double[] x, int n, int c, int s, double p, bool centred, double[]? gamma, double[]? beta, double eps,
        double[] y, double[] mean, double[] moment)
    {
        for (int ch = 0; ch < c; ch++)
        {
            var values = Channel(x, n, c, s, ch).ToArray();
            double mu = centred ? values.Average() : 0;
            double m = p switch
            {
                1 => values.Average(v => Math.Abs(v - mu)),
                2 => values.Average(v => (v - mu) * (v - mu)),
                _ => values.Max(v => Math.Abs(v - mu)),
            };
            double d = p == 2 ? Math.Sqrt(m + eps) : m + eps;
            (mean[ch], moment[ch]) = (mu, m);
            foreach (int i in Indices(n, c, s, ch))
                y[i] = (gamma?[ch] ?? 1) * (x[i] - mu) / d + (beta?[ch] ?? 0);
        }
    }

    // With a = γ/D and dM/dc_i = sign(c_i)/m (p = 1), 2c_i/m (p = 2), or sign(c_k) at the first largest |c_k| only (p = ∞):
    //   dc_i = a·dy_i + K·dM/dc_i,  K = dL/dD · dD/dM = −γ·Σ dy·c/(D·q·(M + ε));   dx = dc − mean(dc) (centred) or dc
    //   dγ = Σ dy·c/D,  dβ = Σ dy
    /// <summary>
    /// Training backward from the μ and M <see cref="ForwardTrain"/> wrote: overwrites dx, and dγ, dβ per channel.
    /// Null γ means γ = 1.
    /// </summary>
    public static void BackwardTrain(double[] dy, double[] x, int n, int c, int s, double p, bool centred, double[]? gamma, double[] mean, double[] moment,
        double eps, double[] dx, double[] dGamma, double[] dBeta)
    {
        for (int ch = 0; ch < c; ch++)
        {
            var indices = Indices(n, c, s, ch).ToArray();
            double m = indices.Length, mu = mean[ch], big = moment[ch], g = gamma?[ch] ?? 1;
            double d = p == 2 ? Math.Sqrt(big + eps) : big + eps, q = p == 2 ? 2 : 1;
            double sumDyC = indices.Sum(i => dy[i] * (x[i] - mu));
            (dGamma[ch], dBeta[ch]) = (sumDyC / d, indices.Sum(i => dy[i]));
            double k = -g * sumDyC / (d * q * (big + eps));
            int first = p == 2 || p == 1 ? -1 : indices.First(i => Math.Abs(x[i] - mu) == big);
            double DMoment(int i) => p switch
            {
                1 => Math.Sign(x[i] - mu) / m,
                2 => 2 * (x[i] - mu) / m,
                _ => i == first ? Math.Sign(x[i] - mu) : 0,
            };
            var dc = indices.Select(i => g / d * dy[i] + k * DMoment(i)).ToArray();
            double shift = centred ? dc.Average() : 0;
            for (int j = 0; j < indices.Length; j++) dx[indices[j]] = dc[j] - shift;
        }
    }

    static IEnumerable<int> Indices(int n, int c, int s, int ch) =>
        Enumerable.Range(0, n).SelectMany(i => Enumerable.Range((i * c + ch) * s, s));

    static IEnumerable<double> Channel(double[] x, int n, int c, int s, int ch) => Indices(n, c, s, ch).Select(i => x[i]);
}
