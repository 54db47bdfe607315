using System.Numerics;
using BatchNormLab.Kernels;

namespace BatchNormLab;

// ℓp normalisation (Nn.LpNorm) in training mode as a differentiable op over any (N, C, ...) input. As with
// BatchNorm, the fused kernels do the work and the composite below is both the definition and the backward
// used when a graph of the backward is needed (double backward / Hessian-vector products).
public sealed partial class Tensor
{
    /// <summary>
    /// ℓp normalisation with batch statistics per channel; returns y, the per-channel mean (0 when not
    /// <paramref name="centred"/>) and the ℓp moment M (mean |c|ᵖ, or max |c| for p = ∞), for the running statistics.
    /// The statistics are functions of x, never detached.
    /// </summary>
    internal static Tensor LpNormTrain(Tensor x, double p, bool centred, Tensor? gamma, Tensor? beta, double eps, out double[] mean, out double[] moment)
    {
        int c = x.shape[1];
        var y = UninitializedLike(x);
        var mu = new double[c];
        var big = new double[c];
        Dispatch(x.DType, new LpNormForwardKernel(x, p, centred, gamma, beta, eps, y, mu, big));
        (mean, moment) = (mu, big);
        Tensor[] inputs = [x, .. Affine(gamma, beta)];
        return Record(y, "LpNorm", inputs, g =>
        {
            if (Autograd.IsEnabled) return Autograd.CompositeBackward(args => LpNormComposite(args[0], p, centred, gamma is null ? null : args[1], beta is null ? null : args[^1], eps), inputs, g);
            var dx = UninitializedLike(x);
            var dGamma = gamma is null ? null : UninitializedLike(gamma);
            var dBeta = beta is null ? null : UninitializedLike(beta);
            Dispatch(x.DType, new LpNormBackwardKernel(g, x, p, centred, gamma, mu, big, eps, dx, dGamma, dBeta));
            return [dx, .. Affine(dGamma, dBeta)];
        });
    }

    readonly record struct LpNormForwardKernel(Tensor X, double P, bool Centred, Tensor? Gamma, Tensor? Beta, double Eps, Tensor Y, double[] Mean, double[] Moment) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var (n, c, s) = ChannelView(X);
            LpNormKernels.ForwardTrain(X.Span<T>(), n, c, s, P, Centred, SpanOrEmpty<T>(Gamma), SpanOrEmpty<T>(Beta), Eps, Y.Span<T>(), Mean, Moment);
        }
    }

    readonly record struct LpNormBackwardKernel(Tensor G, Tensor X, double P, bool Centred, Tensor? Gamma, double[] Mean, double[] Moment, double Eps,
        Tensor Dx, Tensor? DGamma, Tensor? DBeta) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var (n, c, s) = ChannelView(X);
            LpNormKernels.BackwardTrain(G.Span<T>(), X.Span<T>(), n, c, s, P, Centred, SpanOrEmpty<T>(Gamma), Mean, Moment, Eps,
                Dx.Span<T>(), SpanOrEmpty<T>(DGamma), SpanOrEmpty<T>(DBeta));
        }
    }

    // c = x − μ (μ the batch mean, or 0 when not centred);  x̂ = c·(M + ε)^(−1/q),  M = mean |c|ᵖ (q = p = 1, 2) or max |c| (q = 1);  y = γ·x̂ + β
    // (statistics over axes 0 and 2 of (N, C, S), functions of x; the max's gradient goes to the first maximum)
    internal static Tensor LpNormComposite(Tensor x, double p, bool centred, Tensor? gamma, Tensor? beta, double eps)
    {
        var (n, c, s) = ChannelView(x);
        var v = x.Reshape(n, c, s);
        var centredValues = centred ? v - v.Mean([0, 2], keepDim: true) : v;
        var moment = p switch
        {
            1 => centredValues.Abs().Mean([0, 2], keepDim: true),
            2 => (centredValues * centredValues).Mean([0, 2], keepDim: true),
            _ => centredValues.Abs().Max(2, keepDim: true).Max(0, keepDim: true),
        };
        var xhat = centredValues * (moment + eps).Pow(p == 2 ? -0.5 : -1.0);
        return ScaleShift(xhat, gamma, beta, c).Reshape(x.shape);
    }
}
