using System.Numerics;
using BatchNormLab.Kernels;

namespace BatchNormLab;

// BatchNorm as a differentiable op over any (N, C, ...) input. The fused kernels do the work; the
// composite versions below (built from primitive ops) are both the readable definition and the
// backward used when a graph of the backward is needed (double backward / Hessian-vector products).
public sealed partial class Tensor
{
    static (int N, int C, int S) ChannelView(Tensor x)
    {
        int s = 1;
        for (int d = 2; d < x.Rank; d++) s *= x.shape[d];
        return (x.shape[0], x.shape[1], s);
    }

    /// <summary>
    /// Training-mode BatchNorm with batch statistics; returns y and the per-channel batch mean and
    /// biased variance (for the running statistics). The statistics are functions of x, never detached.
    /// </summary>
    internal static Tensor BatchNormTrain(Tensor x, Tensor? gamma, Tensor? beta, double eps, out double[] mean, out double[] variance)
    {
        int c = x.shape[1];
        var y = UninitializedLike(x);
        var batchMean = new double[c];
        var batchVariance = new double[c];
        Dispatch(x.DType, new ForwardTrainKernel(x, gamma, beta, eps, y, batchMean, batchVariance));
        (mean, variance) = (batchMean, batchVariance);
        Tensor[] inputs = [x, .. Affine(gamma, beta)];
        return Record(y, "BatchNormTrain", inputs, g =>
        {
            var (dx, dGamma, dBeta) = Gradients(g, x, gamma, beta, batchMean, batchVariance, eps, eval: false);
            // A graph of the backward is wanted (double backward): each gradient becomes an op of (g, x, γ) in its own right.
            if (Autograd.IsEnabled)
            {
                dx = RecordInputGradient(dx, g, x, gamma, batchMean, batchVariance, eps);
                dGamma = dGamma is null ? null : RecordGammaGradient(dGamma, g, x, batchMean, batchVariance, eps);
                dBeta = dBeta is null ? null : RecordBetaGradient(dBeta, g);
            }
            return [dx, .. Affine(dGamma, dBeta)];
        });
    }

    // dx = γ·r·(g − mean g − x̂·mean(g·x̂)) as an op of (g, x, γ); its derivatives are in BatchNormKernels.DoubleBackward.
    static Tensor RecordInputGradient(Tensor dx, Tensor g, Tensor x, Tensor? gamma, double[] mean, double[] variance, double eps)
    {
        Tensor[] inputs = gamma is null ? [g, x] : [g, x, gamma];
        return Record(dx, "BatchNormInputGradient", inputs, a =>
        {
            if (Autograd.IsEnabled) return Autograd.CompositeBackward(args => InputGradientComposite(args[0], args[1], gamma is null ? null : args[2], eps), inputs, a);
            var dg = UninitializedLike(g);
            var dxOfX = UninitializedLike(x);
            var dGamma = gamma is null ? null : UninitializedLike(gamma);
            Dispatch(x.DType, new DoubleBackwardKernel(a, g, x, gamma, mean, variance, eps, dg, dxOfX, dGamma));
            return gamma is null ? [dg, dxOfX] : [dg, dxOfX, dGamma];
        });
    }

    // dγ = Σ g·x̂ as an op of (g, x):  ∂/∂g = h·x̂ (the eval form with γ := h),  ∂/∂x = h·r·(g − mean g − x̂·mean(g·x̂)) (the backward with γ := h)
    static Tensor RecordGammaGradient(Tensor dGamma, Tensor g, Tensor x, double[] mean, double[] variance, double eps)
    {
        return Record(dGamma, "BatchNormGammaGradient", [g, x], h =>
        {
            if (Autograd.IsEnabled) return Autograd.CompositeBackward(args => GammaGradientComposite(args[0], args[1], eps), [g, x], h);
            var dg = UninitializedLike(g);
            var dx = UninitializedLike(x);
            Dispatch(x.DType, new ForwardEvalKernel(x, h, null, mean, variance, eps, dg));
            Dispatch(x.DType, new BackwardKernel(Eval: false, g, x, h, mean, variance, eps, dx, null, null));
            return [dg, dx];
        });
    }

    /// <summary>BatchNorm with given (running) statistics: y = x·α + β' per channel.</summary>
    internal static Tensor BatchNormEval(Tensor x, Tensor? gamma, Tensor? beta, double[] mean, double[] variance, double eps)
    {
        var y = UninitializedLike(x);
        Dispatch(x.DType, new ForwardEvalKernel(x, gamma, beta, mean, variance, eps, y));
        Tensor[] inputs = [x, .. Affine(gamma, beta)];
        return Record(y, "BatchNormEval", inputs, g =>
        {
            var (dx, dGamma, dBeta) = Gradients(g, x, gamma, beta, mean, variance, eps, eval: true);
            if (Autograd.IsEnabled)
            {
                dx = RecordEvalInputGradient(dx, g, gamma, variance, eps);
                dGamma = dGamma is null ? null : RecordEvalGammaGradient(dGamma, g, x, mean, variance, eps);
                dBeta = dBeta is null ? null : RecordBetaGradient(dBeta, g);
            }
            return [dx, .. Affine(dGamma, dBeta)];
        });
    }

    // dx = g·γ·r (r from the running variance) as an op of (g, γ): bilinear, so  ∂/∂g = h·γ·r  and  ∂/∂γ = r·Σ g·h,
    // which is the eval backward of h at "input" g with mean 0.
    static Tensor RecordEvalInputGradient(Tensor dx, Tensor g, Tensor? gamma, double[] variance, double eps)
    {
        int c = g.shape[1];
        Tensor[] inputs = gamma is null ? [g] : [g, gamma];
        return Record(dx, "BatchNormEvalInputGradient", inputs, h =>
        {
            if (Autograd.IsEnabled) return Autograd.CompositeBackward(args => EvalInputGradientComposite(args[0], gamma is null ? null : args[1], variance, eps), inputs, h);
            var dg = UninitializedLike(g);
            var dGamma = gamma is null ? null : UninitializedLike(gamma);
            var zeros = new double[c];
            Dispatch(g.DType, new BackwardKernel(Eval: true, h, g, gamma, zeros, variance, eps, dg, dGamma, null));
            return gamma is null ? [dg] : [dg, dGamma];
        });
    }

    // dγ = Σ g·x̂ with x̂ = (x − running_mean)·r, as an op of (g, x):  ∂/∂g = h·x̂,  ∂/∂x = h·r·g  (both the eval form with γ := h)
    static Tensor RecordEvalGammaGradient(Tensor dGamma, Tensor g, Tensor x, double[] mean, double[] variance, double eps)
    {
        int c = x.shape[1];
        return Record(dGamma, "BatchNormEvalGammaGradient", [g, x], h =>
        {
            if (Autograd.IsEnabled) return Autograd.CompositeBackward(args => EvalGammaGradientComposite(args[0], args[1], mean, variance, eps), [g, x], h);
            var dg = UninitializedLike(g);
            var dx = UninitializedLike(x);
            var zeros = new double[c];
            Dispatch(x.DType, new ForwardEvalKernel(x, h, null, mean, variance, eps, dg));
            Dispatch(x.DType, new ForwardEvalKernel(g, h, null, zeros, variance, eps, dx));
            return [dg, dx];
        });
    }

    // dβ = Σ g per channel as an op of g:  ∂/∂g = h broadcast over the batch and spatial positions
    static Tensor RecordBetaGradient(Tensor dBeta, Tensor g)
    {
        var (n, c, s) = ChannelView(g);
        return Record(dBeta, "BatchNormBetaGradient", [g], h => [h.Reshape(1, c, 1).ExpandTo([n, c, s]).Reshape(g.shape)]);
    }

    /// <summary>The fused backward's values: with batch statistics (training) or constant ones (<paramref name="eval"/>).</summary>
    static (Tensor Dx, Tensor? DGamma, Tensor? DBeta) Gradients(Tensor g, Tensor x, Tensor? gamma, Tensor? beta, double[] mean, double[] variance, double eps, bool eval)
    {
        var dx = UninitializedLike(x);
        var dGamma = gamma is null ? null : UninitializedLike(gamma);
        var dBeta = beta is null ? null : UninitializedLike(beta);
        Dispatch(x.DType, new BackwardKernel(eval, g, x, gamma, mean, variance, eps, dx, dGamma, dBeta));
        return (dx, dGamma, dBeta);
    }

    // The kernel calls, each written once for float and double.
    readonly record struct ForwardTrainKernel(Tensor X, Tensor? Gamma, Tensor? Beta, double Eps, Tensor Y, double[] Mean, double[] Variance) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var (n, c, s) = ChannelView(X);
            BatchNormKernels.ForwardTrain(X.Span<T>(), n, c, s, SpanOrEmpty<T>(Gamma), SpanOrEmpty<T>(Beta), Eps, Y.Span<T>(), Mean, Variance);
        }
    }

    readonly record struct ForwardEvalKernel(Tensor X, Tensor? Gamma, Tensor? Beta, double[] Mean, double[] Variance, double Eps, Tensor Y) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var (n, c, s) = ChannelView(X);
            BatchNormKernels.ForwardEval(X.Span<T>(), n, c, s, SpanOrEmpty<T>(Gamma), SpanOrEmpty<T>(Beta), Mean, Variance, Eps, Y.Span<T>());
        }
    }

    // With batch statistics (training) or constant ones (Eval); absent outputs are skipped.
    readonly record struct BackwardKernel(bool Eval, Tensor G, Tensor X, Tensor? Gamma, double[] Mean, double[] Variance, double Eps,
        Tensor Dx, Tensor? DGamma, Tensor? DBeta) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var (n, c, s) = ChannelView(X);
            if (Eval) BatchNormKernels.BackwardEval(G.Span<T>(), X.Span<T>(), n, c, s, SpanOrEmpty<T>(Gamma), Mean, Variance, Eps, Dx.Span<T>(), SpanOrEmpty<T>(DGamma), SpanOrEmpty<T>(DBeta));
            else BatchNormKernels.BackwardTrain(G.Span<T>(), X.Span<T>(), n, c, s, SpanOrEmpty<T>(Gamma), Mean, Variance, Eps, Dx.Span<T>(), SpanOrEmpty<T>(DGamma), SpanOrEmpty<T>(DBeta));
        }
    }

    readonly record struct DoubleBackwardKernel(Tensor A, Tensor G, Tensor X, Tensor? Gamma, double[] Mean, double[] Variance, double Eps,
        Tensor Dg, Tensor DxOfX, Tensor? DGamma) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var (n, c, s) = ChannelView(X);
            BatchNormKernels.DoubleBackward(A.Span<T>(), G.Span<T>(), X.Span<T>(), n, c, s, SpanOrEmpty<T>(Gamma), Mean, Variance, Eps,
                Dg.Span<T>(), DxOfX.Span<T>(), SpanOrEmpty<T>(DGamma));
        }
    }

    static Tensor[] Affine(Tensor? gamma, Tensor? beta) => [.. gamma is null ? [] : new[] { gamma }, .. beta is null ? [] : new[] { beta }];

    // x̂ = (x − μ_B)/√(σ²_B + ε) with μ_B, σ²_B (biased) over N and the spatial dims;  y = γ·x̂ + β
    internal static Tensor BatchNormTrainComposite(Tensor x, Tensor? gamma, Tensor? beta, double eps)
    {
        int c = x.shape[1];
        return ScaleShift(NormalizedComposite(x, eps).Xhat, gamma, beta, c).Reshape(x.shape);
    }

    // The training backward's gradients from primitive ops (for third derivatives, and as the readable definition):
    //   dx = γ·r·(g − mean g − x̂·mean(g·x̂)),  dγ = Σ g·x̂
    internal static Tensor InputGradientComposite(Tensor g, Tensor x, Tensor? gamma, double eps)
    {
        var (n, c, s) = ChannelView(x);
        var (xhat, invStd) = NormalizedComposite(x, eps);
        var g3 = g.Reshape(n, c, s);
        var dx = (g3 - g3.Mean([0, 2], keepDim: true) - xhat * (g3 * xhat).Mean([0, 2], keepDim: true)) * invStd;
        return (gamma is null ? dx : dx * gamma.Reshape(1, c, 1)).Reshape(x.shape);
    }

    internal static Tensor GammaGradientComposite(Tensor g, Tensor x, double eps)
    {
        var (n, c, s) = ChannelView(x);
        return (g.Reshape(n, c, s) * NormalizedComposite(x, eps).Xhat).Sum([0, 2]);
    }

    // x̂ = (x − μ_B)·r and r = 1/√(σ²_B + ε) over (N, C, S), both functions of x
    static (Tensor Xhat, Tensor InvStd) NormalizedComposite(Tensor x, double eps)
    {
        var (n, c, s) = ChannelView(x);
        var x3 = x.Reshape(n, c, s);
        var centered = x3 - x3.Mean([0, 2], keepDim: true);
        var invStd = ((centered * centered).Mean([0, 2], keepDim: true) + eps).Pow(-0.5);
        return (centered * invStd, invStd);
    }

    // The eval backward's gradients from primitive ops (third derivatives):  dx = g·γ·r,  dγ = Σ g·(x − running_mean)·r
    internal static Tensor EvalInputGradientComposite(Tensor g, Tensor? gamma, double[] variance, double eps)
    {
        var (n, c, s) = ChannelView(g);
        var scale = FromArray(variance.Select(v => 1 / Math.Sqrt(v + eps)).ToArray(), 1, c, 1).To(g.DType);
        if (gamma is not null) scale = scale * gamma.Reshape(1, c, 1);
        return (g.Reshape(n, c, s) * scale).Reshape(g.shape);
    }

    internal static Tensor EvalGammaGradientComposite(Tensor g, Tensor x, double[] mean, double[] variance, double eps)
    {
        var (n, c, s) = ChannelView(x);
        return (g * BatchNormEvalComposite(x, null, null, mean, variance, eps)).Reshape(n, c, s).Sum([0, 2]);
    }

    // x̂ = (x − running_mean)/√(running_var + ε);  y = γ·x̂ + β
    internal static Tensor BatchNormEvalComposite(Tensor x, Tensor? gamma, Tensor? beta, double[] mean, double[] variance, double eps)
    {
        var (n, c, s) = ChannelView(x);
        var mu = FromArray(mean, 1, c, 1).To(x.DType);
        var invStd = FromArray(variance.Select(v => 1 / Math.Sqrt(v + eps)).ToArray(), 1, c, 1).To(x.DType);
        var xhat = (x.Reshape(n, c, s) - mu) * invStd;
        return ScaleShift(xhat, gamma, beta, c).Reshape(x.shape);
    }

    static Tensor ScaleShift(Tensor xhat, Tensor? gamma, Tensor? beta, int c)
    {
        var y = gamma is null ? xhat : xhat * gamma.Reshape(1, c, 1);
        return beta is null ? y : y + beta.Reshape(1, c, 1);
    }
}
