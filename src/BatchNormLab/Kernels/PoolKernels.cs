using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace BatchNormLab.Kernels;

/// <summary>
/// Max and average 2-D pooling over row-major NCHW tensors, with PyTorch's semantics: x is [n,c,h,w], y is
/// [n,c,hOut,wOut] with hOut = <see cref="Conv2dKernels.OutputSize"/>(h, kh, stride, padding); max pooling pads
/// with −∞ and keeps the first maximum (NaN wins), average pooling counts the padding (count_include_pad=True).
/// Every plane is independent, so the loops are parallel over the n·c planes and each plane is summed in one
/// fixed order: results are bitwise reproducible and equal to <see cref="PoolReference"/>.
/// </summary>
public static class PoolKernels
{
    /// <summary>
    /// y[n,c,i,j] = max_{u,v} x[n,c,i·s+u−p, j·s+v−p];   argmax[n,c,i,j] = (i·s+u−p)·w + (j·s+v−p) of the first maximum,
    /// a flat index within the input plane, for <see cref="MaxPool2dBackward{T}"/>.
    /// </summary>
    public static unsafe void MaxPool2dForward<T>(ReadOnlySpan<T> x, int n, int c, int h, int w, int kh, int kw, int stride, int padding,
        Span<T> y, Span<int> argmax) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new PoolGeometry(n, c, h, w, kh, kw, stride, padding, x.Length, y.Length);
        if (argmax.Length != y.Length) throw new ArgumentException($"argmax has {argmax.Length} elements, expected {y.Length}", nameof(argmax));
        fixed (T* px = x)
        fixed (T* py = y)
        fixed (int* pa = argmax)
        {
            if (kh == 2 && kw == 2 && stride == 2 && padding == 0)
                Threading.For(n * c, g.MinPlanesPerPart, new Max2x2Body<T> { X = px, Y = py, Argmax = pa, G = g });
            else Threading.For(n * c, g.MinPlanesPerPart, new EachWindow<MaxWindow<T>>(g, new MaxWindow<T>(px, py, pa, w)));
        }
    }

    /// <summary>dx[n,c,q] = Σ_{i,j : argmax[n,c,i,j] = q} dy[n,c,i,j];   dx is overwritten.</summary>
    public static unsafe void MaxPool2dBackward<T>(ReadOnlySpan<T> dy, ReadOnlySpan<int> argmax, int n, int c, int h, int w, int kh, int kw,
        int stride, int padding, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new PoolGeometry(n, c, h, w, kh, kw, stride, padding, dx.Length, dy.Length);
        if (argmax.Length != dy.Length) throw new ArgumentException($"argmax has {argmax.Length} elements, expected {dy.Length}", nameof(argmax));
        fixed (T* pdy = dy)
        fixed (int* pa = argmax)
        fixed (T* pdx = dx)
            Threading.For(n * c, g.MinPlanesPerPart, new MaxBackwardBody<T> { Dy = pdy, Argmax = pa, Dx = pdx, G = g });
    }

    /// <summary>y[n,c,i,j] = Σ_{u,v} x[n,c,i·s+u−p, j·s+v−p] / (kh·kw)   (x is 0 outside the image).</summary>
    public static unsafe void AvgPool2dForward<T>(ReadOnlySpan<T> x, int n, int c, int h, int w, int kh, int kw, int stride, int padding,
        Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new PoolGeometry(n, c, h, w, kh, kw, stride, padding, x.Length, y.Length);
        fixed (T* px = x)
        fixed (T* py = y)
            Threading.For(n * c, g.MinPlanesPerPart, new EachWindow<AvgWindow<T>>(g, new AvgWindow<T>(px, py, w, kh * kw)));
    }

    /// <summary>dx[n,c,i·s+u−p, j·s+v−p] += dy[n,c,i,j] / (kh·kw) over all (i,j,u,v) inside the image;   dx is overwritten.</summary>
    public static unsafe void AvgPool2dBackward<T>(ReadOnlySpan<T> dy, int n, int c, int h, int w, int kh, int kw, int stride, int padding,
        Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new PoolGeometry(n, c, h, w, kh, kw, stride, padding, dx.Length, dy.Length);
        fixed (T* pdy = dy)
        fixed (T* pdx = dx)
            Threading.For(n * c, g.MinPlanesPerPart, new EachWindow<AvgSpread<T>>(g, new AvgSpread<T>(pdy, pdx, h, w, kh * kw)));
    }

    /// <summary>Shapes of one pooling, checked as PyTorch does.</summary>
    internal readonly struct PoolGeometry
    {
        public readonly int H, W, Kh, Kw, Stride, Padding, HOut, WOut;

        public PoolGeometry(int n, int c, int h, int w, int kh, int kw, int stride, int padding, int inputLength, int outputLength)
        {
            if (n < 1 || c < 1 || h < 1 || w < 1 || kh < 1 || kw < 1)
                throw new ArgumentOutOfRangeException(nameof(n), $"sizes must be positive: n={n} c={c} h={h} w={w} kh={kh} kw={kw}");
            if (stride < 1) throw new ArgumentOutOfRangeException(nameof(stride), stride, "stride must be at least 1");
            // As PyTorch: with at most half a kernel of padding every window holds at least one real pixel.
            if (padding < 0 || 2 * padding > kh || 2 * padding > kw)
                throw new ArgumentOutOfRangeException(nameof(padding), padding, $"padding must be between 0 and half the kernel {kh}×{kw}");
            if (h + 2 * padding < kh || w + 2 * padding < kw)
                throw new ArgumentException($"kernel {kh}×{kw} is larger than the padded input {h + 2 * padding}×{w + 2 * padding}");
            (H, W, Kh, Kw, Stride, Padding) = (h, w, kh, kw, stride, padding);
            HOut = Conv2dKernels.OutputSize(h, kh, stride, padding);
            WOut = Conv2dKernels.OutputSize(w, kw, stride, padding);
            if (inputLength != n * c * h * w) throw new ArgumentException($"input has {inputLength} elements, expected {n * c * h * w}");
            if (outputLength != n * c * HOut * WOut) throw new ArgumentException($"output has {outputLength} elements, expected {n * c * HOut * WOut}");
        }

        // Enough pixels per part that a thread's start-up is paid for.
        public int MinPlanesPerPart => Math.Max(1, (1 << 14) / (H * W));

        /// <summary>The window of output (i, j) clipped to the image: rows [h0, h1), columns [w0, w1).</summary>
        public void Window(int i, int j, out int h0, out int h1, out int w0, out int w1)
        {
            h0 = i * Stride - Padding;
            w0 = j * Stride - Padding;
            h1 = Math.Min(h0 + Kh, H);
            w1 = Math.Min(w0 + Kw, W);
            h0 = Math.Max(h0, 0);
            w0 = Math.Max(w0, 0);
        }
    }

    /// <summary>What a pooling does with each window; <see cref="EachWindow{TOp}"/> runs it over the planes.</summary>
    interface IWindowOp
    {
        /// <summary>Before the windows of the plane at <paramref name="input"/> (its offset in x or dx).</summary>
        void Plane(long input);

        /// <summary>The window of output <paramref name="output"/> (its index in y or dy): rows [h0, h1) and columns
        /// [w0, w1) of the plane at <paramref name="input"/>.</summary>
        void Window(long input, long output, int h0, int h1, int w0, int w1);
    }

    /// <summary>Every window of planes [start, end), in order; parallel over the planes.</summary>
    readonly struct EachWindow<TOp>(PoolGeometry g, TOp op) : IRangeBody where TOp : struct, IWindowOp
    {
        public void Run(int start, int end)
        {
            TOp each = op;
            for (int t = start; t < end; t++)
            {
                long input = (long)t * g.H * g.W, output = (long)t * g.HOut * g.WOut;
                each.Plane(input);
                for (int i = 0; i < g.HOut; i++)
                    for (int j = 0; j < g.WOut; j++)
                    {
                        g.Window(i, j, out int h0, out int h1, out int w0, out int w1);
                        each.Window(input, output + i * g.WOut + j, h0, h1, w0, w1);
                    }
            }
        }
    }

    /// <summary>y = the window's first maximum (NaN wins), argmax = its index in the plane.</summary>
    readonly unsafe struct MaxWindow<T>(T* x, T* y, int* argmax, int w) : IWindowOp where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Plane(long input) { }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Window(long input, long output, int h0, int h1, int w0, int w1)
        {
            T* xs = x + input;
            // The first pixel, as PyTorch's start from −∞ at that index; then strictly greater or NaN replaces.
            int at = h0 * w + w0;
            T max = xs[at];
            for (int hi = h0; hi < h1; hi++)
                for (int wi = w0; wi < w1; wi++) Take(xs[hi * w + wi], hi * w + wi, ref max, ref at);
            y[output] = max;
            argmax[output] = at;
        }
    }

    /// <summary>v at <paramref name="index"/> becomes the running max where it is greater or NaN: PyTorch's rule, under
    /// which the first maximum stays and NaN wins.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Take<T>(T v, int index, ref T max, ref int at) where T : IFloatingPointIeee754<T>
    {
        if (v > max || T.IsNaN(v)) (max, at) = (v, index);
    }

    /// <summary>
    /// The 2×2 stride-2 windows (VGG's pools) without the general window clipping: the same four pixels in the same
    /// order (row by row), so the same max and arg max.
    /// </summary>
    unsafe struct Max2x2Body<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X, Y;
        public int* Argmax;
        public PoolGeometry G;

        public readonly void Run(int start, int end)
        {
            int w = G.W, wOut = G.WOut, plane = G.H * w, outPlane = G.HOut * wOut;
            for (int t = start; t < end; t++)
            {
                T* xs = X + (long)t * plane;
                T* ys = Y + (long)t * outPlane;
                int* arg = Argmax + (long)t * outPlane;
                for (int i = 0; i < G.HOut; i++)
                {
                    int top = 2 * i * w, j = 0;
                    if (typeof(T) == typeof(float) && Avx2.IsSupported)
                        j = Row2x2((float*)xs, top, w, wOut, (float*)ys + i * wOut, arg + i * wOut);
                    for (; j < wOut; j++)
                    {
                        int first = top + 2 * j, at = first;
                        T max = xs[first];
                        Take(xs[first + 1], first + 1, ref max, ref at);
                        Take(xs[first + w], first + w, ref max, ref at);
                        Take(xs[first + w + 1], first + w + 1, ref max, ref at);
                        ys[i * wOut + j] = max;
                        arg[i * wOut + j] = at;
                    }
                }
            }
        }
    }

    /// <summary>
    /// <see cref="Max2x2Body{T}"/> for a whole row, 8 outputs at a time, branch-free: the even and odd columns
    /// of the two input rows are taken apart, and each later pixel replaces the running max where it is greater or
    /// NaN, as in the scalar loop. The last outputs of a row (7×7 planes have only those) go through the same code with
    /// masked loads and stores, which read and write nothing outside the row. Returns the outputs done (all of them).
    /// </summary>
    static unsafe int Row2x2(float* xs, int top, int w, int wOut, float* y, int* arg)
    {
        int j = 0;
        for (; j + 8 <= wOut; j += 8)
        {
            float* t = xs + top + 2 * j, b = t + w;
            var (max, index) = Max2x2(Avx.LoadVector256(t), Avx.LoadVector256(t + 8), Avx.LoadVector256(b), Avx.LoadVector256(b + 8), top + 2 * j, w);
            max.Store(y + j);
            index.Store(arg + j);
        }
        if (j < wOut)
        {
            // r < 8 outputs left: 2r input columns, in the first 8 floats and the next 8.
            int r = wOut - j;
            var lanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
            Vector256<float> first = Vector256.LessThan(lanes, Vector256.Create(2 * r)).AsSingle(), second = Vector256.LessThan(lanes, Vector256.Create(2 * r - 8)).AsSingle();
            var outputs = Vector256.LessThan(lanes, Vector256.Create(r));
            float* t = xs + top + 2 * j, b = t + w;
            var (max, index) = Max2x2(Avx.MaskLoad(t, first), Avx.MaskLoad(t + 8, second), Avx.MaskLoad(b, first), Avx.MaskLoad(b + 8, second), top + 2 * j, w);
            Avx.MaskStore(y + j, outputs.AsSingle(), max);
            Avx2.MaskStore(arg + j, outputs, index);
            j = wOut;
        }
        return j;
    }

    /// <summary>The max of 8 windows whose top rows are t0, t1 (16 floats) and bottom rows b0, b1, and its index in the plane (the window's first pixel at <paramref name="at"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector256<float> Max, Vector256<int> Index) Max2x2(Vector256<float> t0, Vector256<float> t1, Vector256<float> b0, Vector256<float> b1, int at, int w)
    {
        Vector256<float> max = Even(t0, t1);
        var offset = Vector256<int>.Zero;
        Take(Odd(t0, t1), 1, ref max, ref offset);
        Take(Even(b0, b1), w, ref max, ref offset);
        Take(Odd(b0, b1), w + 1, ref max, ref offset);
        return (max, Vector256.Create(at) + Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14) + offset);
    }

    /// <summary><see cref="Take{T}"/> on 8 windows: v replaces the max where greater or NaN, and the lane's offset
    /// within its window becomes <paramref name="at"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Take(Vector256<float> v, int at, ref Vector256<float> max, ref Vector256<int> offset)
    {
        var take = Vector256.GreaterThan(v, max) | ~Vector256.Equals(v, v);
        max = Vector256.ConditionalSelect(take, v, max);
        offset = Vector256.ConditionalSelect(take.AsInt32(), Vector256.Create(at), offset);
    }

    // Columns 0, 2, …, 14 (Even) or 1, 3, …, 15 (Odd) of the 16 floats a, b: a shuffle within 128-bit lanes, then the
    // 64-bit quarters put in order.
    static Vector256<float> Even(Vector256<float> a, Vector256<float> b) =>
        Avx2.Permute4x64(Avx.Shuffle(a, b, 0x88).AsDouble(), 0xD8).AsSingle();
    static Vector256<float> Odd(Vector256<float> a, Vector256<float> b) =>
        Avx2.Permute4x64(Avx.Shuffle(a, b, 0xDD).AsDouble(), 0xD8).AsSingle();

    unsafe struct MaxBackwardBody<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* Dy, Dx;
        public int* Argmax;
        public PoolGeometry G;

        public readonly void Run(int start, int end)
        {
            int plane = G.H * G.W, outPlane = G.HOut * G.WOut;
            for (int t = start; t < end; t++)
            {
                // A span, not a pointer: a corrupt argmax then throws instead of writing outside the plane.
                var dx = new Span<T>(Dx + (long)t * plane, plane);
                T* dy = Dy + (long)t * outPlane;
                int* arg = Argmax + (long)t * outPlane;
                dx.Clear();
                for (int q = 0; q < outPlane; q++) dx[arg[q]] += dy[q];
            }
        }
    }

    /// <summary>y = Σ over the window of x / (kh·kw), the padding counted as zeros.</summary>
    readonly unsafe struct AvgWindow<T>(T* x, T* y, int w, int taps) : IWindowOp where T : unmanaged, IFloatingPointIeee754<T>
    {
        readonly T divisor = T.CreateTruncating(taps);

        public void Plane(long input) { }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Window(long input, long output, int h0, int h1, int w0, int w1)
        {
            T* xs = x + input;
            T sum = T.Zero;
            for (int hi = h0; hi < h1; hi++)
                for (int wi = w0; wi < w1; wi++) sum += xs[hi * w + wi];
            y[output] = sum / divisor;
        }
    }

    /// <summary>dx[window] += dy / (kh·kw), each plane of dx cleared first.</summary>
    readonly unsafe struct AvgSpread<T>(T* dy, T* dx, int h, int w, int taps) : IWindowOp where T : unmanaged, IFloatingPointIeee754<T>
    {
        readonly T divisor = T.CreateTruncating(taps);

        public void Plane(long input) => new Span<T>(dx + input, h * w).Clear();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Window(long input, long output, int h0, int h1, int w0, int w1)
        {
            T* dxs = dx + input;
            T share = dy[output] / divisor;
            for (int hi = h0; hi < h1; hi++)
                for (int wi = w0; wi < w1; wi++) dxs[hi * w + wi] += share;
        }
    }
}
