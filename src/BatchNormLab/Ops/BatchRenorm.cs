using BatchNormLab.Kernels;

namespace BatchNormLab;

// Batch Renormalization (Ioffe 2017) as a differentiable op: BatchNorm whose normalised values are corrected by
// r and d, constants of the step (stop-gradient), with the composite beside it for double backward.
public sealed partial class Tensor
{
    /// <summary>The per-channel batch mean and biased variance of an (N, C, ...) tensor, not recorded (Batch Renorm's r and d need them first).</summary>
    internal static (double[] Mean, double[] Variance) BatchStatistics(Tensor x)
    {
        var (n, c, s) = ChannelView(x);
        var mean = new double[c];
        var variance = new double[c];
        if (x.DType == DType.Float32) BatchNormKernels.Statistics<float>(x.FloatSpan, n, c, s, mean, variance);
        else BatchNormKernels.Statistics<double>(x.DoubleSpan, n, c, s, mean, variance);
        return (mean, variance);
    }

    /// <summary>
    /// Batch Renormalization's training forward (Ioffe 2017): y = γ·(x̂·r + d) + β with x̂ from the batch
    /// statistics (<paramref name="mean"/>, biased <paramref name="variance"/>, as <see cref="Kernels.BatchNormKernels.Statistics{T}"/>
    /// computes them from x) and per-channel corrections r, d that are constants for autodiff (stop-gradient).
    /// </summary>
    internal static Tensor BatchRenormTrain(Tensor x, Tensor? gamma, Tensor? beta, double eps, double[] mean, double[] variance, double[] r, double[] d)
    {
        var (n, c, s) = ChannelView(x);
        var gammaValues = gamma?.ToDoubleArray();
        var betaValues = beta?.ToDoubleArray();
        // y = (x − μ)·(γ·r/σ_B) + (γ·d + β)
        var scale = new double[c];
        var shift = new double[c];
        for (int ch = 0; ch < c; ch++)
        {
            double g = gammaValues?[ch] ?? 1;
            scale[ch] = g * r[ch] / Math.Sqrt(variance[ch] + eps);
            shift[ch] = g * d[ch] + (betaValues?[ch] ?? 0);
        }
        var y = RecycledLike(x);
        if (x.DType == DType.Float32) BatchNormKernels.ForwardNormalize(x.FloatSpan, n, c, s, mean, scale, shift, y.FloatSpan);
        else BatchNormKernels.ForwardNormalize(x.DoubleSpan, n, c, s, mean, scale, shift, y.DoubleSpan);
        Tensor[] inputs = [x, .. Affine(gamma, beta)];
        return Record(y, "BatchRenormTrain", inputs, g =>
        {
            if (Autograd.IsEnabled) return Autograd.CompositeBackward(args => BatchRenormTrainComposite(args[0], gamma is null ? null : args[1], beta is null ? null : args[^1], eps, r, d), inputs, g);
            // BatchNorm's backward with γ·r in γ's place gives dx and Σdy·x̂;  dγ = r·Σdy·x̂ + d·Σdy,  dβ = Σdy
            var effectiveGamma = FromArray(r.Select((rc, ch) => rc * (gammaValues?[ch] ?? 1)).ToArray(), c).To(x.DType);
            var dx = RecycledLike(x);
            var sumDyXhat = Uninitialized(x.DType, [c]);
            var sumDy = Uninitialized(x.DType, [c]);
            if (x.DType == DType.Float32)
                BatchNormKernels.BackwardTrain(g.FloatSpan, x.FloatSpan, n, c, s, effectiveGamma.FloatSpan, mean, variance, eps, dx.FloatSpan, sumDyXhat.FloatSpan, sumDy.FloatSpan);
            else
                BatchNormKernels.BackwardTrain(g.DoubleSpan, x.DoubleSpan, n, c, s, effectiveGamma.DoubleSpan, mean, variance, eps, dx.DoubleSpan, sumDyXhat.DoubleSpan, sumDy.DoubleSpan);
            Tensor? dGamma = null;
            if (gamma is not null)
            {
                var xhatTerm = sumDyXhat.ToDoubleArray();
                var dyTerm = sumDy.ToDoubleArray();
                dGamma = FromArray(Enumerable.Range(0, c).Select(ch => r[ch] * xhatTerm[ch] + d[ch] * dyTerm[ch]).ToArray(), c).To(x.DType);
            }
            return [dx, .. Affine(dGamma, beta is null ? null : sumDy)];
        });
    }

    // y = γ·(x̂·r + d) + β  with x̂ as in BatchNormTrainComposite and r, d constants
    internal static Tensor BatchRenormTrainComposite(Tensor x, Tensor? gamma, Tensor? beta, double eps, double[] r, double[] d)
    {
        var (n, c, s) = ChannelView(x);
        var xhat = BatchNormTrainComposite(x, null, null, eps).Reshape(n, c, s);
        var corrected = xhat * FromArray(r, 1, c, 1).To(x.DType) + FromArray(d, 1, c, 1).To(x.DType);
        return ScaleShift(corrected, gamma, beta, c).Reshape(x.shape);
    }
}
