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
        var y = Recycled(DType, s.OutputShape);
        var argmax = new int[y.Length];
        if (DType == DType.Float32) PoolKernels.MaxPool2dForward(FloatSpan, s.N, s.C, s.H, s.W, s.Kernel, s.Kernel, s.Stride, s.Padding, y.FloatSpan, argmax);
        else PoolKernels.MaxPool2dForward(DoubleSpan, s.N, s.C, s.H, s.W, s.Kernel, s.Kernel, s.Stride, s.Padding, y.DoubleSpan, argmax);
        // y = x[argmax]:  dx = scatter of g to the arg max positions
        return Record(y, "MaxPool2d", [this], g => [MaxPoolScatter(g, argmax, s)]);
    }

    static Tensor MaxPoolScatter(Tensor g, int[] argmax, PoolShape s)
    {
        var dx = Recycled(g.DType, s.InputShape);
        if (g.DType == DType.Float32) PoolKernels.MaxPool2dBackward(g.FloatSpan, argmax, s.N, s.C, s.H, s.W, s.Kernel, s.Kernel, s.Stride, s.Padding, dx.FloatSpan);
        else PoolKernels.MaxPool2dBackward(g.DoubleSpan, argmax, s.N, s.C, s.H, s.W, s.Kernel, s.Kernel, s.Stride, s.Padding, dx.DoubleSpan);
        return Record(dx, "MaxPoolScatter", [g], h => [MaxPoolGather(h, argmax, s)]);
    }

    static Tensor MaxPoolGather(Tensor h, int[] argmax, PoolShape s)
    {
        var y = Uninitialized(h.DType, s.OutputShape);
        if (h.DType == DType.Float32) Gather(h.FloatSpan, argmax, s, y.FloatSpan);
        else Gather(h.DoubleSpan, argmax, s, y.DoubleSpan);
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
        if (x.DType == DType.Float32) PoolKernels.AvgPool2dForward(x.FloatSpan, s.N, s.C, s.H, s.W, s.Kernel, s.Kernel, s.Stride, s.Padding, y.FloatSpan);
        else PoolKernels.AvgPool2dForward(x.DoubleSpan, s.N, s.C, s.H, s.W, s.Kernel, s.Kernel, s.Stride, s.Padding, y.DoubleSpan);
        return Record(y, "AvgPool2d", [x], g => [AvgPoolSpread(g, s)]);
    }

    static Tensor AvgPoolSpread(Tensor g, PoolShape s)
    {
        var dx = Uninitialized(g.DType, s.InputShape);
        if (g.DType == DType.Float32) PoolKernels.AvgPool2dBackward(g.FloatSpan, s.N, s.C, s.H, s.W, s.Kernel, s.Kernel, s.Stride, s.Padding, dx.FloatSpan);
        else PoolKernels.AvgPool2dBackward(g.DoubleSpan, s.N, s.C, s.H, s.W, s.Kernel, s.Kernel, s.Stride, s.Padding, dx.DoubleSpan);
        return Record(dx, "AvgPoolSpread", [g], h => [AvgPoolForward(h, s)]);
    }
}
