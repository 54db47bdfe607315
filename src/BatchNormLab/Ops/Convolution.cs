using System.Numerics;
using BatchNormLab.Kernels;

namespace BatchNormLab;

/// <summary>The geometry of a 2-D convolution: input (N, C, H, W), weight (Cout, C, Kh, Kw), stride, padding.</summary>
internal readonly record struct ConvShape(int N, int C, int H, int W, int COut, int Kh, int Kw, int Stride, int Padding)
{
    public int HOut => Conv2dKernels.OutputSize(H, Kh, Stride, Padding);
    public int WOut => Conv2dKernels.OutputSize(W, Kw, Stride, Padding);
    public int[] InputShape => [N, C, H, W];
    public int[] OutputShape => [N, COut, HOut, WOut];
    public int[] WeightShape => [COut, C, Kh, Kw];
}

// Convolution as three ops that are each other's derivatives. With y = conv(x, W):
//   dx = convᵀ_x(dy, W)   (BackwardInput)      dW = convᵀ_W(dy, x)   (BackwardWeight)
// and each of the three is bilinear, so the derivative of any one is made of the other two:
//   BackwardInput(g, W):  d/dg = conv(h, W),          d/dW = BackwardWeight(g, h)
//   BackwardWeight(g, x): d/dg = conv(x, H),          d/dx = BackwardInput(g, H)
public sealed partial class Tensor
{
    /// <summary>2-D convolution of an (N, C, H, W) input with a (Cout, C, Kh, Kw) weight and optional (Cout) bias.</summary>
    public Tensor Conv2d(Tensor weight, Tensor? bias, int stride = 1, int padding = 0)
    {
        if (Rank != 4) throw new ArgumentException($"Conv2d expects an (N, C, H, W) input, got shape {Format(shape)}");
        if (weight.Rank != 4 || weight.shape[1] != shape[1])
            throw new ArgumentException($"Conv2d: weight of shape {Format(weight.shape)} does not fit an input with {shape[1]} channels");
        if (bias is not null && (bias.Rank != 1 || bias.shape[0] != weight.shape[0]))
            throw new ArgumentException($"Conv2d: bias of shape {Format(bias.shape)}, expected [{weight.shape[0]}]");
        if (stride < 1 || padding < 0) throw new ArgumentException($"Conv2d: stride {stride} must be ≥ 1 and padding {padding} ≥ 0");
        var geometry = new ConvShape(shape[0], shape[1], shape[2], shape[3], weight.shape[0], weight.shape[2], weight.shape[3], stride, padding);
        if (geometry.HOut < 1 || geometry.WOut < 1)
            throw new ArgumentException($"Conv2d: a {geometry.Kh}×{geometry.Kw} kernel with padding {padding} does not fit a {shape[2]}×{shape[3]} input");
        return ConvForward(this, weight, bias, geometry);
    }

    static Tensor ConvForward(Tensor x, Tensor weight, Tensor? bias, ConvShape s)
    {
        CheckSameDType(x, weight, "Conv2d");
        var y = Uninitialized(x.DType, s.OutputShape);
        Dispatch(x.DType, new ConvForwardKernel(s, x, weight, bias, y));
        Tensor[] inputs = bias is null ? [x, weight] : [x, weight, bias];
        return Record(y, "Conv2d", inputs, g => [
            x.RequiresGrad ? ConvBackwardInput(g, weight, s) : null,
            weight.RequiresGrad ? ConvBackwardWeight(g, x, s) : null,
            .. bias is null ? [] : new[] { bias.RequiresGrad ? g.Sum([0, 2, 3]) : null }]);
    }

    static Tensor ConvBackwardInput(Tensor dy, Tensor weight, ConvShape s)
    {
        var dx = Uninitialized(dy.DType, s.InputShape);
        Dispatch(dy.DType, new ConvBackwardInputKernel(s, dy, weight, dx));
        return Record(dx, "Conv2dBackwardInput", [dy, weight], h => [
            dy.RequiresGrad ? ConvForward(h, weight, null, s) : null,
            weight.RequiresGrad ? ConvBackwardWeight(dy, h, s) : null]);
    }

    static Tensor ConvBackwardWeight(Tensor dy, Tensor x, ConvShape s)
    {
        var dWeight = Uninitialized(dy.DType, s.WeightShape);
        Dispatch(dy.DType, new ConvBackwardWeightKernel(s, dy, x, dWeight));
        return Record(dWeight, "Conv2dBackwardWeight", [dy, x], h => [
            dy.RequiresGrad ? ConvForward(x, h, null, s) : null,
            x.RequiresGrad ? ConvBackwardInput(dy, h, s) : null]);
    }

    readonly record struct ConvForwardKernel(ConvShape S, Tensor X, Tensor Weight, Tensor? Bias, Tensor Y) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> =>
            Conv2dKernels.Forward<T>(X.Span<T>(), S.N, S.C, S.H, S.W, Weight.Span<T>(), SpanOrEmpty<T>(Bias), S.COut, S.Kh, S.Kw, S.Stride, S.Padding, Y.Span<T>());
    }

    readonly record struct ConvBackwardInputKernel(ConvShape S, Tensor Dy, Tensor Weight, Tensor Dx) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> =>
            Conv2dKernels.BackwardInput<T>(Dy.Span<T>(), Weight.Span<T>(), S.N, S.C, S.H, S.W, S.COut, S.Kh, S.Kw, S.Stride, S.Padding, Dx.Span<T>());
    }

    readonly record struct ConvBackwardWeightKernel(ConvShape S, Tensor Dy, Tensor X, Tensor DWeight) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> =>
            Conv2dKernels.BackwardWeight<T>(Dy.Span<T>(), X.Span<T>(), S.N, S.C, S.H, S.W, S.COut, S.Kh, S.Kw, S.Stride, S.Padding, DWeight.Span<T>(), default);
    }
}
