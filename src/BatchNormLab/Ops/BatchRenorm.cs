using System.Numerics;
using BatchNormLab.Kernels;

namespace BatchNormLab;

// Batch Renormalization (Ioffe 2017) as a differentiable op: BatchNorm whose normalised values are corrected by
// r and d, constants of the step (stop-gradient), with the composite beside it for double backward.
public sealed partial class Tensor
{
    /// <summary>The per-channel batch mean and biased variance of an (N, C, ...) tensor, not recorded (Batch Renorm's r and d need them first).</summary>
    internal static (double[] Mean, double[] Variance) BatchStatistics(Tensor x)
    {
        int c = x.shape[1];
        var mean = new double[c];
        var variance = new double[c];
        Dispatch(x.DType, new StatisticsKernel(x, mean, variance));
        return (mean, variance);
    }

    /// <summary>
    /// Batch Renormalization's training forward (Ioffe 2017): y = γ·(x̂·r + d) + β with x̂ from the batch
    /// statistics (<paramref name="mean"/>, biased <paramref name="variance"/>, as <see cref="Kernels.BatchNormKernels.Statistics{T}"/>
    /// computes them from x) and per-channel corrections r, d that are constants for autodiff (stop-gradient).
    /// </summary>
    internal static Tensor BatchRenormTrain(Tensor x, Tensor? gamma, Tensor? beta, double eps, double[] mean, double[] variance, double[] r, double[] d)
    {
        int c = x.shape[1];
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
        var y = UninitializedLike(x);
        Dispatch(x.DType, new NormalizeKernel(x, mean, scale, shift, y));
        Tensor[] inputs = [x, .. Affine(gamma, beta)];
        return Record(y, "BatchRenormTrain", inputs, g =>
        {
            if (Autograd.IsEnabled) return Autograd.CompositeBackward(args => BatchRenormTrainComposite(args[0], gamma is null ? null : args[1], beta is null ? null : args[^1], eps, r, d), inputs, g);
            // BatchNorm's backward with γ·r in γ's place gives dx and Σdy·x̂;  dγ = r·Σdy·x̂ + d·Σdy,  dβ = Σdy
            var effectiveGamma = FromArray(r.Select((rc, ch) => rc * (gammaValues?[ch] ?? 1)).ToArray(), c).To(x.DType);
            var dx = UninitializedLike(x);
            var sumDyXhat = Uninitialized(x.DType, [c]);
            var sumDy = Uninitialized(x.DType, [c]);
            Dispatch(x.DType, new BackwardKernel(Eval: false, g, x, effectiveGamma, mean, variance, eps, dx, sumDyXhat, sumDy));
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

    readonly record struct StatisticsKernel(Tensor X, double[] Mean, double[] Variance) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var (n, c, s) = ChannelView(X);
            BatchNormKernels.Statistics(X.Span<T>(), n, c, s, Mean, Variance);
        }
    }

    // y = (x − mean)·scale + shift per channel
    readonly record struct NormalizeKernel(Tensor X, double[] Mean, double[] Scale, double[] Shift, Tensor Y) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var (n, c, s) = ChannelView(X);
            BatchNormKernels.ForwardNormalize(X.Span<T>(), n, c, s, Mean, Scale, Shift, Y.Span<T>());
        }
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
