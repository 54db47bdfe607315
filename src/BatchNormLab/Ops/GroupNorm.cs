using System.Numerics;
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
        int n = x.shape[0];
        var y = UninitializedLike(x);
        var groupMean = new double[n * groups];
        var groupVariance = new double[n * groups];
        Dispatch(x.DType, new GroupNormForwardKernel(x, groups, gamma, beta, eps, y, groupMean, groupVariance));
        (mean, variance) = (groupMean, groupVariance);
        Tensor[] inputs = [x, .. Affine(gamma, beta)];
        return Record(y, "GroupNorm", inputs, g =>
        {
            if (Autograd.IsEnabled) return Autograd.CompositeBackward(args => GroupNormComposite(args[0], groups, gamma is null ? null : args[1], beta is null ? null : args[^1], eps), inputs, g);
            var dx = UninitializedLike(x);
            var dGamma = gamma is null ? null : UninitializedLike(gamma);
            var dBeta = beta is null ? null : UninitializedLike(beta);
            Dispatch(x.DType, new GroupNormBackwardKernel(g, x, groups, gamma, groupMean, groupVariance, eps, dx, dGamma, dBeta));
            return [dx, .. Affine(dGamma, dBeta)];
        });
    }

    readonly record struct GroupNormForwardKernel(Tensor X, int Groups, Tensor? Gamma, Tensor? Beta, double Eps, Tensor Y, double[] Mean, double[] Variance) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var (n, c, s) = ChannelView(X);
            GroupNormKernels.Forward(X.Span<T>(), n, Groups, c / Groups, s, SpanOrEmpty<T>(Gamma), SpanOrEmpty<T>(Beta), Eps, Y.Span<T>(), Mean, Variance);
        }
    }

    readonly record struct GroupNormBackwardKernel(Tensor G, Tensor X, int Groups, Tensor? Gamma, double[] Mean, double[] Variance, double Eps,
        Tensor Dx, Tensor? DGamma, Tensor? DBeta) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var (n, c, s) = ChannelView(X);
            GroupNormKernels.Backward(G.Span<T>(), X.Span<T>(), n, Groups, c / Groups, s, SpanOrEmpty<T>(Gamma), Mean, Variance, Eps,
                Dx.Span<T>(), SpanOrEmpty<T>(DGamma), SpanOrEmpty<T>(DBeta));
        }
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
