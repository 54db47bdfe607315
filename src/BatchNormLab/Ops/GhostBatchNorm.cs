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
        var (n, c, s) = ChannelView(x);
        int chunks = (n + virtualBatchSize - 1) / virtualBatchSize;
        int ChunkRows(int j) => Math.Min(virtualBatchSize, n - j * virtualBatchSize);
        var y = RecycledLike(x);
        var chunkMeans = new double[chunks][];
        var chunkVariances = new double[chunks][];
        for (int j = 0; j < chunks; j++)
        {
            (chunkMeans[j], chunkVariances[j]) = (new double[c], new double[c]);
            int rows = ChunkRows(j), start = j * virtualBatchSize * c * s, length = rows * c * s;
            if (x.DType == DType.Float32)
                BatchNormKernels.ForwardTrain<float>(x.FloatSpan.Slice(start, length), rows, c, s, gamma is null ? default : gamma.FloatSpan,
                    beta is null ? default : beta.FloatSpan, eps, y.FloatSpan.Slice(start, length), chunkMeans[j], chunkVariances[j]);
            else
                BatchNormKernels.ForwardTrain<double>(x.DoubleSpan.Slice(start, length), rows, c, s, gamma is null ? default : gamma.DoubleSpan,
                    beta is null ? default : beta.DoubleSpan, eps, y.DoubleSpan.Slice(start, length), chunkMeans[j], chunkVariances[j]);
        }
        (means, variances) = (chunkMeans, chunkVariances);
        Tensor[] inputs = [x, .. Affine(gamma, beta)];
        return Record(y, "GhostBatchNormTrain", inputs, g =>
        {
            if (Autograd.IsEnabled)
                return Autograd.CompositeBackward(args => ConcatRows(Enumerable.Range(0, chunks).Select(j => BatchNormTrainComposite(
                    args[0].Slice(j * virtualBatchSize, ChunkRows(j)), gamma is null ? null : args[1], beta is null ? null : args[^1], eps)).ToArray()), inputs, g);
            // Each chunk's BatchNorm backward into its rows of dx; dγ and dβ are the sums over chunks (in double, in chunk order).
            var dx = RecycledLike(x);
            var dGammaSum = new double[c];
            var dBetaSum = new double[c];
            var dGamma = Uninitialized(x.DType, [c]);
            var dBeta = Uninitialized(x.DType, [c]);
            for (int j = 0; j < chunks; j++)
            {
                int rows = ChunkRows(j), start = j * virtualBatchSize * c * s, length = rows * c * s;
                if (x.DType == DType.Float32)
                    BatchNormKernels.BackwardTrain<float>(g.FloatSpan.Slice(start, length), x.FloatSpan.Slice(start, length), rows, c, s,
                        gamma is null ? default : gamma.FloatSpan, chunkMeans[j], chunkVariances[j], eps, dx.FloatSpan.Slice(start, length), dGamma.FloatSpan, dBeta.FloatSpan);
                else
                    BatchNormKernels.BackwardTrain<double>(g.DoubleSpan.Slice(start, length), x.DoubleSpan.Slice(start, length), rows, c, s,
                        gamma is null ? default : gamma.DoubleSpan, chunkMeans[j], chunkVariances[j], eps, dx.DoubleSpan.Slice(start, length), dGamma.DoubleSpan, dBeta.DoubleSpan);
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
}
