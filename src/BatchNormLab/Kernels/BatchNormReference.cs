namespace BatchNormLab.Kernels;

/// <summary>
/// The textbook BatchNorm over an (N, C, S) view in plain double loops: two-pass statistics, the
/// three-term backward. Slow and obvious; the fused kernels are tested against it.
/// </summary>
public static class BatchNormReference
{
    /// <summary>
    /// Training forward: y = (x − μ_c)/√(σ²_c + ε)·γ_c + β_c over (N, C, S); writes y, and the mean and biased
    /// variance per channel into <paramref name="mean"/> and <paramref name="variance"/>. Null γ means γ = 1, null β means β = 0.
    /// </summary>
    public static void ForwardTrain(double[] x, int n, int c, int s, double[]? gamma, double[]? beta, double eps,
        double[] y, double[] mean, double[] variance)
    {
        double m = (double)n * s;
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0;
            foreach (int i in Indices(n, c, s, ch)) sum += x[i];
            double mu = sum / m, sq = 0;
            foreach (int i in Indices(n, c, s, ch)) sq += (x[i] - mu) * (x[i] - mu);
            mean[ch] = mu;
            variance[ch] = sq / m;
            double invStd = 1 / Math.Sqrt(variance[ch] + eps);
            foreach (int i in Indices(n, c, s, ch))
                y[i] = (x[i] - mu) * invStd * (gamma?[ch] ?? 1) + (beta?[ch] ?? 0);
        }
    }

    // dx = γ·r·(dy − mean(dy) − x̂·mean(dy·x̂)),  dγ = Σ dy·x̂,  dβ = Σ dy
    /// <summary>
    /// Training backward from the batch statistics <see cref="ForwardTrain"/> wrote: overwrites dx, and dγ, dβ per channel.
    /// Null γ means γ = 1.
    /// </summary>
    public static void BackwardTrain(double[] dy, double[] x, int n, int c, int s, double[]? gamma, double[] mean, double[] variance,
        double eps, double[] dx, double[] dGamma, double[] dBeta)
    {
        double m = (double)n * s;
        for (int ch = 0; ch < c; ch++)
        {
            double r = 1 / Math.Sqrt(variance[ch] + eps), sumDy = 0, sumDyXhat = 0;
            foreach (int i in Indices(n, c, s, ch))
            {
                sumDy += dy[i];
                sumDyXhat += dy[i] * (x[i] - mean[ch]) * r;
            }
            dBeta[ch] = sumDy;
            dGamma[ch] = sumDyXhat;
            foreach (int i in Indices(n, c, s, ch))
            {
                double xhat = (x[i] - mean[ch]) * r;
                dx[i] = (gamma?[ch] ?? 1) * r * (dy[i] - sumDy / m - xhat * sumDyXhat / m);
            }
        }
    }

    static IEnumerable<int> Indices(int n, int c, int s, int ch)
    {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < s; j++)
                yield return (i * c + ch) * s + j;
    }
}
