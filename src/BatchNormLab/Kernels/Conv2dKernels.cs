using System.Buffers;
using System.Numerics;
using System.Runtime.Intrinsics;

namespace BatchNormLab.Kernels;

/// <summary>
/// 2-D convolution (cross-correlation, as PyTorch's Conv2d) over row-major NCHW tensors, by im2col and
/// <see cref="Gemm"/> (the forward of a same-size convolution with a short k straight from the image, with
/// the GEMM's sums: Conv2dDirect.cs). x is [n,c,h,w], weight [cOut,c,kh,kw], bias [cOut] or empty,
/// y [n,cOut,hOut,wOut]; s is the stride and p the zero padding on both axes.
/// </summary>
/// <remarks>
/// A group of images has its columns laid side by side in one [c·kh·kw, images·hOut·wOut] matrix, so that
/// small planes still give a wide GEMM. With at least two groups per thread the groups are the work items
/// (<see cref="Threading.ForEachItem{TBody}"/>): each runs im2col, a serial GEMM with the weight packed once per
/// call, and col2im on one core, its column buffer in that core's L2, with no barrier between the steps; a
/// worker slowed by other work on a shared machine just takes fewer groups. Otherwise the groups run one after
/// another with the GEMM, im2col and col2im each split across the threads. The weight gradient is split by
/// chunks of images (small weights: each chunk sums its own dWᵀ, the chunks are added in order) or by blocks of
/// rows of dWᵀ. Every sum runs in an order fixed by the shapes alone, so results are bitwise the same for any
/// thread count. Scratch comes from <see cref="ArrayPool{T}"/>, so the kernels allocate nothing of their own in
/// steady state.
/// </remarks>
public static partial class Conv2dKernels
{
    /// <summary>Output length along one axis: (size + 2·padding − kernel) / stride + 1.</summary>
    public static int OutputSize(int size, int kernel, int stride, int padding) => (size + 2 * padding - kernel) / stride + 1;

    /// <summary>
    /// y[n,o,i,j] = b[o] + Σ_{c,u,v} W[o,c,u,v]·x[n,c,i·s+u−p, j·s+v−p]   (x is 0 outside the image).
    /// </summary>
    public static unsafe void Forward<T>(ReadOnlySpan<T> x, int n, int c, int h, int w, ReadOnlySpan<T> weight, ReadOnlySpan<T> bias,
        int cOut, int kh, int kw, int stride, int padding, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new ConvGeometry(n, c, h, w, cOut, kh, kw, stride, padding);
        g.Check(x.Length, nameof(x), y.Length, nameof(y), weight.Length);
        if (!bias.IsEmpty && bias.Length != cOut) throw new ArgumentException($"bias has {bias.Length} elements, expected 0 or {cOut}", nameof(bias));
        if (DirectForwardFits<T>(g))
        {
            fixed (T* px = x, pw = weight, pb = bias, py = y) DirectForward(px, pw, bias.IsEmpty ? null : pb, py, g);
            return;
        }
        ForwardByColumns(x, weight, bias, y, g);
    }

    /// <summary><see cref="Forward{T}"/> by im2col and the GEMM, whatever the shapes (the direct forward's reference).</summary>
    internal static void ForwardByColumns<T>(ReadOnlySpan<T> x, int n, int c, int h, int w, ReadOnlySpan<T> weight, ReadOnlySpan<T> bias,
        int cOut, int kh, int kw, int stride, int padding, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new ConvGeometry(n, c, h, w, cOut, kh, kw, stride, padding);
        g.Check(x.Length, nameof(x), y.Length, nameof(y), weight.Length);
        ForwardByColumns(x, weight, bias, y, g);
    }

    /// <summary>Whether <see cref="Forward{T}"/> takes the direct path for these shapes.</summary>
    internal static bool UsesDirectForward<T>(int n, int c, int h, int w, int cOut, int kh, int kw, int stride, int padding) where T : unmanaged =>
        DirectForwardFits<T>(new ConvGeometry(n, c, h, w, cOut, kh, kw, stride, padding));

    static unsafe void ForwardByColumns<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> weight, ReadOnlySpan<T> bias, Span<T> y, in ConvGeometry g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int cOut = g.COut;
        int groups = g.Groups<T>();
        bool spread = Spread(groups);
        T[]? packed = spread ? PackWeight(false, cOut, g.K, weight) : null;
        fixed (T* px = x, pw = weight, pp = packed, pb = bias, py = y)
            ForEach(groups, spread, new EachGroup<T, ForwardGroup<T>>(g, new ForwardGroup<T>(g, px, pw, pp, bias.IsEmpty ? null : pb, py)));
        if (packed != null) ArrayPool<T>.Shared.Return(packed);
    }

    /// <summary>
    /// dx[n,c,hi,wi] = Σ_{o,u,v,i,j : i·s+u−p = hi, j·s+v−p = wi} W[o,c,u,v]·dy[n,o,i,j];   dx is overwritten.
    /// </summary>
    public static unsafe void BackwardInput<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> weight, int n, int c, int h, int w,
        int cOut, int kh, int kw, int stride, int padding, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new ConvGeometry(n, c, h, w, cOut, kh, kw, stride, padding);
        g.Check(dx.Length, nameof(dx), dy.Length, nameof(dy), weight.Length);

        int groups = g.Groups<T>();
        bool spread = Spread(groups);
        T[]? packed = spread ? PackWeight(true, g.K, cOut, weight) : null;
        fixed (T* pdy = dy, pw = weight, pp = packed, pdx = dx)
            ForEach(groups, spread, new EachGroup<T, BackwardInputGroup<T>>(g, new BackwardInputGroup<T>(g, pdy, pw, pp, pdx)));
        if (packed != null) ArrayPool<T>.Shared.Return(packed);
    }

    /// <summary>
    /// dW[o,c,u,v] = Σ_{n,i,j} dy[n,o,i,j]·x[n,c,i·s+u−p, j·s+v−p];   db[o] = Σ_{n,i,j} dy[n,o,i,j].
    /// Both are overwritten; an empty <paramref name="dBias"/> skips the bias gradient.
    /// </summary>
    public static unsafe void BackwardWeight<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, int n, int c, int h, int w,
        int cOut, int kh, int kw, int stride, int padding, Span<T> dWeight, Span<T> dBias) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new ConvGeometry(n, c, h, w, cOut, kh, kw, stride, padding);
        g.Check(x.Length, nameof(x), dy.Length, nameof(dy), dWeight.Length);
        if (!dBias.IsEmpty && dBias.Length != cOut) throw new ArgumentException($"dBias has {dBias.Length} elements, expected 0 or {cOut}", nameof(dBias));

        // dWᵀ[r, o] = Σ_q col[r, q]·dy[o, q], computed transposed because the GEMM then splits the long side k and
        // gathers only the short dy transposed; one dWᵀ per chunk of images, added in chunk order.
        int k = g.K, chunks = g.WeightChunkCount, rowsPerItem = WeightRowsPerItem<T>(k), rowBlocks = (k + rowsPerItem - 1) / rowsPerItem;
        T[] dwT = ArrayPool<T>.Shared.Rent(chunks * k * cOut);
        try
        {
            fixed (T* px = x, pdy = dy, pdw = dwT)
            {
                if (chunks == 1 && Spread(rowBlocks)) WeightByRows(px, dy, g, rowsPerItem, rowBlocks, pdw);
                else
                {
                    bool spread = Spread(chunks);
                    ForEach(chunks, spread, new WeightChunks<T> { X = px, Dy = pdy, DwT = pdw, G = g, Chunks = chunks, Serial = spread });
                    for (int q = 1; q < chunks; q++) AddTo(pdw, pdw + (long)q * k * cOut, k * cOut);
                }
            }
            TransposeMatrix(dwT, k, cOut, dWeight);
        }
        finally
        {
            ArrayPool<T>.Shared.Return(dwT);
        }
        if (!dBias.IsEmpty) BiasGradient(dy, n, cOut, g.P, dBias);
    }

    /// <summary>
    /// Whether the work items (groups of images, chunks of them, blocks of rows of dWᵀ) are spread over the threads,
    /// each serial on one core (its column buffer in that core's cache, no barrier between the steps), rather than
    /// run one after another with every step split across the threads: with at least two items per thread. Each
    /// item's result is the same either way.
    /// </summary>
    static bool Spread(int items) => items >= 2 * Threading.Threads;

    /// <summary>Runs <paramref name="body"/> over items [0, count): spread over the threads (each item serial) or one
    /// after another on this thread.</summary>
    static void ForEach<TBody>(int count, bool spread, TBody body) where TBody : struct, IRangeBody
    {
        if (spread) Threading.ForEachItem(count, body);
        else body.Run(0, count);
    }

    /// <summary>op(W) (m×k: W itself, or Wᵀ when <paramref name="transpose"/>), the A of every group's GEMM, packed once
    /// for the groups spread over the threads instead of once per group.</summary>
    static T[] PackWeight<T>(bool transpose, int m, int k, ReadOnlySpan<T> weight) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] packed = ArrayPool<T>.Shared.Rent(Gemm.PackedALength<T>(m, k));
        Gemm.PackA(transpose, m, k, weight, transpose ? m : k, packed);
        return packed;
    }

    /// <summary>C = op(W)·B, C m×n: serial from the packed op(W) where there is one, else split across the threads.</summary>
    static unsafe void MultiplyWeight<T>(bool transpose, int m, int n, int k, T* weight, T* packed, ReadOnlySpan<T> b, Span<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (packed != null)
            Gemm.MultiplySerialPacked(m, n, k, T.One, new ReadOnlySpan<T>(packed, Gemm.PackedALength<T>(m, k)), false, b, n, T.Zero, c, n);
        else
            Gemm.Multiply(transpose, false, m, n, k, T.One, new ReadOnlySpan<T>(weight, m * k), transpose ? m : k, b, n, T.Zero, c, n);
    }

    /// <summary>The work on the group of images [first, first + images), given its scratch: the column matrix col
    /// [K, images·P] and, for more than one image, rows for cOut rows of images·P.</summary>
    unsafe interface IGroupStep<T> where T : unmanaged
    {
        void Run(int first, int images, T* col, T[]? rows);
    }

    /// <summary>One group of images per item, each with scratch of its own from the pool.</summary>
    readonly unsafe struct EachGroup<T, TStep>(ConvGeometry g, TStep step) : IRangeBody
        where T : unmanaged where TStep : struct, IGroupStep<T>
    {
        public void Run(int start, int end)
        {
            int group = g.Group<T>();
            TStep each = step;
            for (int item = start; item < end; item++)
            {
                int first = item * group, images = Math.Min(group, g.N - first), cols = images * g.P;
                T[] col = ArrayPool<T>.Shared.Rent(g.K * cols);
                T[]? rows = images > 1 ? ArrayPool<T>.Shared.Rent(g.COut * cols) : null;
                fixed (T* pc = col) each.Run(first, images, pc, rows);
                ArrayPool<T>.Shared.Return(col);
                if (rows != null) ArrayPool<T>.Shared.Return(rows);
            }
        }
    }

    /// <summary>Forward of one group: im2col, GEMM with the weight, transpose to NCHW, bias (none where null); serial
    /// with the packed weight, else each step split across the threads.</summary>
    readonly unsafe struct ForwardGroup<T>(ConvGeometry g, T* x, T* weight, T* packed, T* bias, T* y) : IGroupStep<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int first, int images, T* col, T[]? rows)
        {
            int k = g.K, p = g.P, cOut = g.COut, cols = images * p;
            Im2Col(x + (long)first * g.InputImage, col, g, images, serial: packed != null);
            var yImages = new Span<T>(y + (long)first * cOut * p, images * cOut * p);
            Span<T> product = images == 1 ? yImages : rows.AsSpan(0, cOut * cols);
            // Y[o, q] = Σ_r W[o, r]·col[r, q]   with r = (c,u,v) and q = (image, i, j)
            MultiplyWeight(false, cOut, cols, k, weight, packed, new ReadOnlySpan<T>(col, k * cols), product);
            if (images > 1) Transpose(product, cOut, images, p, yImages);
            if (bias != null) AddBias(yImages, images, new ReadOnlySpan<T>(bias, cOut), p);
        }
    }

    /// <summary>BackwardInput of one group: dy to [cOut, images·P], GEMM with Wᵀ, col2im; serial with the packed Wᵀ,
    /// else each step split across the threads.</summary>
    readonly unsafe struct BackwardInputGroup<T>(ConvGeometry g, T* dy, T* weight, T* packedT, T* dx) : IGroupStep<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int first, int images, T* col, T[]? rows)
        {
            int k = g.K, cols = images * g.P;
            // dcol[r, q] = Σ_o W[o, r]·dy[o, q], then col2im adds every column entry back onto its pixel
            MultiplyWeight(true, k, cols, g.COut, weight, packedT, DyRows(dy, g, first, images, rows), new Span<T>(col, k * cols));
            Col2Im(col, g, images, dx + (long)first * g.InputImage, serial: packedT != null);
        }
    }

    /// <summary>The dy of images [first, first + images) as [cOut, images·P]: dy itself for one image, else transposed
    /// into <paramref name="rows"/>.</summary>
    static unsafe ReadOnlySpan<T> DyRows<T>(T* dy, in ConvGeometry g, int first, int images, T[]? rows) where T : unmanaged
    {
        int length = images * g.COut * g.P;
        var dyImages = new ReadOnlySpan<T>(dy + (long)first * g.COut * g.P, length);
        return images == 1 ? dyImages : Transpose(dyImages, images, g.COut, g.P, rows.AsSpan(0, length));
    }

    /// <summary>to[b, a, q] = from[a, b, q] for a &lt; outer, b &lt; inner, q &lt; length; returns <paramref name="to"/>.</summary>
    static ReadOnlySpan<T> Transpose<T>(ReadOnlySpan<T> from, int outer, int inner, int length, Span<T> to)
    {
        for (int a = 0; a < outer; a++)
            for (int b = 0; b < inner; b++)
                from.Slice((a * inner + b) * length, length).CopyTo(to.Slice((b * outer + a) * length, length));
        return to;
    }

    /// <summary>y[m, o, q] += b[o].</summary>
    static void AddBias<T>(Span<T> y, int images, ReadOnlySpan<T> bias, int p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int m = 0; m < images; m++)
            for (int o = 0; o < bias.Length; o++)
            {
                Span<T> row = y.Slice((m * bias.Length + o) * p, p);
                T b = bias[o];
                var vb = Vector256.Create(b);
                int q = 0;
                for (; q <= p - Vector256<T>.Count; q += Vector256<T>.Count)
                    (Vector256.Create((ReadOnlySpan<T>)row.Slice(q)) + vb).CopyTo(row.Slice(q));
                for (; q < p; q++) row[q] += b;
            }
    }
}
