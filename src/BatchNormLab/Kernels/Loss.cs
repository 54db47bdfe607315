using System.Numerics;

namespace BatchNormLab.Kernels;

/// <summary>Fused log-softmax + negative log-likelihood over rows of logits.</summary>
public static class Loss
{
    // logp[i,j] = x[i,j] − max_i − ln Σ_j e^{x[i,j] − max_i};  loss = −(1/N)·Σ_i logp[i, t_i]
    // (the max shift keeps e^x finite; sums in double)
    /// <summary>
    /// Cross-entropy of <paramref name="n"/> rows of <paramref name="k"/> logits (row-major) against one class index per row:
    /// writes the log-probabilities (n·k) and returns the mean negative log-likelihood.
    /// </summary>
    public static double CrossEntropyForward<T>(ReadOnlySpan<T> logits, int n, int k, ReadOnlySpan<int> targets, Span<T> logProbs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            var row = logits.Slice(i * k, k);
            double max = double.NegativeInfinity;
            foreach (var v in row) max = Math.Max(max, double.CreateTruncating(v));
            double sum = 0;
            foreach (var v in row) sum += Math.Exp(double.CreateTruncating(v) - max);
            double logSum = max + Math.Log(sum);
            for (int j = 0; j < k; j++) logProbs[i * k + j] = T.CreateTruncating(double.CreateTruncating(row[j]) - logSum);
            total -= double.CreateTruncating(row[targets[i]]) - logSum;
        }
        return total / n;
    }

    // dx[i,j] = (softmax[i,j] − [j = t_i])·g/N
    /// <summary>
    /// The gradient of <see cref="CrossEntropyForward{T}"/>'s loss scaled by <paramref name="gradOutput"/>, from the
    /// log-probabilities it wrote; overwrites <paramref name="dLogits"/>.
    /// </summary>
    public static void CrossEntropyBackward<T>(ReadOnlySpan<T> logProbs, int n, int k, ReadOnlySpan<int> targets, double gradOutput, Span<T> dLogits)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double scale = gradOutput / n;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < k; j++)
            {
                double p = Math.Exp(double.CreateTruncating(logProbs[i * k + j]));
                dLogits[i * k + j] = T.CreateTruncating((p - (j == targets[i] ? 1 : 0)) * scale);
            }
    }
}
