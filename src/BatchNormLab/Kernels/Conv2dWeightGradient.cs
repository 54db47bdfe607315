using System.Buffers;
using System.Numerics;
using System.Runtime.Intrinsics;

namespace BatchNormLab.Kernels;

// The weight and bias gradients: dWᵀ by chunks of images or by blocks of its rows, db by planes of dy.
public static partial class Conv2dKernels
{
    /// <summary>Rows of dWᵀ per work item of the weight gradient: about two items per thread, whole MR panels. Every
    /// item packs all of dy for itself, so more items (four per thread) made the 128-channel 16×16 gradient 6% slower.</summary>
    static int WeightRowsPerItem<T>(int k) where T : unmanaged => Math.Max(96, (k + 2 * Threading.Threads - 1) / (2 * Threading.Threads) + Gemm.MR<T>() - 1) / Gemm.MR<T>() * Gemm.MR<T>();

    /// <summary>dWᵀ [k, cOut] by <paramref name="items"/> blocks of its rows spread over the threads (<see cref="WeightRows{T}"/>).</summary>
    static unsafe void WeightByRows<T>(T* x, ReadOnlySpan<T> dy, in ConvGeometry g, int rowsPerItem, int items, T* dwT)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int group = g.WeightGroup, n = g.N, cOut = g.COut, p = g.P;
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
            fixed (T* pdy = dyT ?? dy)
                Threading.ForEachItem(items, new WeightRows<T> { X = x, DyRows = pdy, DwT = dwT, G = g, RowsPerItem = rowsPerItem });
        }
        finally
        {
            if (dyT != null) ArrayPool<T>.Shared.Return(dyT);
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

    /// <summary>
    /// BackwardWeight, one chunk of groups per item: chunk q covers groups [q·groups/chunks, (q+1)·groups/chunks) and
    /// writes its own dWᵀ[r, o] = Σ_{its images, in order} Σ_q col[r, q]·dy[o, q] at DwT + q·K·COut. Serial: each
    /// chunk on one thread; otherwise the chunks run one after another with im2col and the GEMM split across threads.
    /// </summary>
    unsafe struct WeightChunks<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X, Dy, DwT;
        public ConvGeometry G;
        public int Chunks;
        public bool Serial;

        public readonly void Run(int start, int end)
        {
            int group = G.WeightGroup, groups = G.WeightGroups, k = G.K, p = G.P, cOut = G.COut;
            for (int chunk = start; chunk < end; chunk++)
            {
                int g0 = (int)((long)chunk * groups / Chunks), g1 = (int)((long)(chunk + 1) * groups / Chunks);
                T* dwT = DwT + (long)chunk * k * cOut;
                T[] col = ArrayPool<T>.Shared.Rent(k * group * p);
                T[]? rows = group > 1 ? ArrayPool<T>.Shared.Rent(cOut * group * p) : null;
                fixed (T* pc = col)
                {
                    for (int gi = g0; gi < g1; gi++)
                    {
                        int first = gi * group, images = Math.Min(group, G.N - first), cols = images * p;
                        ReadOnlySpan<T> dyRows = DyRows(Dy, G, first, images, rows);
                        Im2Col(X + (long)first * G.InputImage, pc, G, images, Serial);
                        // The chunk's first group overwrites its dWᵀ, the rest add in image order.
                        T beta = gi == g0 ? T.Zero : T.One;
                        var colSpan = new ReadOnlySpan<T>(pc, k * cols);
                        var dw = new Span<T>(dwT, k * cOut);
                        if (G.UseThinWeightGradient)
                            fixed (T* pdy = dyRows) ThinGemm.MultiplyABt(k, cOut, cols, pc, cols, pdy, cols, gi != g0, dwT, cOut);
                        else if (Serial) Gemm.MultiplySerial(false, true, k, cOut, cols, T.One, colSpan, cols, dyRows, cols, beta, dw, cOut);
                        else Gemm.Multiply(false, true, k, cOut, cols, T.One, colSpan, cols, dyRows, cols, beta, dw, cOut);
                    }
                }
                ArrayPool<T>.Shared.Return(col);
                if (rows != null) ArrayPool<T>.Shared.Return(rows);
            }
        }
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
