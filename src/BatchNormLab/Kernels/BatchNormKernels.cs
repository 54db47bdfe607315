using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BatchNormLab.Kernels;

/// <summary>
/// Fused BatchNorm kernels over an (N, C, S) view: S = 1 for (N,C), L for (N,C,L), H·W for NCHW.
/// Statistics accumulate in double, shifted by one sample of the channel (K_c = x[0,c,0]), so
/// |μ| ≫ σ loses nothing (the E[x²]−E[x]² cancellation of one-pass formulas). Float inputs are
/// summed in float over short blocks (a few terms per lane; at most 64 centred terms in the row
/// path with AVX-512) whose sums are then added in double.
/// Each kernel is a reduction pass then an elementwise pass. When S is large every (n, c) plane is
/// a contiguous run: threads stream planes in memory order, each plane's sums go to their own slot,
/// and slots are added per channel in a fixed order. When S is small channels interleave within a
/// row: rows are cut into blocks whose count depends only on N, threads stream whole rows of their
/// blocks, each block's column sums go to their own slot, and slots are added in block order. So
/// results never depend on the partition. The elementwise pass takes planes or row ranges, and
/// writes large outputs with non-temporal stores (no read for ownership, no eviction of the input).
/// Training passes subtract the mean before scaling, with μ split into a hi part (exactly
/// representable in T) and a lo remainder, so a float32 input with |μ| ≫ σ is normalised to full
/// precision (the folded y = x·α + β' would cancel there); the row path folds lo·α into the shift
/// instead of subtracting it (x − hi is exact there, and lo·α is small); eval uses the folded form.
/// </summary>
public static unsafe partial class BatchNormKernels
{
    /// <summary>Below this spatial size a plane is too short to stream on its own.</summary>
    const int PlanePathMinSpatial = 32;
    /// <summary>Row blocks of the row path: about this many, so any thread count up to it has work.</summary>
    const int RowBlocks = 16;
    /// <summary>
    /// Rows summed in registers before the per-column accumulators (double) are updated: at most this many,
    /// and no more than keep eight row streams in flight (a sum that reads dy and x takes half as many rows).
    /// </summary>
    const int RowGroup = 8;
    /// <summary>
    /// With 512-bit vectors the row path sums rows into partial sums in T kept in L1 (a vector of them per vector of
    /// columns, beside the columns' centres), eight rows per pass along the rows (four for sums that read two arrays),
    /// and adds them to the double slots every this many rows (a float lane then holds a sum of at most 64 centred
    /// terms): fewer updates of the slots than summing in registers alone.
    /// </summary>
    const int PartialRows = 64;
    /// <summary>Columns of the row path are taken at most this many bytes of a row at a time, so their partial sums stay in L1.</summary>
    const int TileBytes = 4096;
    /// <summary>
    /// Rows the row path's elementwise pass takes together, so that each load of a vector of its per-column coefficients
    /// serves this many outputs: one row at a time, the coefficients' loads from L2 crowd out the streams' from memory.
    /// </summary>
    const int ApplyRows = 4;
    /// <summary>Vector steps (of four vectors) summed in registers before a run's double accumulators are updated.</summary>
    const int BlockSteps = 8;

    // ---------------------------------------------------------------- training forward
    // μ_c = (1/m)·Σx,  σ²_c = (1/m)·Σ(x−μ)²  (biased, m = N·S), from s1 = Σ(x−K), s2 = Σ(x−K)²:
    //   μ = K + s1/m,  σ² = (s2 − s1²/m)/m
    // y = ((x − μ_hi) − μ_lo)·α + β  with  α = γ/√(σ²+ε)  (γ = 1, β = 0 when not affine)

    /// <summary>Training forward: writes y, the batch mean and the biased batch variance per channel.</summary>
    public static void ForwardTrain<T>(ReadOnlySpan<T> x, int n, int c, int s, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta,
        double eps, Span<T> y, Span<double> mean, Span<double> variance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(x.Length, n, c, s, gamma, beta, y.Length, mean.Length, variance.Length);
        var shift = new double[c];
        for (int ch = 0; ch < c; ch++) shift[ch] = double.CreateTruncating(x[ch * s]);
        // Empty spans pin as null: no γ / β.
        fixed (T* px = x, py = y, pGamma = gamma, pBeta = beta)
        fixed (double* pShift = shift, pMean = mean, pVar = variance)
            Run(new Moments<T>(px, pShift, pGamma, pBeta, eps, (double)n * s, pMean, pVar), null, px, py, n, c, s);
    }

    // ---------------------------------------------------------------- eval forward
    // y = ((x − μ_hi) − μ_lo)·α_c + β_c  with  α = γ/√(running_var+ε), μ = running_mean: one pass. Not the folded
    // x·α + (β − μ·α), which cancels catastrophically when |μ| ≫ σ (1% off at |μ|/σ = 1e5 in float32); the centring
    // is the same pass with one more subtraction, as in training.

    /// <summary>Forward with given statistics (running statistics in eval mode).</summary>
    public static void ForwardEval<T>(ReadOnlySpan<T> x, int n, int c, int s, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta,
        ReadOnlySpan<double> mean, ReadOnlySpan<double> variance, double eps, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(x.Length, n, c, s, gamma, beta, y.Length, mean.Length, variance.Length);
        var k = new Coefficients<T>[c];
        for (int ch = 0; ch < c; ch++)
        {
            double alpha = (gamma.IsEmpty ? 1 : double.CreateTruncating(gamma[ch])) / Math.Sqrt(variance[ch] + eps);
            k[ch] = Coefficients<T>.Centered(mean[ch], T.Zero, alpha, beta.IsEmpty ? 0 : double.CreateTruncating(beta[ch]));
        }
        fixed (T* px = x, py = y) Apply(null, px, py, n, c, s, k);
    }

    // ---------------------------------------------------------------- statistics, then a given per-channel map
    // Batch Renorm needs μ_B and σ²_B before it knows its scale and shift (r and d depend on them):
    // the training forward's two passes, with the coefficients computed in between by the caller.
    //   y = ((x − μ_hi) − μ_lo)·scale_c + shift_c

    /// <summary>The reduction pass of <see cref="ForwardTrain{T}"/> alone: the batch mean and biased variance per channel.</summary>
    public static void Statistics<T>(ReadOnlySpan<T> x, int n, int c, int s, Span<double> mean, Span<double> variance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(x.Length, n, c, s, ReadOnlySpan<T>.Empty, ReadOnlySpan<T>.Empty, x.Length, mean.Length, variance.Length);
        var shift = new double[c];
        for (int ch = 0; ch < c; ch++) shift[ch] = double.CreateTruncating(x[ch * s]);
        fixed (T* px = x)
        fixed (double* pShift = shift, pMean = mean, pVar = variance)
        {
            // ε only enters the coefficients, which are not used here.
            var moments = new Moments<T>(px, pShift, null, null, 1, (double)n * s, pMean, pVar);
            var (first, second) = ChannelSums<T, Moments<T>>(moments, n, c, s);
            for (int ch = 0; ch < c; ch++) moments.Finish(ch, first[ch], second[ch]);
        }
    }

    /// <summary>The elementwise pass of <see cref="ForwardTrain{T}"/> with given mean, scale and shift per channel.</summary>
    public static void ForwardNormalize<T>(ReadOnlySpan<T> x, int n, int c, int s, ReadOnlySpan<double> mean, ReadOnlySpan<double> scale,
        ReadOnlySpan<double> shift, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(x.Length, n, c, s, ReadOnlySpan<T>.Empty, ReadOnlySpan<T>.Empty, y.Length, mean.Length, scale.Length);
        if (shift.Length != c) throw new ArgumentException($"BatchNorm kernel: per-channel arrays must have C={c} values");
        var k = new Coefficients<T>[c];
        for (int ch = 0; ch < c; ch++) k[ch] = Coefficients<T>.Centered(mean[ch], T.Zero, scale[ch], shift[ch]);
        fixed (T* px = x, py = y) Apply(null, px, py, n, c, s, k);
    }

    // ---------------------------------------------------------------- training backward
    // With x̂ = (x−μ)·r, r = 1/√(σ²+ε), and the batch statistics depending on x:
    //   dβ = Σdy,   dγ = Σ dy·x̂ = r·Σ(x−μ)·dy
    //   dx = γ·r·(dy − Σdy/m − x̂·Σ(dy·x̂)/m)
    //      = dy·A + (x−μ)·B + C  with  A = γ·r,  B = −A·r²·Σ(x−μ)dy/m,  C = −A·Σdy/m
    // One reduction pass (Σdy, Σ(x−μ)dy; short blocks added in double), one elementwise pass.

    /// <summary>Training backward: dx (overwritten), and dγ, dβ (overwritten; skipped when empty).</summary>
    public static void BackwardTrain<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, int n, int c, int s, ReadOnlySpan<T> gamma,
        ReadOnlySpan<double> mean, ReadOnlySpan<double> variance, double eps, Span<T> dx, Span<T> dGamma, Span<T> dBeta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckBackwardShapes(dy.Length, x.Length, n, c, s, gamma, dx.Length, dGamma.Length, dBeta, mean.Length, variance.Length);
        fixed (T* pdy = dy, px = x, pdx = dx, pGamma = gamma, pdGamma = dGamma, pdBeta = dBeta)
        fixed (double* pMean = mean, pVar = variance)
            Run(new GradientSums<T>(pdy, px, pMean, pVar, pGamma, eps, (double)n * s, pdGamma, pdBeta), pdy, px, pdx, n, c, s);
    }

    // ---------------------------------------------------------------- eval backward
    // y = x·α + β' with the (running) statistics constant, α = γ·r:
    //   dx = dy·α,   dγ = Σ dy·x̂ = r·Σ(x−μ)·dy,   dβ = Σdy
    // The reduction pass of the training backward (for dγ, dβ), then one elementwise pass.

    /// <summary>Backward with given statistics: dx (overwritten), and dγ, dβ (overwritten; skipped when empty).</summary>
    public static void BackwardEval<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, int n, int c, int s, ReadOnlySpan<T> gamma,
        ReadOnlySpan<double> mean, ReadOnlySpan<double> variance, double eps, Span<T> dx, Span<T> dGamma, Span<T> dBeta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckBackwardShapes(dy.Length, x.Length, n, c, s, gamma, dx.Length, dGamma.Length, dBeta, mean.Length, variance.Length);
        fixed (T* pdy = dy, px = x, pdx = dx, pGamma = gamma, pdGamma = dGamma, pdBeta = dBeta)
        fixed (double* pMean = mean, pVar = variance)
        {
            if (pdGamma != null || pdBeta != null)
            {
                var sums = new GradientSums<T>(pdy, px, pMean, pVar, pGamma, eps, (double)n * s, pdGamma, pdBeta);
                var (first, second) = ChannelSums<T, GradientSums<T>>(sums, n, c, s);
                for (int ch = 0; ch < c; ch++) sums.Finish(ch, first[ch], second[ch]);
            }
            var k = new Coefficients<T>[c];
            for (int ch = 0; ch < c; ch++)
                k[ch] = Coefficients<T>.Folded((gamma.IsEmpty ? 1 : double.CreateTruncating(gamma[ch])) / Math.Sqrt(variance[ch] + eps), 0);
            Apply(null, pdy, pdx, n, c, s, k);
        }
    }

    // ---------------------------------------------------------------- the two passes

    /// <summary>The reduction pass, the per-channel coefficients, the elementwise pass (out = dy·A + ((x−hi)−lo)·B + C).</summary>
    static void Run<T, TSum>(TSum sum, T* dy, T* x, T* output, int n, int c, int s)
        where T : unmanaged, IFloatingPointIeee754<T> where TSum : struct, IPairSum<T>
    {
        var (first, second) = ChannelSums<T, TSum>(sum, n, c, s);
        var k = new Coefficients<T>[c];
        for (int ch = 0; ch < c; ch++) k[ch] = sum.Finish(ch, first[ch], second[ch]);
        Apply(dy, x, output, n, c, s, k);
    }

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

        public void AddRows(long rowOffset, int rows, int cols, T* hi, T* lo, double* first, double* second, int stride)
        {
            int w = Vector256<T>.Count, col = 0;
            // first += Σ_r d, second += Σ_r d²  with  d = (x − hi) − lo, one vector of columns at a time
            for (; col <= cols - w; col += w)
            {
                var h = Vector256.Load(hi + col); var l = Vector256.Load(lo + col);
                Vector256<T> a = default, q = default;
                for (int r = 0; r < rows; r++)
                {
                    var d = Vector256.Load(x + rowOffset + (long)r * stride + col) - h - l;
                    a += d;
                    q = Simd.MultiplyAdd(d, d, q);
                }
                AddToDouble(a, first + col);
                AddToDouble(q, second + col);
            }
            for (; col < cols; col++)
                for (int r = 0; r < rows; r++)
                {
                    double d = double.CreateTruncating(x[rowOffset + (long)r * stride + col] - hi[col] - lo[col]);
                    first[col] += d;
                    second[col] = Math.FusedMultiplyAdd(d, d, second[col]);
                }
        }

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

        public void AddRows(long rowOffset, int rows, int cols, T* hi, T* lo, double* first, double* second, int stride)
        {
            int w = Vector256<T>.Count, col = 0;
            // first += Σ_r dy, second += Σ_r ((x − hi) − lo)·dy, one vector of columns at a time
            for (; col <= cols - w; col += w)
            {
                var h = Vector256.Load(hi + col); var l = Vector256.Load(lo + col);
                Vector256<T> a = default, q = default;
                for (int r = 0; r < rows; r++)
                {
                    long at = rowOffset + (long)r * stride + col;
                    var g = Vector256.Load(dy + at);
                    a += g;
                    q = Simd.MultiplyAdd(Vector256.Load(x + at) - h - l, g, q);
                }
                AddToDouble(a, first + col);
                AddToDouble(q, second + col);
            }
            for (; col < cols; col++)
                for (int r = 0; r < rows; r++)
                {
                    long at = rowOffset + (long)r * stride + col;
                    first[col] += double.CreateTruncating(dy[at]);
                    second[col] = Math.FusedMultiplyAdd(double.CreateTruncating(x[at] - hi[col] - lo[col]), double.CreateTruncating(dy[at]), second[col]);
                }
        }

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

    // ---------------------------------------------------------------- the elementwise pass
    // out = dy·A + ((x − hi) − lo)·B + C, one formula for all three uses:
    //   training forward: no dy, hi + lo = μ, B = α, C = β
    //   training backward: hi + lo = μ, A = γ·r, B and C as above
    //   eval forward: no dy, hi + lo = running mean, B = α, C = β

    /// <summary>Per-channel coefficients of the elementwise pass; hi is μ rounded to T, lo the remainder.</summary>
    readonly struct Coefficients<T>(T hi, T lo, T a, T b, T c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public readonly T Hi = hi, Lo = lo, A = a, B = b, C = c;

        public static Coefficients<T> Centered(double mu, T a, double b, double c)
        {
            T hi = T.CreateTruncating(mu);
            return new(hi, T.CreateTruncating(mu - double.CreateTruncating(hi)), a, T.CreateTruncating(b), T.CreateTruncating(c));
        }

        public static Coefficients<T> Folded(double alpha, double betaPrime) =>
            new(T.Zero, T.Zero, T.Zero, T.CreateTruncating(alpha), T.CreateTruncating(betaPrime));
    }

    static void Apply<T>(T* dy, T* x, T* output, int n, int c, int s, Coefficients<T>[] k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool stream = (long)n * c * s * sizeof(T) >= Simd.NonTemporalMinBytes;
        if (s >= PlanePathMinSpatial)
        {
            Threading.ForChunks(n * c, 4, RowBlocks, lastFirst: false, new PlaneApply<T>(dy, x, output, c, s, k, stream));
            return;
        }
        // Row path: coefficients per column of the (N, C·S) matrix, μ's lo part folded into the shift (C − lo·B, in double):
        // one array fewer to load per vector of outputs (out = dy·A + (x − hi)·B + C').
        // When outputs are streamed and a row is whole cache lines, every row sits the same way in its lines: the pass then
        // takes "rows" that start at a line, `shift` elements into a row, with the coefficients rotated to match (index j
        // holds column (j + shift) mod cols). So no row has elements left over at its ends, which would be written one at a
        // time and with cached stores.
        int cols = c * s;
        int shift = stream && (long)cols * sizeof(T) % 64 == 0 ? Simd.WholeLines(output, cols).Start : 0;
        var hi = new T[cols]; var a = new T[cols]; var b = new T[cols]; var cc = new T[cols];
        for (int ch = 0, col = 0; ch < c; ch++)
        {
            var kc = k[ch];
            T folded = T.CreateTruncating(double.CreateTruncating(kc.C) - double.CreateTruncating(kc.Lo) * double.CreateTruncating(kc.B));
            for (int j = 0; j < s; j++, col++)
            {
                int at = col >= shift ? col - shift : col - shift + cols;
                (hi[at], a[at], b[at], cc[at]) = (kc.Hi, kc.A, kc.B, folded);
            }
        }
        fixed (T* pHi = hi, pA = a, pB = b, pC = cc)
            // As many chunks of rows as the reduction has blocks, taken by threads as they come free, from the last: the
            // reduction pass has just read the first blocks first, so the last ones are the likeliest still in cache.
            Threading.ForChunks(n, Math.Max(1, 4096 / cols), RowBlocks, lastFirst: true, new RowApply<T>(dy, x, output, cols, shift, pHi, pA, pB, pC, stream));
    }

    readonly struct PlaneApply<T>(T* dy, T* x, T* output, int c, int s, Coefficients<T>[] k, bool stream) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            for (int plane = start, ch = start % c; plane < end; plane++, ch = ch + 1 == c ? 0 : ch + 1)
            {
                long offset = (long)plane * s;
                ApplyRun(dy == null ? null : dy + offset, x + offset, output + offset, s, k[ch], stream);
            }
            if (stream) Simd.StoreFence();
        }
    }

    /// <summary>
    /// The elementwise pass over rows [start, end) of the (N, C·S) matrix, with per-column coefficients rotated by
    /// <paramref name="shift"/> (see <see cref="Apply{T}"/>).
    /// </summary>
    readonly struct RowApply<T>(T* dy, T* x, T* output, int cols, int shift, T* hi, T* a, T* b, T* c, bool stream) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            // Rows whose starts are equally placed in their cache lines (all of them when a row is whole lines) go through
            // together: a load of a vector of coefficients serves ApplyRows of them. The groups go from the last: the
            // reduction pass has just read this part's rows in order, and its last ones are still in cache (L3).
            // The [4096, 1024] backward took about 10% less time this way in a loop of forward and backward passes; the
            // plane path was slower walked backwards.
            // With a shift, the part's rows start `shift` elements in: its last row is short, and its first `shift`
            // elements (columns [0, shift) of row start) come on their own, at the end.
            int group = (long)cols * sizeof(T) % 64 == 0 ? ApplyRows : 1;
            long first = (long)start * cols + shift;
            int whole = shift == 0 ? end - start : end - start - 1;
            if (shift > 0) Rows(first + (long)whole * cols, 1, cols - shift, 0);
            for (int i = whole == 0 ? -1 : (whole - 1) / group * group; i >= 0; i -= group)
                Rows(first + (long)i * cols, Math.Min(group, whole - i), cols, 0);
            if (shift > 0) Rows(first - shift, 1, shift, cols - shift);
            if (stream) Simd.StoreFence();
        }

        /// <summary>
        /// <paramref name="rows"/> rows (<c>cols</c> apart) of <paramref name="length"/> elements from element
        /// <paramref name="first"/>, whose coefficients start at index <paramref name="k0"/> of the (rotated) arrays.
        /// </summary>
        void Rows(long first, int rows, int length, int k0)
        {
            T* pdy = dy, px = x, po = output, pHi = hi + k0, pA = a + k0, pB = b + k0, pC = c + k0;
            // Vectors over the whole cache lines (streamed) or all of the row; the elements either side one at a time.
            var (peel, last) = stream ? Simd.WholeLines(po + first, length) : (0, length);
            int col = peel;
            // 512-bit where there (the backward's pass took 7% less time than with 256-bit vectors, one row at a time), two
            // vectors of columns per step: each row is read 128 bytes at a time before the next, with the coefficient
            // vectors in registers (about 12% less time than one vector per step, in a microbenchmark of the pass).
            if (Vector512.IsHardwareAccelerated)
                for (int wide = Vector512<T>.Count; col <= last - 2 * wide; col += 2 * wide)
                {
                    var h0 = Vector512.Load(pHi + col); var b0 = Vector512.Load(pB + col); var c0 = Vector512.Load(pC + col);
                    var h1 = Vector512.Load(pHi + col + wide); var b1 = Vector512.Load(pB + col + wide); var c1 = Vector512.Load(pC + col + wide);
                    long at = first + col, stop = at + (long)rows * cols;
                    if (pdy == null)
                        for (; at < stop; at += cols)
                        {
                            Simd.Store(Simd.MultiplyAdd(Vector512.Load(px + at) - h0, b0, c0), po + at, stream);
                            Simd.Store(Simd.MultiplyAdd(Vector512.Load(px + at + wide) - h1, b1, c1), po + at + wide, stream);
                        }
                    else
                    {
                        var a0 = Vector512.Load(pA + col); var a1 = Vector512.Load(pA + col + wide);
                        for (; at < stop; at += cols)
                        {
                            var v0 = Simd.MultiplyAdd(Vector512.Load(px + at) - h0, b0, c0);
                            var v1 = Simd.MultiplyAdd(Vector512.Load(px + at + wide) - h1, b1, c1);
                            Simd.Store(Simd.MultiplyAdd(Vector512.Load(pdy + at), a0, v0), po + at, stream);
                            Simd.Store(Simd.MultiplyAdd(Vector512.Load(pdy + at + wide), a1, v1), po + at + wide, stream);
                        }
                    }
                }
            for (int w = Vector256<T>.Count; col <= last - w; col += w)
            {
                var h = Vector256.Load(pHi + col); var va = Vector256.Load(pA + col); var vb = Vector256.Load(pB + col); var vc = Vector256.Load(pC + col);
                for (long at = first + col, stop = at + (long)rows * cols; at < stop; at += cols)
                {
                    var value = Simd.MultiplyAdd(Vector256.Load(px + at) - h, vb, vc);
                    if (pdy != null) value = Simd.MultiplyAdd(Vector256.Load(pdy + at), va, value);
                    Simd.Store(value, po + at, stream);
                }
            }
            for (long at = first, stop = first + (long)rows * cols; at < stop; at += cols)
            {
                T* g = pdy == null ? null : pdy + at;
                for (int j = 0; j < peel; j++) po[at + j] = Element(g, px + at, j, pHi[j], T.Zero, pA[j], pB[j], pC[j]);
                for (int j = col; j < length; j++) po[at + j] = Element(g, px + at, j, pHi[j], T.Zero, pA[j], pB[j], pC[j]);
            }
        }
    }

    /// <summary>The elementwise pass over one run of a channel; with <paramref name="stream"/> whole cache lines are stored non-temporally.</summary>
    static void ApplyRun<T>(T* dy, T* x, T* output, int len, Coefficients<T> k, bool stream) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (i, end) = stream ? Simd.WholeLines(output, len) : (0, len);
        for (int j = 0; j < i; j++) output[j] = Element(dy, x, j, k.Hi, k.Lo, k.A, k.B, k.C);
        int w = Vector256<T>.Count;
        var hi = Vector256.Create(k.Hi); var lo = Vector256.Create(k.Lo);
        var a = Vector256.Create(k.A); var b = Vector256.Create(k.B); var c = Vector256.Create(k.C);
        if (dy == null)
        {
            for (; i <= end - 2 * w; i += 2 * w)
            {
                Simd.Store(Simd.MultiplyAdd(Vector256.Load(x + i) - hi - lo, b, c), output + i, stream);
                Simd.Store(Simd.MultiplyAdd(Vector256.Load(x + i + w) - hi - lo, b, c), output + i + w, stream);
            }
        }
        else
        {
            for (; i <= end - w; i += w)
                Simd.Store(Simd.MultiplyAdd(Vector256.Load(dy + i), a, Simd.MultiplyAdd(Vector256.Load(x + i) - hi - lo, b, c)), output + i, stream);
        }
        for (; i < len; i++) output[i] = Element(dy, x, i, k.Hi, k.Lo, k.A, k.B, k.C);
    }

    /// <summary>One element of the elementwise pass (peel and tail of the vector loops), fused the same way.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static T Element<T>(T* dy, T* x, int i, T hi, T lo, T a, T b, T c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T value = T.FusedMultiplyAdd(x[i] - hi - lo, b, c);
        return dy == null ? value : T.FusedMultiplyAdd(dy[i], a, value);
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
        if (typeof(T) == typeof(float))
        {
            var (lo, hi) = Vector512.Widen(v.AsSingle());
            Vector512.Store(Vector512.Load(acc) + lo, acc);
            Vector512.Store(Vector512.Load(acc + 8) + hi, acc + 8);
        }
        else Vector512.Store(Vector512.Load(acc) + v.AsDouble(), acc);
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

    // s1 += Σd, s2 += Σd² with d = (x − hi) − lo (hi + lo = K; d is exact for x near K) over one run:
    // four chains of T vectors over blocks of BlockSteps steps (float: 8 terms per lane), each
    // block's sums then added in double, so float rounding stays that of a few-term sum.
    internal static void ShiftedSums<T>(T* x, int len, double shift, ref double s1, ref double s2) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T kHi = T.CreateTruncating(shift), kLo = T.CreateTruncating(shift - double.CreateTruncating(kHi));
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
                var d0 = Vector256.Load(x + i) - hi - lo; var d1 = Vector256.Load(x + i + w) - hi - lo;
                var d2 = Vector256.Load(x + i + 2 * w) - hi - lo; var d3 = Vector256.Load(x + i + 3 * w) - hi - lo;
                b0 += d0; b1 += d1; b2 += d2; b3 += d3;
                p0 = Simd.MultiplyAdd(d0, d0, p0); p1 = Simd.MultiplyAdd(d1, d1, p1);
                p2 = Simd.MultiplyAdd(d2, d2, p2); p3 = Simd.MultiplyAdd(d3, d3, p3);
            }
            AddToDouble((b0 + b1) + (b2 + b3), ref a0, ref a1);
            AddToDouble((p0 + p1) + (p2 + p3), ref q0, ref q1);
        }
        double t1 = Vector256.Sum(a0 + a1), t2 = Vector256.Sum(q0 + q1);
        for (; i < len; i++)
        {
            double d = double.CreateTruncating(x[i] - kHi - kLo);
            t1 += d;
            t2 = Math.FusedMultiplyAdd(d, d, t2);
        }
        s1 += t1;
        s2 += t2;
    }

    // sumDy += Σdy, sumXDy += Σ((x − hi) − lo)·dy (hi + lo = μ) over one run, blocked like ShiftedSums.
    internal static void GradSums<T>(T* dy, T* x, int len, double mu, ref double sumDy, ref double sumXDy) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T mHi = T.CreateTruncating(mu), mLo = T.CreateTruncating(mu - double.CreateTruncating(mHi));
        var hi = Vector256.Create(mHi); var lo = Vector256.Create(mLo);
        int w = Vector256<T>.Count, i = 0;
        Vector256<double> a0 = default, a1 = default, q0 = default, q1 = default;
        while (i <= len - 4 * w)
        {
            Vector256<T> b0 = default, b1 = default, b2 = default, b3 = default;
            Vector256<T> p0 = default, p1 = default, p2 = default, p3 = default;
            int stop = Math.Min(len - 4 * w, i + (BlockSteps - 1) * 4 * w);
            for (; i <= stop; i += 4 * w)
            {
                var g0 = Vector256.Load(dy + i); var g1 = Vector256.Load(dy + i + w);
                var g2 = Vector256.Load(dy + i + 2 * w); var g3 = Vector256.Load(dy + i + 3 * w);
                b0 += g0; b1 += g1; b2 += g2; b3 += g3;
                p0 = Simd.MultiplyAdd(Vector256.Load(x + i) - hi - lo, g0, p0);
                p1 = Simd.MultiplyAdd(Vector256.Load(x + i + w) - hi - lo, g1, p1);
                p2 = Simd.MultiplyAdd(Vector256.Load(x + i + 2 * w) - hi - lo, g2, p2);
                p3 = Simd.MultiplyAdd(Vector256.Load(x + i + 3 * w) - hi - lo, g3, p3);
            }
            AddToDouble((b0 + b1) + (b2 + b3), ref a0, ref a1);
            AddToDouble((p0 + p1) + (p2 + p3), ref q0, ref q1);
        }
        double t1 = Vector256.Sum(a0 + a1), t2 = Vector256.Sum(q0 + q1);
        for (; i < len; i++)
        {
            t1 += double.CreateTruncating(dy[i]);
            t2 = Math.FusedMultiplyAdd(double.CreateTruncating(x[i] - mHi - mLo), double.CreateTruncating(dy[i]), t2);
        }
        sumDy += t1;
        sumXDy += t2;
    }

    static void CheckBackwardShapes<T>(int dyLength, int xLength, int n, int c, int s, ReadOnlySpan<T> gamma, int dxLength, int dGammaLength,
        ReadOnlySpan<T> dBeta, int meanLength, int varLength)
    {
        CheckShapes(xLength, n, c, s, gamma, dBeta, dxLength, meanLength, varLength);
        if (dyLength != xLength) throw new ArgumentException($"dy has {dyLength} values, x {xLength}");
        if (dGammaLength != 0 && dGammaLength != c) throw new ArgumentException($"BatchNorm kernel: dγ must have C={c} values");
    }

    static void CheckShapes<T>(int xLength, int n, int c, int s, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta, int yLength, int meanLength, int varLength)
    {
        if ((long)n * c * s != xLength || yLength != xLength)
            throw new ArgumentException($"BatchNorm kernel: x has {xLength} values, y {yLength}, shape (N={n}, C={c}, S={s})");
        if ((!gamma.IsEmpty && gamma.Length != c) || (!beta.IsEmpty && beta.Length != c) || meanLength != c || varLength != c)
            throw new ArgumentException($"BatchNorm kernel: per-channel arrays must have C={c} values");
    }
}
