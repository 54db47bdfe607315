using System.Numerics;
using BatchNormLab.Kernels;

namespace BatchNormLab;

/// <summary>The geometry of a 2-D pooling window over (N, C, H, W).</summary>
internal readonly record struct PoolShape(int N, int C, int H, int W, int Kernel, int Stride, int Padding)
{
    public int HOut => Conv2dKernels.OutputSize(H, Kernel, Stride, Padding);
    public int WOut => Conv2dKernels.OutputSize(W, Kernel, Stride, Padding);
    public int[] InputShape => [N, C, H, W];
    public int[] OutputShape => [N, C, HOut, WOut];
}

// Pooling ops. Max pooling routes each output to the input that won (arg max, fixed after the
// forward), so its backward is a scatter and the scatter's backward is the matching gather; both
// are linear. Average pooling is linear too: its backward spreads, and the spread's backward averages.
public sealed partial class Tensor
{
    static PoolShape CheckPool(Tensor x, int kernel, int stride, int padding, string op)
    {
        if (x.Rank != 4) throw new ArgumentException($"{op} expects an (N, C, H, W) input, got shape {Format(x.shape)}");
        if (kernel < 1 || stride < 1 || padding < 0 || padding * 2 > kernel)
            throw new ArgumentException($"{op}: kernel {kernel} and stride {stride} must be ≥ 1, padding {padding} between 0 and half the kernel");
        var s = new PoolShape(x.shape[0], x.shape[1], x.shape[2], x.shape[3], kernel, stride, padding);
        if (s.HOut < 1 || s.WOut < 1) throw new ArgumentException($"{op}: a {kernel}×{kernel} window does not fit a {s.H}×{s.W} input");
        return s;
    }

    /// <summary>Max pooling with a square window (stride defaults to the kernel size).</summary>
    public Tensor MaxPool2d(int kernel, int? stride = null, int padding = 0)
    {
        var s = CheckPool(this, kernel, stride ?? kernel, padding, "MaxPool2d");
        var y = Uninitialized(DType, s.OutputShape);
        var argmax = StoragePool.Rent<int>(y.Length);
        Dispatch(DType, new PoolKernel(PoolPass.MaxForward, s, this, y, argmax));
        // y = x[argmax]:  dx = scatter of g to the arg max positions
        return Record(y, "MaxPool2d", [this], g => [MaxPoolScatter(g, argmax, s)]);
    }

    static Tensor MaxPoolScatter(Tensor g, int[] argmax, PoolShape s)
    {
        var dx = Uninitialized(g.DType, s.InputShape);
        Dispatch(g.DType, new PoolKernel(PoolPass.MaxScatter, s, g, dx, argmax));
        return Record(dx, "MaxPoolScatter", [g], h => [MaxPoolGather(h, argmax, s)]);
    }

    static Tensor MaxPoolGather(Tensor h, int[] argmax, PoolShape s)
    {
        var y = Uninitialized(h.DType, s.OutputShape);
        Dispatch(h.DType, new PoolKernel(PoolPass.MaxGather, s, h, y, argmax));
        return Record(y, "MaxPoolGather", [h], g => [MaxPoolScatter(g, argmax, s)]);
    }

    // y[plane, q] = x[plane, argmax[plane, q]]
    static void Gather<T>(ReadOnlySpan<T> x, int[] argmax, PoolShape s, Span<T> y)
    {
        int inPlane = s.H * s.W, outPlane = s.HOut * s.WOut;
        for (int plane = 0; plane < s.N * s.C; plane++)
            for (int q = 0; q < outPlane; q++)
                y[plane * outPlane + q] = x[plane * inPlane + argmax[plane * outPlane + q]];
    }

    /// <summary>Average pooling with a square window, zero padding counted (PyTorch's count_include_pad).</summary>
    public Tensor AvgPool2d(int kernel, int? stride = null, int padding = 0) =>
        AvgPoolForward(this, CheckPool(this, kernel, stride ?? kernel, padding, "AvgPool2d"));

    static Tensor AvgPoolForward(Tensor x, PoolShape s)
    {
        var y = Uninitialized(x.DType, s.OutputShape);
        Dispatch(x.DType, new PoolKernel(PoolPass.AvgForward, s, x, y, null));
        return Record(y, "AvgPool2d", [x], g => [AvgPoolSpread(g, s)]);
    }

    static Tensor AvgPoolSpread(Tensor g, PoolShape s)
    {
        var dx = Uninitialized(g.DType, s.InputShape);
        Dispatch(g.DType, new PoolKernel(PoolPass.AvgSpread, s, g, dx, null));
        return Record(dx, "AvgPoolSpread", [g], h => [AvgPoolForward(h, s)]);
    }


    enum PoolPass { MaxForward, MaxScatter, MaxGather, AvgForward, AvgSpread }

    // One pooling pass from input to output (the window's arg max positions are written by MaxForward, read by the others).
    readonly record struct PoolKernel(PoolPass Pass, PoolShape S, Tensor Input, Tensor Output, int[]? Argmax) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            Span<T> x = Input.Span<T>(), y = Output.Span<T>();
            switch (Pass)
            {
                case PoolPass.MaxForward: PoolKernels.MaxPool2dForward<T>(x, S.N, S.C, S.H, S.W, S.Kernel, S.Kernel, S.Stride, S.Padding, y, Argmax); break;
                case PoolPass.MaxScatter: PoolKernels.MaxPool2dBackward<T>(x, Argmax, S.N, S.C, S.H, S.W, S.Kernel, S.Kernel, S.Stride, S.Padding, y); break;
                case PoolPass.MaxGather: Gather<T>(x, Argmax!, S, y); break;
                case PoolPass.AvgForward: PoolKernels.AvgPool2dForward<T>(x, S.N, S.C, S.H, S.W, S.Kernel, S.Kernel, S.Stride, S.Padding, y); break;
                default: PoolKernels.AvgPool2dBackward<T>(x, S.N, S.C, S.H, S.W, S.Kernel, S.Kernel, S.Stride, S.Padding, y); break;
            }
        }
    }
}
