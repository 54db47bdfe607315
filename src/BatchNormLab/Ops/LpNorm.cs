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
        var (n, c, s) = ChannelView(x);
        var y = RecycledLike(x);
        var mu = new double[c];
        var big = new double[c];
        if (x.DType == DType.Float32)
            LpNormKernels.ForwardTrain(x.FloatSpan, n, c, s, p, centred, gamma is null ? default : gamma.FloatSpan, beta is null ? default : beta.FloatSpan, eps, y.FloatSpan, mu, big);
        else
            LpNormKernels.ForwardTrain(x.DoubleSpan, n, c, s, p, centred, gamma is null ? default : gamma.DoubleSpan, beta is null ? default : beta.DoubleSpan, eps, y.DoubleSpan, mu, big);
        (mean, moment) = (mu, big);
        Tensor[] inputs = [x, .. Affine(gamma, beta)];
        return Record(y, "LpNorm", inputs, g =>
        {
            if (Autograd.IsEnabled) return Autograd.CompositeBackward(args => LpNormComposite(args[0], p, centred, gamma is null ? null : args[1], beta is null ? null : args[^1], eps), inputs, g);
            var dx = RecycledLike(x);
            var dGamma = gamma is null ? null : UninitializedLike(gamma);
            var dBeta = beta is null ? null : UninitializedLike(beta);
            if (x.DType == DType.Float32)
                LpNormKernels.BackwardTrain(g.FloatSpan, x.FloatSpan, n, c, s, p, centred, gamma is null ? default : gamma.FloatSpan, mu, big, eps,
                    dx.FloatSpan, dGamma is null ? default : dGamma.FloatSpan, dBeta is null ? default : dBeta.FloatSpan);
            else
                LpNormKernels.BackwardTrain(g.DoubleSpan, x.DoubleSpan, n, c, s, p, centred, gamma is null ? default : gamma.DoubleSpan, mu, big, eps,
                    dx.DoubleSpan, dGamma is null ? default : dGamma.DoubleSpan, dBeta is null ? default : dBeta.DoubleSpan);
            return [dx, .. Affine(dGamma, dBeta)];
        });
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
