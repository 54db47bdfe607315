using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BatchNormLab.Kernels;

/// <summary>
/// 2-D convolution (cross-correlation, as PyTorch's Conv2d) over row-major NCHW tensors, by im2col and
/// <see cref="Gemm"/>. x is [n,c,h,w], weight [cOut,c,kh,kw], bias [cOut] or empty, y [n,cOut,hOut,wOut];
/// s is the stride and p the zero padding on both axes.
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
public static class Conv2dKernels
{
    /// <summary>Output length along one axis: (size + 2·padding − kernel) / stride + 1.</summary>
    public static int OutputSize(int size, int kernel, int stride, int padding) => (size + 2 * padding - kernel) / stride + 1;

    // Images per GEMM: the fewest with at least TargetColumns output pixels, as long as the column buffer stays
    // under MaxColumnBytes, so that it is still in L2 when the GEMM packs what im2col wrote and col2im reads what
    // the GEMM wrote.
    const int TargetColumns = 512;
    const int TargetWeightColumns = 256;
    /// <summary>A multiple of every B panel width of <see cref="Gemm"/> (32 floats, 8 or 16 doubles).</summary>
    const int PanelColumns = 32;
    const int MaxColumnBytes = 3 << 19;

    /// <summary>
    /// y[n,o,i,j] = b[o] + Σ_{c,u,v} W[o,c,u,v]·x[n,c,i·s+u−p, j·s+v−p]   (x is 0 outside the image).
    /// </summary>
    public static unsafe void Forward<T>(ReadOnlySpan<T> x, int n, int c, int h, int w, ReadOnlySpan<T> weight, ReadOnlySpan<T> bias,
        int cOut, int kh, int kw, int stride, int padding, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new ConvGeometry(n, c, h, w, cOut, kh, kw, stride, padding);
        g.Check(x.Length, nameof(x), y.Length, nameof(y), weight.Length);
        if (!bias.IsEmpty && bias.Length != cOut) throw new ArgumentException($"bias has {bias.Length} elements, expected 0 or {cOut}", nameof(bias));

        int group = g.Group<T>(), k = g.K, p = g.P;
        if (ByGroups(g.Groups<T>()))
        {
            // W is the A of every group's GEMM: packed once here instead of once per group.
            T[] packed = ArrayPool<T>.Shared.Rent(Gemm.PackedALength(cOut, k));
            Gemm.PackA(false, cOut, k, weight, k, packed);
            fixed (T* px = x, pw = packed, pb = bias, py = y)
                Threading.ForEachItem(g.Groups<T>(), new ForwardGroups<T> { X = px, PackedW = pw, Bias = pb, HasBias = !bias.IsEmpty, Y = py, G = g });
            ArrayPool<T>.Shared.Return(packed);
            return;
        }
        T[] col = ArrayPool<T>.Shared.Rent(k * group * p);
        T[]? rows = group > 1 ? ArrayPool<T>.Shared.Rent(cOut * group * p) : null;
        try
        {
            for (int first = 0; first < n; first += group)
            {
                int images = Math.Min(group, n - first), cols = images * p;
                Span<T> yImages = y.Slice(first * cOut * p, images * cOut * p);
                Im2Col(x.Slice(first * g.InputImage, images * g.InputImage), g, images, col);
                // Y[o, q] = Σ_r W[o, r]·col[r, q]   with r = (c,u,v) and q = (image, i, j)
                Span<T> product = images == 1 ? yImages : rows.AsSpan(0, cOut * cols);
                Gemm.Multiply(false, false, cOut, cols, k, T.One, weight, k, col, cols, T.Zero, product, cols);
                if (images > 1) Transpose(product, cOut, images, p, yImages);
                if (!bias.IsEmpty) AddBias(yImages, images, bias, p);
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(col);
            if (rows != null) ArrayPool<T>.Shared.Return(rows);
        }
    }

    /// <summary>
    /// dx[n,c,hi,wi] = Σ_{o,u,v,i,j : i·s+u−p = hi, j·s+v−p = wi} W[o,c,u,v]·dy[n,o,i,j];   dx is overwritten.
    /// </summary>
    public static unsafe void BackwardInput<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> weight, int n, int c, int h, int w,
        int cOut, int kh, int kw, int stride, int padding, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new ConvGeometry(n, c, h, w, cOut, kh, kw, stride, padding);
        g.Check(dx.Length, nameof(dx), dy.Length, nameof(dy), weight.Length);

        int group = g.Group<T>(), k = g.K, p = g.P;
        if (ByGroups(g.Groups<T>()))
        {
            T[] packed = ArrayPool<T>.Shared.Rent(Gemm.PackedALength(k, cOut));
            Gemm.PackA(true, k, cOut, weight, k, packed);
            fixed (T* pdy = dy, pw = packed, pdx = dx)
                Threading.ForEachItem(g.Groups<T>(), new BackwardInputGroups<T> { Dy = pdy, PackedWT = pw, Dx = pdx, G = g });
            ArrayPool<T>.Shared.Return(packed);
            return;
        }
        T[] col = ArrayPool<T>.Shared.Rent(k * group * p);
        T[]? rows = group > 1 ? ArrayPool<T>.Shared.Rent(cOut * group * p) : null;
        try
        {
            for (int first = 0; first < n; first += group)
            {
                int images = Math.Min(group, n - first), cols = images * p;
                ReadOnlySpan<T> dyImages = dy.Slice(first * cOut * p, images * cOut * p);
                ReadOnlySpan<T> dyRows = images == 1 ? dyImages : Transpose(dyImages, images, cOut, p, rows.AsSpan(0, cOut * cols));
                // dcol[r, q] = Σ_o W[o, r]·dy[o, q], then col2im adds every column entry back onto its pixel
                Gemm.Multiply(true, false, k, cols, cOut, T.One, weight, k, dyRows, cols, T.Zero, col, cols);
                Col2Im(col, g, images, dx.Slice(first * g.InputImage, images * g.InputImage));
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(col);
            if (rows != null) ArrayPool<T>.Shared.Return(rows);
        }
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

        // The weight gradient sums over images: its groups are larger (WeightGroup), and used by every way of splitting it.
        int group = g.WeightGroup, k = g.K, p = g.P, groups = g.WeightGroups;
        if (groups >= 2 && (long)k * MaxChunks <= (long)n * p)
        {
            // The weight is small next to dy: chunks of groups each sum their own dWᵀ (images in order), then the chunks'
            // sums are added in chunk order. The chunks depend on the shapes alone, so the bits do not depend on the threads.
            int chunks = Math.Min(groups, MaxChunks);
            T[] partials = ArrayPool<T>.Shared.Rent(chunks * k * cOut);
            try
            {
                fixed (T* px = x, pdy = dy, pp = partials)
                {
                    var body = new WeightChunks<T> { X = px, Dy = pdy, Partials = pp, G = g, Chunks = chunks, Serial = chunks >= 2 * Threading.Threads };
                    if (body.Serial) Threading.ForEachItem(chunks, body);
                    else body.Run(0, chunks);
                    for (int q = 1; q < chunks; q++) AddTo(pp, pp + (long)q * k * cOut, k * cOut);
                }
                TransposeMatrix(partials, k, cOut, dWeight);
            }
            finally
            {
                ArrayPool<T>.Shared.Return(partials);
            }
            if (!dBias.IsEmpty) BiasGradient(dy, n, cOut, g.P, dBias);
            return;
        }
        int rowsPerItem = WeightRowsPerItem(k), items = (k + rowsPerItem - 1) / rowsPerItem;
        if (items >= 2 * Threading.Threads)
        {
            T[] dwTr = ArrayPool<T>.Shared.Rent(k * cOut);
            // Each group's dy as [cOut, images·P] rows, the groups one after another.
            T[]? dyT = group > 1 ? ArrayPool<T>.Shared.Rent(n * cOut * p) : null;
            try
            {
                if (dyT != null)
                    for (int first = 0; first < n; first += group)
                    {
                        int images = Math.Min(group, n - first), length = images * cOut * p;
                        Transpose(dy.Slice(first * cOut * p, length), images, cOut, p, dyT.AsSpan(first * cOut * p, length));
                    }
                fixed (T* px = x, pdy = dyT ?? dy, pdw = dwTr)
                    Threading.ForEachItem(items, new WeightRows<T> { X = px, DyRows = pdy, DwT = pdw, G = g, RowsPerItem = rowsPerItem });
                TransposeMatrix(dwTr, k, cOut, dWeight);
            }
            finally
            {
                ArrayPool<T>.Shared.Return(dwTr);
                if (dyT != null) ArrayPool<T>.Shared.Return(dyT);
            }
            if (!dBias.IsEmpty) BiasGradient(dy, n, cOut, g.P, dBias);
            return;
        }
        T[] col = ArrayPool<T>.Shared.Rent(k * group * p);
        T[]? rows = group > 1 ? ArrayPool<T>.Shared.Rent(cOut * group * p) : null;
        T[] dwT = ArrayPool<T>.Shared.Rent(k * cOut);
        try
        {
            for (int first = 0; first < n; first += group)
            {
                int images = Math.Min(group, n - first), cols = images * p;
                ReadOnlySpan<T> dyImages = dy.Slice(first * cOut * p, images * cOut * p);
                ReadOnlySpan<T> dyRows = images == 1 ? dyImages : Transpose(dyImages, images, cOut, p, rows.AsSpan(0, cOut * cols));
                Im2Col(x.Slice(first * g.InputImage, images * g.InputImage), g, images, col);
                // dWᵀ[r, o] (+)= Σ_q col[r, q]·dy[o, q]: the first group overwrites, the rest add in image order. Computed
                // transposed because the GEMM then splits the long side k and gathers only the short dy transposed.
                Gemm.Multiply(false, true, k, cOut, cols, T.One, col, cols, dyRows, cols, first == 0 ? T.Zero : T.One, dwT, cOut);
            }
            TransposeMatrix(dwT, k, cOut, dWeight);
        }
        finally
        {
            ArrayPool<T>.Shared.Return(col);
            if (rows != null) ArrayPool<T>.Shared.Return(rows);
            ArrayPool<T>.Shared.Return(dwT);
        }
        if (!dBias.IsEmpty) BiasGradient(dy, n, cOut, g.P, dBias);
    }

    /// <summary>
    /// Whether the groups of images are spread over the threads (each group on one thread, its im2col, GEMM and
    /// col2im serial, its column buffer in that core's cache, no barrier between the steps) rather than run one
    /// after another with every step split across the threads. Each group's result is the same either way.
    /// </summary>
    static bool ByGroups(int groups) => groups >= 2 * Threading.Threads;

    /// <summary>Rows of dWᵀ per work item of the weight gradient: about two items per thread, whole MR panels. Every
    /// item packs all of dy for itself, so more items (four per thread) made the 128-channel 16×16 gradient 6% slower.</summary>
    static int WeightRowsPerItem(int k) => Math.Max(96, (k + 2 * Threading.Threads - 1) / (2 * Threading.Threads) + 5) / 6 * 6;

    /// <summary>Forward, one group of images per item: im2col, GEMM with the packed weight, transpose to NCHW, bias.</summary>
    unsafe struct ForwardGroups<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X, PackedW, Bias, Y;
        public bool HasBias;
        public ConvGeometry G;

        public readonly void Run(int start, int end)
        {
            int group = G.Group<T>(), k = G.K, p = G.P, cOut = G.COut;
            for (int item = start; item < end; item++)
            {
                int first = item * group, images = Math.Min(group, G.N - first), cols = images * p;
                T[] col = ArrayPool<T>.Shared.Rent(k * cols);
                T[]? rows = images > 1 ? ArrayPool<T>.Shared.Rent(cOut * cols) : null;
                fixed (T* pc = col)
                {
                    new Im2ColBody<T> { X = X + (long)first * G.InputImage, Col = pc, G = G, Images = images }.Run(0, k);
                    var yImages = new Span<T>(Y + (long)first * cOut * p, images * cOut * p);
                    Span<T> product = images == 1 ? yImages : rows.AsSpan(0, cOut * cols);
                    Gemm.MultiplySerialPacked(cOut, cols, k, T.One, new ReadOnlySpan<T>(PackedW, Gemm.PackedALength(cOut, k)),
                        false, new ReadOnlySpan<T>(pc, k * cols), cols, T.Zero, product, cols);
                    if (images > 1) Transpose(product, cOut, images, p, yImages);
                    if (HasBias) AddBias(yImages, images, new ReadOnlySpan<T>(Bias, cOut), p);
                }
                ArrayPool<T>.Shared.Return(col);
                if (rows != null) ArrayPool<T>.Shared.Return(rows);
            }
        }
    }

    /// <summary>BackwardInput, one group of images per item: dy to [cOut, images·P], GEMM with the packed Wᵀ, col2im.</summary>
    unsafe struct BackwardInputGroups<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* Dy, PackedWT, Dx;
        public ConvGeometry G;

        public readonly void Run(int start, int end)
        {
            int group = G.Group<T>(), k = G.K, p = G.P, cOut = G.COut;
            for (int item = start; item < end; item++)
            {
                int first = item * group, images = Math.Min(group, G.N - first), cols = images * p;
                T[] col = ArrayPool<T>.Shared.Rent(k * cols);
                T[]? rows = images > 1 ? ArrayPool<T>.Shared.Rent(cOut * cols) : null;
                fixed (T* pc = col)
                {
                    var dyImages = new ReadOnlySpan<T>(Dy + (long)first * cOut * p, images * cOut * p);
                    ReadOnlySpan<T> dyRows = images == 1 ? dyImages : Transpose(dyImages, images, cOut, p, rows.AsSpan(0, cOut * cols));
                    Gemm.MultiplySerialPacked(k, cols, cOut, T.One, new ReadOnlySpan<T>(PackedWT, Gemm.PackedALength(k, cOut)),
                        false, dyRows, cols, T.Zero, new Span<T>(pc, k * cols), cols);
                    new Col2ImBody<T> { Col = pc, Dx = Dx + (long)first * G.InputImage, G = G, Images = images }.Run(0, images * G.C);
                }
                ArrayPool<T>.Shared.Return(col);
                if (rows != null) ArrayPool<T>.Shared.Return(rows);
            }
        }
    }

    /// <summary>
    /// BackwardWeight, one block of rows r of dWᵀ per item, over all groups in image order: im2col of just those rows,
    /// then dWᵀ[r, o] (+)= Σ_q col[r, q]·dy[o, q]. Every entry is summed in the same order as by the whole GEMM.
    /// </summary>
    unsafe struct WeightRows<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X, DyRows, DwT;
        public ConvGeometry G;
        public int RowsPerItem;

        public readonly void Run(int start, int end)
        {
            int group = G.WeightGroup, p = G.P, cOut = G.COut;
            for (int item = start; item < end; item++)
            {
                int r0 = item * RowsPerItem, r1 = Math.Min(G.K, r0 + RowsPerItem), m = r1 - r0;
                T[] col = ArrayPool<T>.Shared.Rent(m * group * p);
                fixed (T* pc = col)
                {
                    for (int first = 0; first < G.N; first += group)
                    {
                        int images = Math.Min(group, G.N - first), cols = images * p;
                        // Row r of the group's column matrix lands at pc + (r − r0)·cols.
                        new Im2ColBody<T> { X = X + (long)first * G.InputImage, Col = pc - (long)r0 * cols, G = G, Images = images }.Run(r0, r1);
                        Gemm.MultiplySerial(false, true, m, cOut, cols, T.One, new ReadOnlySpan<T>(pc, m * cols), cols,
                            new ReadOnlySpan<T>(DyRows + (long)first * cOut * p, cOut * cols), cols,
                            first == 0 ? T.Zero : T.One, new Span<T>(DwT + (long)r0 * cOut, m * cOut), cOut);
                    }
                }
                ArrayPool<T>.Shared.Return(col);
            }
        }
    }

    // Up to here ThinGemm's dot products beat packing two long, thin operands (docs/benchmarks.md).
    const int ThinWeightMaxEntries = 2048;

    /// <summary>The most chunks of images whose weight gradients are summed separately.</summary>
    const int MaxChunks = 8;

    /// <summary>
    /// BackwardWeight, one chunk of groups per item: chunk q covers groups [q·groups/chunks, (q+1)·groups/chunks) and
    /// writes its own dWᵀ[r, o] = Σ_{its images, in order} Σ_q col[r, q]·dy[o, q] at Partials + q·K·COut. Serial: each
    /// chunk on one thread; otherwise the chunks run one after another with im2col and the GEMM split across threads.
    /// </summary>
    unsafe struct WeightChunks<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X, Dy, Partials;
        public ConvGeometry G;
        public int Chunks;
        public bool Serial;

        public readonly void Run(int start, int end)
        {
            int group = G.WeightGroup, groups = G.WeightGroups, k = G.K, p = G.P, cOut = G.COut;
            for (int chunk = start; chunk < end; chunk++)
            {
                int g0 = (int)((long)chunk * groups / Chunks), g1 = (int)((long)(chunk + 1) * groups / Chunks);
                var dwT = new Span<T>(Partials + (long)chunk * k * cOut, k * cOut);
                T[] col = ArrayPool<T>.Shared.Rent(k * group * p);
                T[]? rows = group > 1 ? ArrayPool<T>.Shared.Rent(cOut * group * p) : null;
                fixed (T* pc = col)
                {
                    for (int gi = g0; gi < g1; gi++)
                    {
                        int first = gi * group, images = Math.Min(group, G.N - first), cols = images * p;
                        var dyImages = new ReadOnlySpan<T>(Dy + (long)first * cOut * p, images * cOut * p);
                        ReadOnlySpan<T> dyRows = images == 1 ? dyImages : Transpose(dyImages, images, cOut, p, rows.AsSpan(0, cOut * cols));
                        var colSpan = new Span<T>(pc, k * cols);
                        T* xImages = X + (long)first * G.InputImage;
                        if (Serial) new Im2ColBody<T> { X = xImages, Col = pc, G = G, Images = images }.Run(0, k);
                        else Im2Col(new ReadOnlySpan<T>(xImages, images * G.InputImage), G, images, colSpan);
                        T beta = gi == g0 ? T.Zero : T.One;
                        if (G.UseThinWeightGradient)
                            fixed (T* pdy = dyRows) ThinGemm.MultiplyABt(k, cOut, cols, pc, cols, pdy, cols, gi != g0, Partials + (long)chunk * k * cOut, cOut);
                        else if (Serial) Gemm.MultiplySerial(false, true, k, cOut, cols, T.One, colSpan, cols, dyRows, cols, beta, dwT, cOut);
                        else Gemm.Multiply(false, true, k, cOut, cols, T.One, colSpan, cols, dyRows, cols, beta, dwT, cOut);
                    }
                }
                ArrayPool<T>.Shared.Return(col);
                if (rows != null) ArrayPool<T>.Shared.Return(rows);
            }
        }
    }

    /// <summary>Shapes of one convolution, checked once, and the image group size its GEMMs use.</summary>
    readonly struct ConvGeometry
    {
        public readonly int N, C, H, W, COut, Kh, Kw, Stride, Padding, HOut, WOut;

        public ConvGeometry(int n, int c, int h, int w, int cOut, int kh, int kw, int stride, int padding)
        {
            if (n < 1 || c < 1 || h < 1 || w < 1 || cOut < 1 || kh < 1 || kw < 1)
                throw new ArgumentOutOfRangeException(nameof(n), $"sizes must be positive: n={n} c={c} h={h} w={w} cOut={cOut} kh={kh} kw={kw}");
            if (stride < 1) throw new ArgumentOutOfRangeException(nameof(stride), stride, "stride must be at least 1");
            if (padding < 0) throw new ArgumentOutOfRangeException(nameof(padding), padding, "padding must not be negative");
            (N, C, H, W, COut, Kh, Kw, Stride, Padding) = (n, c, h, w, cOut, kh, kw, stride, padding);
            HOut = OutputSize(h, kh, stride, padding);
            WOut = OutputSize(w, kw, stride, padding);
            if (h + 2 * padding < kh || w + 2 * padding < kw)
                throw new ArgumentException($"kernel {kh}×{kw} is larger than the padded input {h + 2 * padding}×{w + 2 * padding}");
        }

        public int InputImage => C * H * W;
        public int P => HOut * WOut;
        public int K => C * Kh * Kw;
        /// <summary>Stride 1 and wOut = w: output pixel (i, j) under kernel tap (u, v) reads input element
        /// i·w + j + (u−p)·w + v−p of the plane, a fixed shift, so im2col/col2im rows are single block moves.</summary>
        public bool IsShift => Stride == 1 && WOut == W;
        public int Groups<T>() where T : unmanaged => (N + Group<T>() - 1) / Group<T>();

        /// <summary>Images per forward and input-gradient GEMM; a whole number of B panels of columns where a smaller
        /// group allows it, since a partly filled panel costs a whole one.</summary>
        public int Group<T>() where T : unmanaged
        {
            int group = Math.Clamp(Math.Min((TargetColumns + P - 1) / P, MaxColumnBytes / Unsafe.SizeOf<T>() / (K * P)), 1, N);
            for (int fit = group; fit > 1 && fit * P >= PanelColumns; fit--)
                if (fit * P % PanelColumns == 0) return fit;
            return group;
        }

        /// <summary>Whether the weight gradient's dWᵀ is few enough entries (k·cOut) for <see cref="ThinGemm.MultiplyABt{T}(int, int, int, T*, int, T*, int, bool, T*, int)"/>, each a dot
        /// product of a column-matrix row and a dy row, instead of the packed GEMM.</summary>
        public bool UseThinWeightGradient => (long)K * COut <= ThinWeightMaxEntries;

        /// <summary>Images per weight-gradient GEMM, whose k is the columns: the fewest with TargetWeightColumns. Its
        /// C (dWᵀ) is read and written once per GEMM, so a short k runs it at a fraction of its speed.</summary>
        public int WeightGroup => Math.Clamp((TargetWeightColumns + P - 1) / P, 1, N);
        public int WeightGroups => (N + WeightGroup - 1) / WeightGroup;

        public void Check(int inputLength, string inputName, int outputLength, string outputName, int weightLength)
        {
            Require(inputLength, N * InputImage, inputName);
            Require(outputLength, N * COut * P, outputName);
            Require(weightLength, COut * K, "weight");
        }

        static void Require(int length, int expected, string name)
        {
            if (length != expected) throw new ArgumentException($"{name} has {length} elements, expected {expected}", name);
        }

        /// <summary>Small output planes go through a table of taps instead of row copies, whose per-row calls cost more
        /// than the few values they move (docs/benchmarks.md, "Tuning constants").</summary>
        public bool UseTaps => P <= 16 && Kh * Kw * P <= 4096;

        /// <summary>tap[(u·kw + v)·P + i·wOut + j] = the input pixel (i·s+u−p)·W + j·s+v−p of a plane that output
        /// (i, j) reads under kernel tap (u, v), or −1 where that falls in the padding.</summary>
        public unsafe void Taps(int* tap)
        {
            for (int u = 0; u < Kh; u++)
                for (int v = 0; v < Kw; v++)
                    for (int i = 0; i < HOut; i++)
                        for (int j = 0; j < WOut; j++)
                        {
                            int hi = i * Stride + u - Padding, wi = j * Stride + v - Padding;
                            *tap++ = hi >= 0 && hi < H && wi >= 0 && wi < W ? hi * W + wi : -1;
                        }
        }

        /// <summary>The outputs t ∈ [t0, t1) whose input t·s + offset lies in [0, size).</summary>
        public void Valid(int offset, int size, int outSize, out int t0, out int t1)
        {
            t0 = offset >= 0 ? 0 : (-offset + Stride - 1) / Stride;
            int last = size - 1 - offset;
            t1 = last < 0 ? 0 : Math.Min(last / Stride + 1, outSize);
            t0 = Math.Min(t0, t1);
        }
    }

    // Enough elements per part that a thread's start-up is paid for.
    const int MinElementsPerPart = 1 << 14;

    static unsafe void Im2Col<T>(ReadOnlySpan<T> x, in ConvGeometry g, int images, Span<T> col) where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* px = x)
        fixed (T* pc = col)
        {
            var body = new Im2ColBody<T> { X = px, Col = pc, G = g, Images = images };
            Threading.For(g.K, Math.Max(1, MinElementsPerPart / (images * g.P)), body);
        }
    }

    /// <summary>col[r, m·P + i·wOut + j] = x[m, c, i·s+u−p, j·s+v−p] (0 outside), r = (c·kh + u)·kw + v; parallel over r.</summary>
    unsafe struct Im2ColBody<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X, Col;
        public ConvGeometry G;
        public int Images;

        public readonly void Run(int start, int end)
        {
            int plane = G.H * G.W, p = G.P, cols = Images * p, s = G.Stride, wOut = G.WOut;
            if (G.UseTaps)
            {
                int* taps = stackalloc int[G.Kh * G.Kw * p];
                G.Taps(taps);
                for (int r = start; r < end; r++)
                {
                    int* tap = taps + r % (G.Kh * G.Kw) * p;
                    T* src = X + (long)(r / (G.Kh * G.Kw)) * plane;
                    T* dst = Col + (long)r * cols;
                    for (int m = 0; m < Images; m++, src += (long)G.C * plane, dst += p)
                        for (int q = 0; q < p; q++) dst[q] = tap[q] >= 0 ? src[tap[q]] : T.Zero;
                }
                return;
            }
            for (int r = start; r < end; r++)
            {
                int ch = r / (G.Kh * G.Kw), u = r / G.Kw % G.Kh, v = r % G.Kw;
                G.Valid(u - G.Padding, G.H, G.HOut, out int i0, out int i1);
                G.Valid(v - G.Padding, G.W, wOut, out int j0, out int j1);
                for (int m = 0; m < Images; m++)
                {
                    T* dst = Col + (long)r * cols + m * p;
                    // src[i·s·W + j·s] = x[m, ch, i·s+u−p, j·s+v−p]
                    T* src = X + ((long)m * G.C + ch) * plane + (u - G.Padding) * G.W + v - G.Padding;
                    new Span<T>(dst, i0 * wOut).Clear();
                    new Span<T>(dst + i1 * wOut, (G.HOut - i1) * wOut).Clear();
                    if (G.IsShift && j0 < j1)
                    {
                        // Output rows are the input rows moved by a fixed offset: one copy of the whole valid block, whose
                        // wrapped-around edge columns are then zeroed.
                        int from = i0 * wOut + j0, to = (i1 - 1) * wOut + j1;
                        new ReadOnlySpan<T>(src + from, to - from).CopyTo(new Span<T>(dst + from, to - from));
                        for (int i = i0; i < i1; i++) ClearEdges(dst + i * wOut, j0, j1, wOut);
                        continue;
                    }
                    for (int i = i0; i < i1; i++)
                    {
                        T* row = src + i * s * G.W, d = dst + i * wOut;
                        if (s == 1) new ReadOnlySpan<T>(row + j0, j1 - j0).CopyTo(new Span<T>(d + j0, j1 - j0));
                        else for (int j = j0; j < j1; j++) d[j] = row[j * s];
                        ClearEdges(d, j0, j1, wOut);
                    }
                }
            }
        }
    }

    /// <summary>row[j] = 0 for j &lt; j0 and j1 ≤ j &lt; width (j0 ≤ j1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void ClearEdges<T>(T* row, int j0, int j1, int width) where T : unmanaged
    {
        for (int j = 0; j < j0; j++) row[j] = default;
        for (int j = j1; j < width; j++) row[j] = default;
    }

    /// <summary>Adds the columns back onto dx; <paramref name="col"/> is scratch and its entries for padding are zeroed.</summary>
    static unsafe void Col2Im<T>(Span<T> col, in ConvGeometry g, int images, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* pc = col)
        fixed (T* px = dx)
        {
            var body = new Col2ImBody<T> { Col = pc, Dx = px, G = g, Images = images };
            Threading.For(images * g.C, Math.Max(1, MinElementsPerPart / (g.Kh * g.Kw * g.P)), body);
        }
    }

    /// <summary>
    /// dx[m, c, hi, wi] = Σ_{u,v,i,j : i·s+u−p = hi, j·s+v−p = wi} col[(c,u,v), m·P + i·wOut + j], summed in (u, v, i, j)
    /// order; parallel over the planes (m, c), each written by one part only.
    /// </summary>
    unsafe struct Col2ImBody<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* Col, Dx;
        public ConvGeometry G;
        public int Images;

        public readonly void Run(int start, int end)
        {
            int plane = G.H * G.W, p = G.P, cols = Images * p, s = G.Stride, wOut = G.WOut;
            if (G.UseTaps)
            {
                int taps = G.Kh * G.Kw;
                int* tap = stackalloc int[taps * p];
                G.Taps(tap);
                for (int t = start; t < end; t++)
                {
                    int m = t / G.C, ch = t % G.C;
                    T* plan = Dx + (long)t * plane;
                    new Span<T>(plan, plane).Clear();
                    // The same (u, v, i, j) order as below: r = ch·taps + uv, q = i·wOut + j.
                    for (int uv = 0; uv < taps; uv++)
                    {
                        T* src = Col + (long)(ch * taps + uv) * cols + m * p;
                        int* at = tap + uv * p;
                        for (int q = 0; q < p; q++)
                            if (at[q] >= 0) plan[at[q]] += src[q];
                    }
                }
                return;
            }
            for (int t = start; t < end; t++)
            {
                int m = t / G.C, ch = t % G.C;
                T* plan = Dx + (long)t * plane;
                new Span<T>(plan, plane).Clear();
                for (int u = 0; u < G.Kh; u++)
                {
                    G.Valid(u - G.Padding, G.H, G.HOut, out int i0, out int i1);
                    for (int v = 0; v < G.Kw; v++)
                    {
                        G.Valid(v - G.Padding, G.W, wOut, out int j0, out int j1);
                        T* src = Col + (long)((ch * G.Kh + u) * G.Kw + v) * cols + m * p;
                        // dst[i·s·W + j·s] is dx[m, ch, i·s+u−p, j·s+v−p]
                        T* dst = plan + (u - G.Padding) * G.W + v - G.Padding;
                        if (G.IsShift && j0 < j1)
                        {
                            // As in im2col: zero the entries that fall on padding, then add the whole block in one pass;
                            // the zeroed ones land on the wrapped-around neighbours and change nothing.
                            for (int i = i0; i < i1; i++) ClearEdges(src + i * wOut, j0, j1, wOut);
                            int from = i0 * wOut + j0, to = (i1 - 1) * wOut + j1;
                            AddTo(dst + from, src + from, to - from);
                            continue;
                        }
                        for (int i = i0; i < i1; i++)
                        {
                            T* row = dst + i * s * G.W, from = src + i * wOut;
                            if (s == 1) AddTo(row + j0, from + j0, j1 - j0);
                            else for (int j = j0; j < j1; j++) row[j * s] += from[j];
                        }
                    }
                }
            }
        }
    }

    /// <summary>dst[i] += src[i] for i &lt; length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void AddTo<T>(T* dst, T* src, int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        for (; i <= length - Vector256<T>.Count; i += Vector256<T>.Count)
            Vector256.Store(Vector256.Load(dst + i) + Vector256.Load(src + i), dst + i);
        for (; i < length; i++) dst[i] += src[i];
    }

    /// <summary>to[c, r] = from[r, c] for r &lt; rows, c &lt; cols, in 16×16 tiles so that both sides stay in cache
    /// (row by row, a 4608×512 dWᵀ took several times longer, every read on a new line).</summary>
    static void TransposeMatrix<T>(ReadOnlySpan<T> from, int rows, int cols, Span<T> to)
    {
        const int Tile = 16;
        for (int r0 = 0; r0 < rows; r0 += Tile)
            for (int c0 = 0; c0 < cols; c0 += Tile)
            {
                int r1 = Math.Min(rows, r0 + Tile), c1 = Math.Min(cols, c0 + Tile);
                for (int c = c0; c < c1; c++)
                    for (int r = r0; r < r1; r++) to[c * rows + r] = from[r * cols + c];
            }
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

    static unsafe void BiasGradient<T>(ReadOnlySpan<T> dy, int n, int cOut, int p, Span<T> dBias) where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* pdy = dy)
        fixed (T* pdb = dBias)
            Threading.For(cOut, Math.Max(1, MinElementsPerPart / (n * p)), new BiasGradientBody<T> { Dy = pdy, DBias = pdb, N = n, COut = cOut, P = p });
    }

    /// <summary>db[o] = Σ_m Σ_q dy[m, o, q], each plane summed in 8 fixed lanes; parallel over o.</summary>
    unsafe struct BiasGradientBody<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* Dy, DBias;
        public int N, COut, P;

        public readonly void Run(int start, int end)
        {
            for (int o = start; o < end; o++)
            {
                T sum = T.Zero;
                for (int m = 0; m < N; m++)
                {
                    T* row = Dy + ((long)m * COut + o) * P;
                    var acc = Vector256<T>.Zero;
                    int q = 0;
                    for (; q <= P - Vector256<T>.Count; q += Vector256<T>.Count) acc += Vector256.Load(row + q);
                    T part = Vector256.Sum(acc);
                    for (; q < P; q++) part += row[q];
                    sum += part;
                }
                DBias[o] = sum;
            }
        }
    }
}

/// <summary>
/// Direct-loop convolution with the same signatures as <see cref="Conv2dKernels"/>: the reference the fast
/// kernels are tested against.
/// </summary>
public static class Conv2dReference
{
    /// <summary>y[n,o,i,j] = b[o] + Σ_{c,u,v} W[o,c,u,v]·x[n,c,i·s+u−p, j·s+v−p].</summary>
    public static unsafe void Forward<T>(ReadOnlySpan<T> x, int n, int c, int h, int w, ReadOnlySpan<T> weight, ReadOnlySpan<T> bias,
        int cOut, int kh, int kw, int stride, int padding, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hOut = Conv2dKernels.OutputSize(h, kh, stride, padding), wOut = Conv2dKernels.OutputSize(w, kw, stride, padding);
        for (int m = 0; m < n; m++)
            for (int o = 0; o < cOut; o++)
                for (int i = 0; i < hOut; i++)
                    for (int j = 0; j < wOut; j++)
                    {
                        T sum = bias.IsEmpty ? T.Zero : bias[o];
                        for (int ch = 0; ch < c; ch++)
                            for (int u = 0; u < kh; u++)
                                for (int v = 0; v < kw; v++)
                                {
                                    int hi = i * stride + u - padding, wi = j * stride + v - padding;
                                    if (hi >= 0 && hi < h && wi >= 0 && wi < w)
                                        sum += weight[((o * c + ch) * kh + u) * kw + v] * x[((m * c + ch) * h + hi) * w + wi];
                                }
                        y[((m * cOut + o) * hOut + i) * wOut + j] = sum;
                    }
    }

    /// <summary>dx[n,c,i·s+u−p, j·s+v−p] += W[o,c,u,v]·dy[n,o,i,j] over all (o,u,v,i,j); dx is overwritten.</summary>
    public static unsafe void BackwardInput<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> weight, int n, int c, int h, int w,
        int cOut, int kh, int kw, int stride, int padding, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hOut = Conv2dKernels.OutputSize(h, kh, stride, padding), wOut = Conv2dKernels.OutputSize(w, kw, stride, padding);
        dx.Clear();
        for (int m = 0; m < n; m++)
            for (int o = 0; o < cOut; o++)
                for (int i = 0; i < hOut; i++)
                    for (int j = 0; j < wOut; j++)
                    {
                        T g = dy[((m * cOut + o) * hOut + i) * wOut + j];
                        for (int ch = 0; ch < c; ch++)
                            for (int u = 0; u < kh; u++)
                                for (int v = 0; v < kw; v++)
                                {
                                    int hi = i * stride + u - padding, wi = j * stride + v - padding;
                                    if (hi >= 0 && hi < h && wi >= 0 && wi < w)
                                        dx[((m * c + ch) * h + hi) * w + wi] += weight[((o * c + ch) * kh + u) * kw + v] * g;
                                }
                    }
    }

    /// <summary>dW[o,c,u,v] = Σ dy[n,o,i,j]·x[n,c,i·s+u−p, j·s+v−p]; db[o] = Σ dy[n,o,i,j]; both overwritten.</summary>
    public static unsafe void BackwardWeight<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, int n, int c, int h, int w,
        int cOut, int kh, int kw, int stride, int padding, Span<T> dWeight, Span<T> dBias) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hOut = Conv2dKernels.OutputSize(h, kh, stride, padding), wOut = Conv2dKernels.OutputSize(w, kw, stride, padding);
        dWeight.Clear();
        dBias.Clear();
        for (int m = 0; m < n; m++)
            for (int o = 0; o < cOut; o++)
                for (int i = 0; i < hOut; i++)
                    for (int j = 0; j < wOut; j++)
                    {
                        T g = dy[((m * cOut + o) * hOut + i) * wOut + j];
                        if (!dBias.IsEmpty) dBias[o] += g;
                        for (int ch = 0; ch < c; ch++)
                            for (int u = 0; u < kh; u++)
                                for (int v = 0; v < kw; v++)
                                {
                                    int hi = i * stride + u - padding, wi = j * stride + v - padding;
                                    if (hi >= 0 && hi < h && wi >= 0 && wi < w)
                                        dWeight[((o * c + ch) * kh + u) * kw + v] += g * x[((m * c + ch) * h + hi) * w + wi];
                                }
                    }
    }
}
