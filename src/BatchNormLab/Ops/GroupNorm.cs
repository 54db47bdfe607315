using BatchNormLab.Kernels;

namespace BatchNormLab;

// GroupNorm as a differentiable op over any (N, C, ...) input; LayerNorm and InstanceNorm are its
// special cases (one group over the trailing values; one group per channel). As with BatchNorm, the
// kernels do the work and the composite below is both the definition and the backward used when
// a graph of the backward is needed (double backward / Hessian-vector products).
public sealed partial class Tensor
{
    /// <summary>
    /// GroupNorm with statistics per sample and group of C/<paramref name="groups"/> channels (over
    /// those channels and the spatial dims); returns y and each (sample, group)'s mean and biased
    /// variance, N·G values in sample-major order. The statistics are functions of x, never detached.
    /// </summary>
    internal static Tensor GroupNorm(Tensor x, int groups, Tensor? gamma, Tensor? beta, double eps, out double[] mean, out double[] variance)
    {
        var (n, c, s) = ChannelView(x);
        int k = c / groups;
        var y = RecycledLike(x);
        var groupMean = new double[n * groups];
        var groupVariance = new double[n * groups];
        if (x.DType == DType.Float32)
            GroupNormKernels.Forward(x.FloatSpan, n, groups, k, s, gamma is null ? default : gamma.FloatSpan, beta is null ? default : beta.FloatSpan, eps, y.FloatSpan, groupMean, groupVariance);
        else
            GroupNormKernels.Forward(x.DoubleSpan, n, groups, k, s, gamma is null ? default : gamma.DoubleSpan, beta is null ? default : beta.DoubleSpan, eps, y.DoubleSpan, groupMean, groupVariance);
        (mean, variance) = (groupMean, groupVariance);
        Tensor[] inputs = [x, .. Affine(gamma, beta)];
        return Record(y, "GroupNorm", inputs, g =>
        {
            if (Autograd.IsEnabled) return Autograd.CompositeBackward(args => GroupNormComposite(args[0], groups, gamma is null ? null : args[1], beta is null ? null : args[^1], eps), inputs, g);
            var dx = RecycledLike(x);
            var dGamma = gamma is null ? null : UninitializedLike(gamma);
            var dBeta = beta is null ? null : UninitializedLike(beta);
            if (x.DType == DType.Float32)
                GroupNormKernels.Backward(g.FloatSpan, x.FloatSpan, n, groups, k, s, gamma is null ? default : gamma.FloatSpan, groupMean, groupVariance, eps,
                    dx.FloatSpan, dGamma is null ? default : dGamma.FloatSpan, dBeta is null ? default : dBeta.FloatSpan);
            else
                GroupNormKernels.Backward(g.DoubleSpan, x.DoubleSpan, n, groups, k, s, gamma is null ? default : gamma.DoubleSpan, groupMean, groupVariance, eps,
                    dx.DoubleSpan, dGamma is null ? default : dGamma.DoubleSpan, dBeta is null ? default : dBeta.DoubleSpan);
            return [dx, .. Affine(dGamma, dBeta)];
        });
    }

    // x̂ = (x − μ)/√(σ² + ε) with μ, σ² (biased) per sample and group over (C/G, spatial);  y = γ_c·x̂ + β_c
    internal static Tensor GroupNormComposite(Tensor x, int groups, Tensor? gamma, Tensor? beta, double eps)
    {
        var (n, c, s) = ChannelView(x);
        var grouped = x.Reshape(n, groups, c / groups * s);
        var centered = grouped - grouped.Mean([2], keepDim: true);
        var variance = (centered * centered).Mean([2], keepDim: true);
        var xhat = (centered * (variance + eps).Pow(-0.5)).Reshape(n, c, s);
        return ScaleShift(xhat, gamma, beta, c).Reshape(x.shape);
    }
}
