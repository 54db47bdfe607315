using System.Runtime.Intrinsics;
using System.Numerics;
using System.Numerics.Tensors;

namespace BatchNormLab.Kernels;

/// <summary>The operation of <see cref="Elementwise.Binary{T}"/>: y = a ∘ b.</summary>
public enum BinaryOp
{
    /// <summary>a + b</summary>
    Add,
    /// <summary>a − b</summary>
    Subtract,
    /// <summary>a · b</summary>
    Multiply,
    /// <summary>a / b</summary>
    Divide,
    /// <summary>max(a, b)</summary>
    Maximum,
}

/// <summary>The function of <see cref="Elementwise.Unary{T}"/>: y = f(x).</summary>
public enum UnaryOp
{
    /// <summary>−x</summary>
    Negate,
    /// <summary>eˣ</summary>
    Exp,
    /// <summary>ln x</summary>
    Log,
    /// <summary>√x</summary>
    Sqrt,
    /// <summary>1/x</summary>
    Reciprocal,
    /// <summary>|x|</summary>
    Abs,
    /// <summary>max(x, 0)</summary>
    Relu,
    /// <summary>1 where x &gt; 0, else 0</summary>
    Step,
    /// <summary>1, −1 or 0 as x is positive, negative or zero</summary>
    Sign,
    /// <summary>1/(1 + e⁻ˣ)</summary>
    Sigmoid,
    /// <summary>tanh x</summary>
    Tanh,
}

/// <summary>
/// Elementwise kernels over contiguous row-major spans. Binary ops broadcast NumPy-style: shapes are
/// aligned on the right, dimensions of size 1 repeat. Adjacent dimensions are coalesced so the inner
/// loop is one long run (same-shape: the whole tensor; per-channel (1,C,1,1) against NCHW: H·W),
/// which TensorPrimitives vectorises. Large runs are split over threads in fixed parts.
/// </summary>
public static class Elementwise
{
    const int MinPerPart = 1 << 15;

    /// <summary>The broadcast result shape of two shapes, or an error naming both.</summary>
    public static int[] BroadcastShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var result = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            int db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"shapes [{string.Join(", ", a.ToArray())}] and [{string.Join(", ", b.ToArray())}] cannot be broadcast together (dimension {i}: {da} vs {db})");
            result[i] = da == 1 ? db : da;
        }
        return result;
    }

    /// <summary>y = a ∘ b with broadcasting; y has the broadcast shape.</summary>
    public static void Binary<T>(BinaryOp op, ReadOnlySpan<T> a, ReadOnlySpan<int> aShape, ReadOnlySpan<T> b, ReadOnlySpan<int> bShape, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var outShape = BroadcastShape(aShape, bShape);
        var plan = BroadcastPlan.Create(outShape, aShape, bShape);
        if (plan.Sizes.Length == 1 && plan.StrideA[0] == 1 && plan.StrideB[0] == 1 && y.Length >= 2 * MinPerPart)
        {
            // One contiguous run: split it over threads.
            unsafe
            {
                fixed (T* pa = a, pb = b, py = y)
                    Threading.For(y.Length, MinPerPart, new BinaryRange<T>(op, pa, pb, py));
            }
            return;
        }
        int inner = plan.Sizes[^1];
        int sa = plan.StrideA[^1], sb = plan.StrideB[^1];
        Span<int> index = stackalloc int[plan.Sizes.Length];
        int offA = 0, offB = 0;
        for (int offY = 0; offY < y.Length; offY += inner)
        {
            Run(op, a.Slice(offA, sa == 0 ? 1 : inner), sa == 0, b.Slice(offB, sb == 0 ? 1 : inner), sb == 0, y.Slice(offY, inner));
            plan.Advance(index, ref offA, ref offB);
        }
    }

    unsafe readonly struct BinaryRange<T>(BinaryOp op, T* a, T* b, T* y) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end) =>
            Elementwise.Run(op, new ReadOnlySpan<T>(a + start, end - start), false, new ReadOnlySpan<T>(b + start, end - start), false, new Span<T>(y + start, end - start));
    }

    static void Run<T>(BinaryOp op, ReadOnlySpan<T> a, bool aScalar, ReadOnlySpan<T> b, bool bScalar, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (aScalar && bScalar)
        {
            y.Fill(Apply(op, a[0], b[0]));
            return;
        }
        switch (op)
        {
            case BinaryOp.Add:
                if (aScalar) TensorPrimitives.Add(b, a[0], y); else if (bScalar) TensorPrimitives.Add(a, b[0], y); else TensorPrimitives.Add(a, b, y);
                break;
            case BinaryOp.Subtract:
                if (aScalar) TensorPrimitives.Subtract(a[0], b, y); else if (bScalar) TensorPrimitives.Subtract(a, b[0], y); else TensorPrimitives.Subtract(a, b, y);
                break;
            case BinaryOp.Multiply:
                if (aScalar) TensorPrimitives.Multiply(b, a[0], y); else if (bScalar) TensorPrimitives.Multiply(a, b[0], y); else TensorPrimitives.Multiply(a, b, y);
                break;
            case BinaryOp.Divide:
                if (aScalar) TensorPrimitives.Divide(a[0], b, y); else if (bScalar) TensorPrimitives.Divide(a, b[0], y); else TensorPrimitives.Divide(a, b, y);
                break;
            case BinaryOp.Maximum:
                if (aScalar) TensorPrimitives.Max(b, a[0], y); else if (bScalar) TensorPrimitives.Max(a, b[0], y); else TensorPrimitives.Max(a, b, y);
                break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }

    static T Apply<T>(BinaryOp op, T a, T b) where T : IFloatingPointIeee754<T> => op switch
    {
        BinaryOp.Add => a + b,
        BinaryOp.Subtract => a - b,
        BinaryOp.Multiply => a * b,
        BinaryOp.Divide => a / b,
        BinaryOp.Maximum => T.Max(a, b),
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    /// <summary>y = f(x) elementwise (x and y may be the same span).</summary>
    public static void Unary<T>(UnaryOp op, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Length >= 2 * MinPerPart)
        {
            unsafe
            {
                fixed (T* px = x, py = y)
                    Threading.For(x.Length, MinPerPart, new UnaryRange<T>(op, px, py));
            }
            return;
        }
        UnaryRun(op, x, y);
    }

    unsafe readonly struct UnaryRange<T>(UnaryOp op, T* x, T* y) : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end) => UnaryRun(op, new ReadOnlySpan<T>(x + start, end - start), new Span<T>(y + start, end - start));
    }

    static void UnaryRun<T>(UnaryOp op, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (op)
        {
            case UnaryOp.Negate: TensorPrimitives.Negate(x, y); break;
            case UnaryOp.Exp: TensorPrimitives.Exp(x, y); break;
            case UnaryOp.Log: TensorPrimitives.Log(x, y); break;
            case UnaryOp.Sqrt: TensorPrimitives.Sqrt(x, y); break;
            case UnaryOp.Reciprocal: TensorPrimitives.Reciprocal(x, y); break;
            case UnaryOp.Abs: TensorPrimitives.Abs(x, y); break;
            case UnaryOp.Relu: TensorPrimitives.Max(x, T.Zero, y); break;
            case UnaryOp.Sigmoid: TensorPrimitives.Sigmoid(x, y); break;
            case UnaryOp.Tanh: TensorPrimitives.Tanh(x, y); break;
            case UnaryOp.Step:
                for (int i = 0; i < x.Length; i++) y[i] = x[i] > T.Zero ? T.One : T.Zero;
                break;
            case UnaryOp.Sign:
                for (int i = 0; i < x.Length; i++) y[i] = x[i] > T.Zero ? T.One : x[i] < T.Zero ? -T.One : T.Zero;
                break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }

    /// <summary>dx = g·[x &gt; 0] elementwise, the ReLU backward in one pass (<see cref="ReluBackwardReference{T}"/> is the plain loop).</summary>
    public static unsafe void ReluBackward<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> x, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Length != g.Length || dx.Length != g.Length) throw new ArgumentException("ReluBackward: g, x and dx must have the same length");
        fixed (T* pg = g, px = x, pd = dx)
            Threading.For(g.Length, MinPerPart, new ReluBackwardRange<T>(pg, px, pd));
    }

    /// <summary>dx[i] = x[i] &gt; 0 ? g[i] : 0.</summary>
    public static void ReluBackwardReference<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> x, Span<T> dx) where T : IFloatingPointIeee754<T>
    {
        for (int i = 0; i < g.Length; i++) dx[i] = x[i] > T.Zero ? g[i] : T.Zero;
    }

    unsafe readonly struct ReluBackwardRange<T>(T* g, T* x, T* dx) : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            int i = start, w = Vector256<T>.Count;
            for (; i <= end - w; i += w)
                Vector256.Store(Vector256.ConditionalSelect(Vector256.GreaterThan(Vector256.Load(x + i), Vector256<T>.Zero), Vector256.Load(g + i), Vector256<T>.Zero), dx + i);
            for (; i < end; i++) dx[i] = x[i] > T.Zero ? g[i] : T.Zero;
        }
    }

    /// <summary>dst = src, split over threads when large (one thread cannot saturate memory bandwidth).</summary>
    public static void Copy<T>(ReadOnlySpan<T> src, Span<T> dst) where T : unmanaged
    {
        if (dst.Length < src.Length) throw new ArgumentException("copy destination is too short");
        // Overlapping spans need memmove's order; parts running side by side could read what another has written.
        if (src.Length < 2 * MinPerPart || src.Overlaps(dst))
        {
            src.CopyTo(dst);
            return;
        }
        unsafe
        {
            bool stream = (long)src.Length * sizeof(T) >= Simd.NonTemporalMinBytes && Vector256.IsHardwareAccelerated;
            fixed (T* ps = src, pd = dst)
                Threading.For(src.Length, MinPerPart, new CopyRange<T>(ps, pd, stream));
        }
    }

    /// <summary>The copy of elements [start, end), streamed or by memmove. Ordinary stores read a destination line before
    /// writing it; non-temporal stores of whole lines do not: 256 MiB took 12 ms here, memmove 17–20.</summary>
    unsafe readonly struct CopyRange<T>(T* src, T* dst, bool stream) : IRangeBody where T : unmanaged
    {
        public void Run(int start, int end)
        {
            byte* s = (byte*)(src + start), d = (byte*)(dst + start);
            long bytes = (long)(end - start) * sizeof(T);
            if (!stream)
            {
                Buffer.MemoryCopy(s, d, bytes, bytes);
                return;
            }
            long head = Math.Min(bytes, (64 - ((nint)d & 63)) & 63), at = head;
            Buffer.MemoryCopy(s, d, head, head);
            // Four lines per step: four loads in flight before their stores.
            if (Vector512.IsHardwareAccelerated)
                for (; at + 256 <= bytes; at += 256)
                {
                    var v0 = Vector512.Load(s + at); var v1 = Vector512.Load(s + at + 64); var v2 = Vector512.Load(s + at + 128); var v3 = Vector512.Load(s + at + 192);
                    Vector512.StoreAlignedNonTemporal(v0, d + at); Vector512.StoreAlignedNonTemporal(v1, d + at + 64);
                    Vector512.StoreAlignedNonTemporal(v2, d + at + 128); Vector512.StoreAlignedNonTemporal(v3, d + at + 192);
                }
            for (; at + 128 <= bytes; at += 128)
            {
                var v0 = Vector256.Load(s + at); var v1 = Vector256.Load(s + at + 32); var v2 = Vector256.Load(s + at + 64); var v3 = Vector256.Load(s + at + 96);
                Vector256.StoreAlignedNonTemporal(v0, d + at); Vector256.StoreAlignedNonTemporal(v1, d + at + 32);
                Vector256.StoreAlignedNonTemporal(v2, d + at + 64); Vector256.StoreAlignedNonTemporal(v3, d + at + 96);
            }
            Buffer.MemoryCopy(s + at, d + at, bytes - at, bytes - at);
            Simd.StoreFence();
        }
    }

    /// <summary>y = x^p elementwise for a scalar exponent.</summary>
    public static void Power<T>(ReadOnlySpan<T> x, T exponent, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> =>
        TensorPrimitives.Pow(x, exponent, y);
}

/// <summary>
/// Strides of the two inputs of a broadcast op over the output's dimensions (0 where an input
/// repeats), with adjacent dimensions merged wherever both inputs continue contiguously.
/// </summary>
internal readonly struct BroadcastPlan
{
    public readonly int[] Sizes, StrideA, StrideB;

    BroadcastPlan(int[] sizes, int[] strideA, int[] strideB) => (Sizes, StrideA, StrideB) = (sizes, strideA, strideB);

    public static BroadcastPlan Create(int[] outShape, ReadOnlySpan<int> aShape, ReadOnlySpan<int> bShape)
    {
        int rank = outShape.Length;
        var sa = InputStrides(outShape, aShape);
        var sb = InputStrides(outShape, bShape);
        var sizes = new List<int>(); var la = new List<int>(); var lb = new List<int>();
        for (int d = 0; d < rank; d++)
        {
            if (outShape[d] == 1) continue;
            int n = sizes.Count - 1;
            // Merge with the previous (outer) dimension when each input's stride continues it.
            if (n >= 0 && la[n] == sa[d] * outShape[d] && lb[n] == sb[d] * outShape[d])
            {
                sizes[n] *= outShape[d];
                la[n] = sa[d];
                lb[n] = sb[d];
                continue;
            }
            sizes.Add(outShape[d]); la.Add(sa[d]); lb.Add(sb[d]);
        }
        if (sizes.Count == 0) { sizes.Add(1); la.Add(0); lb.Add(0); }
        return new BroadcastPlan([.. sizes], [.. la], [.. lb]);
    }

    static int[] InputStrides(int[] outShape, ReadOnlySpan<int> shape)
    {
        int rank = outShape.Length, lead = rank - shape.Length;
        var strides = new int[rank];
        int stride = 1;
        for (int d = rank - 1; d >= 0; d--)
        {
            int size = d < lead ? 1 : shape[d - lead];
            strides[d] = size == 1 ? 0 : stride;
            stride *= size;
        }
        return strides;
    }

    /// <summary>Moves the input offsets to the next inner run (odometer over the outer dimensions).</summary>
    public void Advance(Span<int> index, ref int offA, ref int offB)
    {
        for (int d = Sizes.Length - 2; d >= 0; d--)
        {
            offA += StrideA[d]; offB += StrideB[d];
            if (++index[d] < Sizes[d]) return;
            offA -= StrideA[d] * Sizes[d]; offB -= StrideB[d] * Sizes[d];
            index[d] = 0;
        }
    }
}
