using BatchNormLab.Kernels;

namespace BatchNormLab;

// Ghost BatchNorm (Hoffer et al. 2017) as a differentiable op: BatchNorm over each virtual batch of consecutive samples.
public sealed partial class Tensor
{
    /// <summary>
    /// Ghost BatchNorm's training forward: BatchNorm with batch statistics of each virtual batch, the
    /// consecutive chunks of <paramref name="virtualBatchSize"/> samples along N (the last may be
    /// smaller); returns y and each chunk's mean and biased variance. One chunk is BatchNormTrain.
    /// </summary>
    internal static Tensor GhostBatchNormTrain(Tensor x, Tensor? gamma, Tensor? beta, double eps, int virtualBatchSize,
        out double[][] means, out double[][] variances)
    {
        int n = x.shape[0], c = x.shape[1];
        int chunks = (n + virtualBatchSize - 1) / virtualBatchSize;
        int ChunkRows(int j) => Math.Min(virtualBatchSize, n - j * virtualBatchSize);
        var y = UninitializedLike(x);
        var chunkMeans = new double[chunks][];
        var chunkVariances = new double[chunks][];
        for (int j = 0; j < chunks; j++)
        {
            (chunkMeans[j], chunkVariances[j]) = (new double[c], new double[c]);
            int first = j * virtualBatchSize, rows = ChunkRows(j);
            Dispatch(x.DType, new ForwardTrainKernel(RowsView(x, first, rows), gamma, beta, eps, RowsView(y, first, rows), chunkMeans[j], chunkVariances[j]));
        }
        (means, variances) = (chunkMeans, chunkVariances);
        Tensor[] inputs = [x, .. Affine(gamma, beta)];
        return Record(y, "GhostBatchNormTrain", inputs, g =>
        {
            if (Autograd.IsEnabled)
                return Autograd.CompositeBackward(args => ConcatRows(Enumerable.Range(0, chunks).Select(j => BatchNormTrainComposite(
                    args[0].Slice(j * virtualBatchSize, ChunkRows(j)), gamma is null ? null : args[1], beta is null ? null : args[^1], eps)).ToArray()), inputs, g);
            // Each chunk's BatchNorm backward into its rows of dx; dγ and dβ are the sums over chunks (in double, in chunk order).
            var dx = UninitializedLike(x);
            var dGammaSum = new double[c];
            var dBetaSum = new double[c];
            var dGamma = Uninitialized(x.DType, [c]);
            var dBeta = Uninitialized(x.DType, [c]);
            for (int j = 0; j < chunks; j++)
            {
                int first = j * virtualBatchSize, rows = ChunkRows(j);
                Dispatch(x.DType, new BackwardKernel(Eval: false, RowsView(g, first, rows), RowsView(x, first, rows), gamma, chunkMeans[j], chunkVariances[j], eps,
                    RowsView(dx, first, rows), dGamma, dBeta));
                var chunkGamma = dGamma.ToDoubleArray();
                var chunkBeta = dBeta.ToDoubleArray();
                for (int ch = 0; ch < c; ch++)
                {
                    dGammaSum[ch] += chunkGamma[ch];
                    dBetaSum[ch] += chunkBeta[ch];
                }
            }
            return [dx, .. Affine(gamma is null ? null : FromArray(dGammaSum, c).To(x.DType), beta is null ? null : FromArray(dBetaSum, c).To(x.DType))];
        });
    }

    // Rows [first, first + count) of x as a view outside the autodiff graph.
    static Tensor RowsView(Tensor x, int first, int count) => new(x.Data, x.Offset + first * (x.Length / x.shape[0]), [count, .. x.shape.AsSpan(1)]);
}
