using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BatchNormLab.Kernels;

// The reduction pass of the BatchNorm kernels: two sums per element, per channel, in an order fixed by the shapes.
public static unsafe partial class BatchNormKernels
{
    /// <summary>
    /// Two sums per element, accumulated per channel around a centre: (x−K, (x−K)²) around K, or
    /// (dy, (x−μ)·dy) around μ; and what the totals give (outputs written, coefficients returned).
    /// </summary>
    interface IPairSum<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>K_c or μ_c.</summary>
        double Center(int ch);
        /// <summary>Rows per <see cref="AddRows"/> call (the arrays it reads times this is the streams in flight).</summary>
        int GroupRows { get; }
        /// <summary>Adds the sums over <paramref name="len"/> elements from <paramref name="offset"/>, all of channel <paramref name="ch"/>.</summary>
        void AddRun(long offset, int len, int ch, ref double first, ref double second);
        /// <summary>
        /// Adds <paramref name="rows"/> (at most <see cref="RowGroup"/>) rows, <paramref name="stride"/> apart, of
        /// <paramref name="cols"/> columns to per-column sums, with per-column centres split as hi + lo. The rows
        /// are summed in registers first, so the accumulators in memory are updated once per group.
        /// </summary>
        void AddRows(long rowOffset, int rows, int cols, T* hi, T* lo, double* first, double* second, int stride);
        /// <summary>Rows <see cref="AddPass"/> takes at once (the arrays it reads times this is the streams in flight).</summary>
        int RowsPerPass { get; }
        /// <summary>
        /// Adds <paramref name="rows"/> (at most <see cref="RowsPerPass"/>) rows, <paramref name="stride"/> apart from element
        /// <paramref name="at"/>, of one vector of columns to its partial sums, centred on the columns' centres rounded to T.
        /// </summary>
        void AddPass(long at, long stride, int rows, Vector512<T> hi, ref Vector512<T> s, ref Vector512<T> q);
        /// <summary>Adds a vector of columns' partial sums (centred on hi) to their double sums (centred on hi + lo).</summary>
        void Flush(Vector512<T> s, Vector512<T> q, T* lo, double* first, double* second);
        /// <summary>Writes channel <paramref name="ch"/>'s statistics or parameter gradients from its totals; returns its coefficients.</summary>
        Coefficients<T> Finish(int ch, double first, double second);
    }

    readonly struct Moments<T>(T* x, double* shift, T* gamma, T* beta, double eps, double m, double* mean, double* variance) : IPairSum<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public double Center(int ch) => shift[ch];

        public int GroupRows => RowGroup;

        public void AddRun(long offset, int len, int ch, ref double first, ref double second) =>
            ShiftedSums(x + offset, len, shift[ch], ref first, ref second);

        public void AddRows(long rowOffset, int rows, int cols, T* hi, T* lo, double* first, double* second, int stride) =>
            PairRows<T, CentredValues<T>>(new(x), rowOffset, rows, cols, hi, lo, first, second, stride);

        public int RowsPerPass => 8;

        // s += Σ_r d, q += Σ_r d²  with  d = x − K  (K is a sample of x: hi = K exactly, lo = 0)
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void AddPass(long at, long stride, int rows, Vector512<T> hi, ref Vector512<T> s, ref Vector512<T> q)
        {
            T* p = x + at;
            if (rows == 8)
            {
                var d0 = Vector512.Load(p) - hi; var d1 = Vector512.Load(p + stride) - hi;
                var d2 = Vector512.Load(p + 2 * stride) - hi; var d3 = Vector512.Load(p + 3 * stride) - hi;
                var d4 = Vector512.Load(p + 4 * stride) - hi; var d5 = Vector512.Load(p + 5 * stride) - hi;
                var d6 = Vector512.Load(p + 6 * stride) - hi; var d7 = Vector512.Load(p + 7 * stride) - hi;
                s += ((d0 + d1) + (d2 + d3)) + ((d4 + d5) + (d6 + d7));
                q += (Simd.MultiplyAdd(d1, d1, d0 * d0) + Simd.MultiplyAdd(d3, d3, d2 * d2))
                    + (Simd.MultiplyAdd(d5, d5, d4 * d4) + Simd.MultiplyAdd(d7, d7, d6 * d6));
                return;
            }
            for (int r = 0; r < rows; r++, p += stride)
            {
                var d = Vector512.Load(p) - hi;
                s += d;
                q = Simd.MultiplyAdd(d, d, q);
            }
        }

        public void Flush(Vector512<T> s, Vector512<T> q, T* lo, double* first, double* second)
        {
            AddToDouble(s, first);
            AddToDouble(q, second);
        }

        public Coefficients<T> Finish(int ch, double s1, double s2)
        {
            double channelMean = shift[ch] + s1 / m;
            double channelVariance = Math.Max(0, (s2 - s1 * s1 / m) / m);
            (mean[ch], variance[ch]) = (channelMean, channelVariance);
            double alpha = (gamma == null ? 1 : double.CreateTruncating(gamma[ch])) / Math.Sqrt(channelVariance + eps);
            return Coefficients<T>.Centered(channelMean, T.Zero, alpha, beta == null ? 0 : double.CreateTruncating(beta[ch]));
        }
    }

    readonly struct GradientSums<T>(T* dy, T* x, double* mean, double* variance, T* gamma, double eps, double m, T* dGamma, T* dBeta) : IPairSum<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public double Center(int ch) => mean[ch];

        public int GroupRows => RowGroup / 2;

        public void AddRun(long offset, int len, int ch, ref double first, ref double second) =>
            GradSums(dy + offset, x + offset, len, mean[ch], ref first, ref second);

        public void AddRows(long rowOffset, int rows, int cols, T* hi, T* lo, double* first, double* second, int stride) =>
            PairRows<T, CentredGradients<T>>(new(dy, x), rowOffset, rows, cols, hi, lo, first, second, stride);

        public int RowsPerPass => 4;

        // s += Σ_r dy, q += Σ_r (x − hi)·dy;  Flush takes lo·Σdy off, exactly, in double
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void AddPass(long at, long stride, int rows, Vector512<T> hi, ref Vector512<T> s, ref Vector512<T> q)
        {
            T* g = dy + at, p = x + at;
            if (rows == 4)
            {
                var g0 = Vector512.Load(g); var g1 = Vector512.Load(g + stride);
                var g2 = Vector512.Load(g + 2 * stride); var g3 = Vector512.Load(g + 3 * stride);
                s += (g0 + g1) + (g2 + g3);
                q = Simd.MultiplyAdd(Vector512.Load(p + 3 * stride) - hi, g3, Simd.MultiplyAdd(Vector512.Load(p + 2 * stride) - hi, g2,
                    Simd.MultiplyAdd(Vector512.Load(p + stride) - hi, g1, Simd.MultiplyAdd(Vector512.Load(p) - hi, g0, q))));
                return;
            }
            for (int r = 0; r < rows; r++, g += stride, p += stride)
            {
                var gr = Vector512.Load(g);
                s += gr;
                q = Simd.MultiplyAdd(Vector512.Load(p) - hi, gr, q);
            }
        }

        public void Flush(Vector512<T> s, Vector512<T> q, T* lo, double* first, double* second)
        {
            if (typeof(T) == typeof(float))
            {
                var (s0, s1) = Vector512.Widen(s.AsSingle());
                var (q0, q1) = Vector512.Widen(q.AsSingle());
                var (l0, l1) = Vector512.Widen(Vector512.Load((float*)lo));
                Vector512.Store(Vector512.Load(first) + s0, first);
                Vector512.Store(Vector512.Load(first + 8) + s1, first + 8);
                Vector512.Store(Vector512.Load(second) + (q0 - l0 * s0), second);
                Vector512.Store(Vector512.Load(second + 8) + (q1 - l1 * s1), second + 8);
                return;
            }
            var sd = s.AsDouble();
            Vector512.Store(Vector512.Load(first) + sd, first);
            Vector512.Store(Vector512.Load(second) + (q.AsDouble() - Vector512.Load((double*)lo) * sd), second);
        }

        public Coefficients<T> Finish(int ch, double sumDy, double sumXDy)
        {
            double r = 1 / Math.Sqrt(variance[ch] + eps);
            double a = (gamma == null ? 1 : double.CreateTruncating(gamma[ch])) * r;
            if (dBeta != null) dBeta[ch] = T.CreateTruncating(sumDy);
            if (dGamma != null) dGamma[ch] = T.CreateTruncating(sumXDy * r);
            return Coefficients<T>.Centered(mean[ch], T.CreateTruncating(a), -a * r * r * sumXDy / m, -a * sumDy / m);
        }
    }

    /// <summary>Per-channel totals of a pair sum: per plane (or per row block) in parallel, then added in a fixed order.</summary>
    static (double[] First, double[] Second) ChannelSums<T, TSum>(TSum sum, int n, int c, int s)
        where T : unmanaged, IFloatingPointIeee754<T> where TSum : struct, IPairSum<T>
    {
        var totalFirst = new double[c];
        var totalSecond = new double[c];
        if (s >= PlanePathMinSpatial)
        {
            // One slot per plane (rented: a fresh large array would page-fault on every call), added per channel in plane order.
            int planes = n * c;
            var first = ArrayPool<double>.Shared.Rent(planes);
            var second = ArrayPool<double>.Shared.Rent(planes);
            Array.Clear(first, 0, planes);
            Array.Clear(second, 0, planes);
            // Chunks of planes go to threads as they come free (each plane writes its own slot).
            fixed (double* p1 = first, p2 = second)
                Threading.ForChunks(planes, 4, RowBlocks, lastFirst: false, new PlaneSums<T, TSum>(sum, c, s, p1, p2));
            for (int i = 0, plane = 0; i < n; i++)
                for (int ch = 0; ch < c; ch++, plane++)
                {
                    totalFirst[ch] += first[plane];
                    totalSecond[ch] += second[plane];
                }
            ArrayPool<double>.Shared.Return(first);
            ArrayPool<double>.Shared.Return(second);
            return (totalFirst, totalSecond);
        }
        // Row blocks: their number depends on N only; tiny inputs stay on one thread. A block has at least PartialRows rows
        // (with fewer, adding each block's partial sums to its slot cost as much as summing its rows).
        int cols = c * s;
        int rowsPerBlock = Math.Max(PartialRows, (n + RowBlocks - 1) / RowBlocks);
        int blocks = (n + rowsPerBlock - 1) / rowsPerBlock;
        var hi = new T[cols];
        var lo = new T[cols];
        // Column col = ch·S + j belongs to channel ch; the loops below walk (ch, j) instead of dividing per column.
        for (int ch = 0, col = 0; ch < c; ch++)
        {
            double center = sum.Center(ch);
            T h = T.CreateTruncating(center), l = T.CreateTruncating(center - double.CreateTruncating(h));
            for (int j = 0; j < s; j++, col++) (hi[col], lo[col]) = (h, l);
        }
        // Rented, as the plane path's slots: a fresh array this size is a large object whose pages the GC maps and
        // unmaps again, and every unmapping interrupts the other threads (TLB shootdowns): the [4096, 1024]
        // statistics pass took 2.5× as long.
        int slots = blocks * cols;
        var blockFirst = ArrayPool<double>.Shared.Rent(slots);
        var blockSecond = ArrayPool<double>.Shared.Rent(slots);
        fixed (T* pHi = hi, pLo = lo)
        fixed (double* p1 = blockFirst, p2 = blockSecond)
            // Blocks go to threads as they come free (each writes its own slot): a thread the machine slows down does fewer.
            Threading.ForChunks(blocks, Math.Max(1, (1 << 16) / (rowsPerBlock * cols)), blocks, lastFirst: false,
                new RowBlockSums<T, TSum>(sum, n, cols, rowsPerBlock, pHi, pLo, p1, p2));
        for (int block = 0; block < blocks; block++)
        {
            if (s == 1)
            {
                TensorPrimitives.Add(totalFirst, blockFirst.AsSpan(block * cols, cols), totalFirst);
                TensorPrimitives.Add(totalSecond, blockSecond.AsSpan(block * cols, cols), totalSecond);
                continue;
            }
            for (int ch = 0, col = block * cols; ch < c; ch++)
                for (int j = 0; j < s; j++, col++)
                {
                    totalFirst[ch] += blockFirst[col];
                    totalSecond[ch] += blockSecond[col];
                }
        }
        ArrayPool<double>.Shared.Return(blockFirst);
        ArrayPool<double>.Shared.Return(blockSecond);
        return (totalFirst, totalSecond);
    }

    readonly struct PlaneSums<T, TSum>(TSum sum, int c, int s, double* first, double* second) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T> where TSum : struct, IPairSum<T>
    {
        public void Run(int start, int end)
        {
            // The channel advances with the plane (no division per plane: small planes are many).
            for (int plane = start, ch = start % c; plane < end; plane++, ch = ch + 1 == c ? 0 : ch + 1)
                sum.AddRun((long)plane * s, s, ch, ref first[plane], ref second[plane]);
        }
    }

    /// <summary>Blocks [start, end) of rows, each summed per column into its own slot: through partial sums in L1 with
    /// AVX-512, else a few whole rows at a time in registers. Either way in an order fixed by the shapes.</summary>
    readonly struct RowBlockSums<T, TSum>(TSum sum, int n, int cols, int rowsPerBlock, T* hi, T* lo, double* first, double* second) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T> where TSum : struct, IPairSum<T>
    {
        public void Run(int start, int end)
        {
            for (int block = start; block < end; block++)
            {
                double* f = first + (long)block * cols, q = second + (long)block * cols;
                // Cleared here, by the thread that fills them, rather than all at once before the pass.
                new Span<double>(f, cols).Clear();
                new Span<double>(q, cols).Clear();
                int r0 = block * rowsPerBlock, last = Math.Min(n, r0 + rowsPerBlock), done = 0;
                if (Vector512.IsHardwareAccelerated) done = Partials(r0, last, f, q);
                // Columns past the partial sums' whole vectors (all of them without AVX-512): rows summed in registers.
                for (int i = r0; i < last && done < cols; i += sum.GroupRows)
                    sum.AddRows((long)i * cols + done, Math.Min(sum.GroupRows, last - i), cols - done, hi + done, lo + done, f + done, q + done, cols);
            }
        }

        /// <summary>Rows [r0, r1) of the whole vectors of columns, through partial sums in L1 laid out [hi | s | q] per vector
        /// (one stream of state: no two of its loads and stores 4 KiB apart); returns the columns done.</summary>
        [SkipLocalsInit] // the state below is written before it is read
        int Partials(int r0, int r1, double* f, double* q)
        {
            int w = Vector512<T>.Count, vectorCols = cols / w * w, tileCols = TileBytes / sizeof(T);
            // 64-byte aligned: a vector of state split over two cache lines would make every access to it two.
            byte* raw = stackalloc byte[3 * TileBytes + 64];
            T* state = (T*)(((nint)raw + 63) & ~(nint)63);
            for (int t0 = 0; t0 < vectorCols; t0 += tileCols)
            {
                int t1 = Math.Min(vectorCols, t0 + tileCols);
                for (int c = t0; c < t1; c += w) Vector512.Store(Vector512.Load(hi + c), state + 3 * (c - t0));
                for (int i0 = r0; i0 < r1; i0 += PartialRows)
                {
                    int i1 = Math.Min(r1, i0 + PartialRows);
                    for (int c = t0; c < t1; c += w)
                    {
                        Vector512.Store(Vector512<T>.Zero, state + 3 * (c - t0) + w);
                        Vector512.Store(Vector512<T>.Zero, state + 3 * (c - t0) + 2 * w);
                    }
                    for (int i = i0; i < i1; i += sum.RowsPerPass)
                    {
                        int rows = Math.Min(sum.RowsPerPass, i1 - i);
                        T* cell = state;
                        for (long at = (long)i * cols + t0, stop = at + (t1 - t0); at < stop; at += w, cell += 3 * w)
                        {
                            var s = Vector512.Load(cell + w); var sq = Vector512.Load(cell + 2 * w);
                            sum.AddPass(at, cols, rows, Vector512.Load(cell), ref s, ref sq);
                            Vector512.Store(s, cell + w);
                            Vector512.Store(sq, cell + 2 * w);
                        }
                    }
                    for (int c = t0; c < t1; c += w)
                        sum.Flush(Vector512.Load(state + 3 * (c - t0) + w), Vector512.Load(state + 3 * (c - t0) + 2 * w), lo + c, f + c, q + c);
                }
            }
            return vectorCols;
        }
    }

    // ---------------------------------------------------------------- inner loops

    /// <summary>Adds a vector of sums to four (double) or eight (float, widened) double accumulators in memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void AddToDouble<T>(Vector256<T> v, double* acc) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            var (lo, hi) = Vector256.Widen(v.AsSingle());
            Vector256.Store(Vector256.Load(acc) + lo, acc);
            Vector256.Store(Vector256.Load(acc + 4) + hi, acc + 4);
        }
        else Vector256.Store(Vector256.Load(acc) + v.AsDouble(), acc);
    }

    /// <summary>Adds a 512-bit vector of sums to eight (double) or sixteen (float, widened) double accumulators in memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void AddToDouble<T>(Vector512<T> v, double* acc) where T : unmanaged
    {
        AddToDouble(v.GetLower(), acc);
        AddToDouble(v.GetUpper(), acc + Vector256<T>.Count);
    }

    /// <summary>Adds a vector of sums to double accumulators in registers (float: widened into lo and hi).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void AddToDouble<T>(Vector256<T> v, ref Vector256<double> lo, ref Vector256<double> hi) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            var (l, h) = Vector256.Widen(v.AsSingle());
            lo += l;
            hi += h;
        }
        else lo += v.AsDouble();
    }

    /// <summary>
    /// The two terms a pair sum takes from each element, with d = (x − hi) − lo the element centred on hi + lo:
    /// first += U, second += V·U. (U, V) = (d, d) for the moments, (dy, d) for the gradient sums.
    /// </summary>
    interface IPairTerms<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        void Load(long at, Vector256<T> hi, Vector256<T> lo, out Vector256<T> u, out Vector256<T> v);
        (double U, double V) At(long at, T hi, T lo);
    }

    readonly struct CentredValues<T>(T* x) : IPairTerms<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Load(long at, Vector256<T> hi, Vector256<T> lo, out Vector256<T> u, out Vector256<T> v) => u = v = Vector256.Load(x + at) - hi - lo;

        public (double U, double V) At(long at, T hi, T lo)
        {
            double d = double.CreateTruncating(x[at] - hi - lo);
            return (d, d);
        }
    }

    readonly struct CentredGradients<T>(T* dy, T* x) : IPairTerms<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Load(long at, Vector256<T> hi, Vector256<T> lo, out Vector256<T> u, out Vector256<T> v)
        {
            u = Vector256.Load(dy + at);
            v = Vector256.Load(x + at) - hi - lo;
        }

        public (double U, double V) At(long at, T hi, T lo) => (double.CreateTruncating(dy[at]), double.CreateTruncating(x[at] - hi - lo));
    }

    // s1 += Σd, s2 += Σd² with d = (x − hi) − lo (hi + lo = K; d is exact for x near K) over one run.
    internal static void ShiftedSums<T>(T* x, int len, double shift, ref double s1, ref double s2) where T : unmanaged, IFloatingPointIeee754<T> =>
        PairRun<T, CentredValues<T>>(new(x), len, shift, ref s1, ref s2);

    // sumDy += Σdy, sumXDy += Σ((x − hi) − lo)·dy (hi + lo = μ) over one run.
    internal static void GradSums<T>(T* dy, T* x, int len, double mu, ref double sumDy, ref double sumXDy) where T : unmanaged, IFloatingPointIeee754<T> =>
        PairRun<T, CentredGradients<T>>(new(dy, x), len, mu, ref sumDy, ref sumXDy);

    // first += ΣU, second += ΣV·U over one run of one channel, centred on `centre` (split into hi + lo in T): four chains
    // of T vectors over blocks of BlockSteps steps (float: 8 terms per lane), each block's sums then added in double, so
    // float rounding stays that of a few-term sum.
    static void PairRun<T, TTerms>(TTerms terms, int len, double centre, ref double first, ref double second)
        where T : unmanaged, IFloatingPointIeee754<T> where TTerms : struct, IPairTerms<T>
    {
        T kHi = T.CreateTruncating(centre), kLo = T.CreateTruncating(centre - double.CreateTruncating(kHi));
        var hi = Vector256.Create(kHi); var lo = Vector256.Create(kLo);
        int w = Vector256<T>.Count, i = 0;
        Vector256<double> a0 = default, a1 = default, q0 = default, q1 = default;
        while (i <= len - 4 * w)
        {
            Vector256<T> b0 = default, b1 = default, b2 = default, b3 = default;
            Vector256<T> p0 = default, p1 = default, p2 = default, p3 = default;
            int stop = Math.Min(len - 4 * w, i + (BlockSteps - 1) * 4 * w);
            for (; i <= stop; i += 4 * w)
            {
                terms.Load(i, hi, lo, out var u0, out var v0); terms.Load(i + w, hi, lo, out var u1, out var v1);
                terms.Load(i + 2 * w, hi, lo, out var u2, out var v2); terms.Load(i + 3 * w, hi, lo, out var u3, out var v3);
                b0 += u0; b1 += u1; b2 += u2; b3 += u3;
                p0 = Simd.MultiplyAdd(v0, u0, p0); p1 = Simd.MultiplyAdd(v1, u1, p1);
                p2 = Simd.MultiplyAdd(v2, u2, p2); p3 = Simd.MultiplyAdd(v3, u3, p3);
            }
            AddToDouble((b0 + b1) + (b2 + b3), ref a0, ref a1);
            AddToDouble((p0 + p1) + (p2 + p3), ref q0, ref q1);
        }
        double t1 = Vector256.Sum(a0 + a1), t2 = Vector256.Sum(q0 + q1);
        for (; i < len; i++)
        {
            var (u, v) = terms.At(i, kHi, kLo);
            t1 += u;
            t2 = Math.FusedMultiplyAdd(v, u, t2);
        }
        first += t1;
        second += t2;
    }

    // first[col] += Σ_r U, second[col] += Σ_r V·U over `rows` rows (`stride` apart) of `cols` columns with per-column
    // centres hi + lo, one vector of columns at a time, the rows summed in registers first.
    static void PairRows<T, TTerms>(TTerms terms, long rowOffset, int rows, int cols, T* hi, T* lo, double* first, double* second, int stride)
        where T : unmanaged, IFloatingPointIeee754<T> where TTerms : struct, IPairTerms<T>
    {
        int w = Vector256<T>.Count, col = 0;
        for (; col <= cols - w; col += w)
        {
            var h = Vector256.Load(hi + col); var l = Vector256.Load(lo + col);
            Vector256<T> a = default, q = default;
            for (int r = 0; r < rows; r++)
            {
                terms.Load(rowOffset + (long)r * stride + col, h, l, out var u, out var v);
                a += u;
                q = Simd.MultiplyAdd(v, u, q);
            }
            AddToDouble(a, first + col);
            AddToDouble(q, second + col);
        }
        for (; col < cols; col++)
            for (int r = 0; r < rows; r++)
            {
                var (u, v) = terms.At(rowOffset + (long)r * stride + col, hi[col], lo[col]);
                first[col] += u;
                second[col] = Math.FusedMultiplyAdd(v, u, second[col]);
            }
    }
}
