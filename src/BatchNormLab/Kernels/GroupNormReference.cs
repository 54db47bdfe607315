namespace BatchNormLab.Kernels;

/// <summary>
/// The textbook GroupNorm over an (N, G, K, S) view in plain double loops: two-pass statistics per
/// (sample, group), the three-term backward. Slow and obvious; <see cref="GroupNormKernels"/> is tested against it.
/// </summary>
public static class GroupNormReference
{
    /// <summary>
    /// Forward: y = (x − μ_row)/√(σ²_row + ε)·γ_c + β_c, c = g·K + k; writes y, and the mean and biased variance per
    /// row (n, g) into <paramref name="mean"/> and <paramref name="variance"/> (N·G each). Null γ means γ = 1, null β means β = 0.
    /// </summary>
    public static void Forward(double[] x, int n, int groups, int k, int s, double[]? gamma, double[]? beta, double eps,
        double[] y, double[] mean, double[] variance)
    {
        int d = k * s;
        for (int row = 0; row < n * groups; row++)
        {
            double sum = 0;
            for (int j = 0; j < d; j++) sum += x[row * d + j];
            double mu = sum / d, sq = 0;
            for (int j = 0; j < d; j++) sq += (x[row * d + j] - mu) * (x[row * d + j] - mu);
            mean[row] = mu;
            variance[row] = sq / d;
            double invStd = 1 / Math.Sqrt(variance[row] + eps);
            for (int j = 0; j < d; j++)
            {
                int c = row % groups * k + j / s;
                y[row * d + j] = (x[row * d + j] - mu) * invStd * (gamma?[c] ?? 1) + (beta?[c] ?? 0);
            }
        }
    }

    // per row, with g = γ_c·dy:  dx = r·(g − mean(g) − x̂·mean(g·x̂));  dγ_c = Σ dy·x̂,  dβ_c = Σ dy (over samples and S)
    /// <summary>
    /// Backward from the per-row statistics <see cref="Forward"/> wrote: overwrites dx, and dγ, dβ per channel (G·K each).
    /// Null γ means γ = 1.
    /// </summary>
    public static void Backward(double[] dy, double[] x, int n, int groups, int k, int s, double[]? gamma, double[] mean, double[] variance,
        double eps, double[] dx, double[] dGamma, double[] dBeta)
    {
        int d = k * s;
        Array.Clear(dGamma);
        Array.Clear(dBeta);
        for (int row = 0; row < n * groups; row++)
        {
            double r = 1 / Math.Sqrt(variance[row] + eps), sumG = 0, sumGXhat = 0;
            for (int j = 0; j < d; j++)
            {
                int c = row % groups * k + j / s;
                double xhat = (x[row * d + j] - mean[row]) * r, g = dy[row * d + j] * (gamma?[c] ?? 1);
                sumG += g;
                sumGXhat += g * xhat;
                dGamma[c] += dy[row * d + j] * xhat;
                dBeta[c] += dy[row * d + j];
            }
            for (int j = 0; j < d; j++)
            {
                int c = row % groups * k + j / s;
                double xhat = (x[row * d + j] - mean[row]) * r, g = dy[row * d + j] * (gamma?[c] ?? 1);
                dx[row * d + j] = r * (g - sumG / d - xhat * sumGXhat / d);
            }
        }
    }
}
