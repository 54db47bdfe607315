using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BatchNormLab.Kernels;

/// <summary>
/// Fused BatchNorm kernels over an (N, C, S) view: S = 1 for (N,C), L for (N,C,L), H·W for NCHW.
/// Statistics accumulate in double, shifted by one sample of the channel (K_c = x[0,c,0]), so
/// |μ| ≫ σ loses nothing (the E[x²]−E[x]² cancellation of one-pass formulas).
/// Each kernel is a reduction pass then an elementwise pass. When S is large every (n, c) plane is
/// a contiguous run: threads stream planes in memory order, each plane's sums go to their own slot,
/// and slots are added per channel in a fixed order, so results never depend on the partition.
/// When S is small channels interleave within a row: for the sums threads take column ranges and
/// stream all rows (one thread per column: no partial sums), for the elementwise pass row ranges.
/// Training passes subtract the mean before scaling, with μ split into a hi part (exactly
/// representable in T) and a lo remainder, so a float32 input with |μ| ≫ σ is normalised to full
/// precision (the folded y = x·α + β' would cancel there); eval uses the folded form.
/// </summary>
public static unsafe class BatchNormKernels
{
    /// <summary>Below this spatial size a plane is too short to stream on its own.</summary>
    const int PlanePathMinSpatial = 32;

    // ---------------------------------------------------------------- training forward
    // μ_c = (1/m)·Σx,  σ²_c = (1/m)·Σ(x−μ)²  (biased, m = N·S), from s1 = Σ(x−K), s2 = Σ(x−K)²:
    //   μ = K + s1/m,  σ² = (s2 − s1²/m)/m
    // y = ((x − μ_hi) − μ_lo)·α + β  with  α = γ/√(σ²+ε)  (γ = 1, β = 0 when not affine)

    /// <summary>Training forward: writes y, the batch mean and the biased batch variance per channel.</summary>
    public static void ForwardTrain<T>(ReadOnlySpan<T> x, int n, int c, int s, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta,
        double eps, Span<T> y, Span<double> mean, Span<double> variance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(x.Length, n, c, s, gamma, beta, y.Length, mean.Length, variance.Length);
        double m = (double)n * s;
        var shift = new double[c];
        for (int ch = 0; ch < c; ch++) shift[ch] = double.CreateTruncating(x[ch * s]);
        var k = new Coefficients<T>[c];
        fixed (T* px = x, py = y)
        {
            var (s1, s2) = ChannelSums(new Moments<T>(px, shift), n, c, s);
            for (int ch = 0; ch < c; ch++)
            {
                double mu = shift[ch] + s1[ch] / m;
                double var = Math.Max(0, (s2[ch] - s1[ch] * s1[ch] / m) / m);
                (mean[ch], variance[ch]) = (mu, var);
                double alpha = (gamma.IsEmpty ? 1 : double.CreateTruncating(gamma[ch])) / Math.Sqrt(var + eps);
                k[ch] = Coefficients<T>.Centered(mu, T.Zero, alpha, beta.IsEmpty ? 0 : double.CreateTruncating(beta[ch]));
            }
            Apply(null, px, py, n, c, s, k);
        }
    }

    // ---------------------------------------------------------------- eval forward
    // y = x·α_c + β'_c  with  α = γ/√(running_var+ε),  β' = β − running_mean·α: one pass.

    /// <summary>Forward with given statistics (running statistics in eval mode).</summary>
    public static void ForwardEval<T>(ReadOnlySpan<T> x, int n, int c, int s, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta,
        ReadOnlySpan<double> mean, ReadOnlySpan<double> variance, double eps, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(x.Length, n, c, s, gamma, beta, y.Length, mean.Length, variance.Length);
        var k = new Coefficients<T>[c];
        for (int ch = 0; ch < c; ch++)
        {
            double alpha = (gamma.IsEmpty ? 1 : double.CreateTruncating(gamma[ch])) / Math.Sqrt(variance[ch] + eps);
            double betaPrime = (beta.IsEmpty ? 0 : double.CreateTruncating(beta[ch])) - mean[ch] * alpha;
            k[ch] = Coefficients<T>.Folded(alpha, betaPrime);
        }
        fixed (T* px = x, py = y) Apply(null, px, py, n, c, s, k);
    }

    // ---------------------------------------------------------------- training backward
    // With x̂ = (x−μ)·r, r = 1/√(σ²+ε), and the batch statistics depending on x:
    //   dβ = Σdy,   dγ = Σ dy·x̂ = r·Σ(x−μ)·dy
    //   dx = γ·r·(dy − Σdy/m − x̂·Σ(dy·x̂)/m)
    //      = dy·A + (x−μ)·B + C  with  A = γ·r,  B = −A·r²·Σ(x−μ)dy/m,  C = −A·Σdy/m
    // One reduction pass (Σdy, Σ(x−μ)dy in double), one elementwise pass.

    /// <summary>Training backward: dx (overwritten), and dγ, dβ (overwritten; skipped when empty).</summary>
    public static void BackwardTrain<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, int n, int c, int s, ReadOnlySpan<T> gamma,
        ReadOnlySpan<double> mean, ReadOnlySpan<double> variance, double eps, Span<T> dx, Span<T> dGamma, Span<T> dBeta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(x.Length, n, c, s, gamma, dBeta, dx.Length, mean.Length, variance.Length);
        if (dy.Length != x.Length) throw new ArgumentException($"dy has {dy.Length} values, x {x.Length}");
        double m = (double)n * s;
        var k = new Coefficients<T>[c];
        fixed (T* pdy = dy, px = x, pdx = dx)
        {
            var (sumDy, sumXDy) = ChannelSums(new GradientSums<T>(pdy, px, mean.ToArray()), n, c, s);
            for (int ch = 0; ch < c; ch++)
            {
                double r = 1 / Math.Sqrt(variance[ch] + eps);
                double a = (gamma.IsEmpty ? 1 : double.CreateTruncating(gamma[ch])) * r;
                if (!dBeta.IsEmpty) dBeta[ch] = T.CreateTruncating(sumDy[ch]);
                if (!dGamma.IsEmpty) dGamma[ch] = T.CreateTruncating(sumXDy[ch] * r);
                k[ch] = Coefficients<T>.Centered(mean[ch], T.CreateTruncating(a), -a * r * r * sumXDy[ch] / m, -a * sumDy[ch] / m);
            }
            Apply(pdy, px, pdx, n, c, s, k);
        }
    }

    // ---------------------------------------------------------------- the reduction pass

    /// <summary>Two sums per element, accumulated per channel: (x−K, (x−K)²) or (dy, (x−μ)·dy).</summary>
    interface IPairSum
    {
        /// <summary>Adds the sums over <paramref name="len"/> elements from <paramref name="offset"/>, all of channel <paramref name="ch"/>.</summary>
        void AddRun(long offset, int len, int ch, ref double first, ref double second);
        /// <summary>
        /// Adds columns [start, end) of <paramref name="rows"/> consecutive rows of the (N, C·S) matrix
        /// to per-column sums (column col is channel col/s). Rows are summed in registers first, so
        /// the accumulators in memory are read and written once per group of rows.
        /// </summary>
        void AddRows(long rowOffset, int rows, int cols, int start, int end, int s, double* first, double* second);
    }

    readonly struct Moments<T>(T* x, double[] shift) : IPairSum where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void AddRun(long offset, int len, int ch, ref double first, ref double second) =>
            ShiftedSums(x + offset, len, shift[ch], ref first, ref second);

        public void AddRows(long rowOffset, int rows, int cols, int start, int end, int s, double* first, double* second)
        {
            int col = start;
            if (s == 1) // (N, C): column = channel, eight columns at a time
                fixed (double* k = shift)
                    for (; col <= end - 8; col += 8)
                    {
                        var k0 = Vector256.Load(k + col); var k1 = Vector256.Load(k + col + 4);
                        Vector256<double> a0 = default, a1 = default, q0 = default, q1 = default;
                        for (int r = 0; r < rows; r++)
                        {
                            var (d0, d1) = Load8(x + rowOffset + (long)r * cols + col);
                            d0 -= k0; d1 -= k1;
                            a0 += d0; a1 += d1;
                            q0 = Simd.MultiplyAdd(d0, d0, q0); q1 = Simd.MultiplyAdd(d1, d1, q1);
                        }
                        Vector256.Store(Vector256.Load(first + col) + a0, first + col);
                        Vector256.Store(Vector256.Load(first + col + 4) + a1, first + col + 4);
                        Vector256.Store(Vector256.Load(second + col) + q0, second + col);
                        Vector256.Store(Vector256.Load(second + col + 4) + q1, second + col + 4);
                    }
            for (; col < end; col++)
                for (int r = 0; r < rows; r++)
                {
                    double d = double.CreateTruncating(x[rowOffset + (long)r * cols + col]) - shift[col / s];
                    first[col] += d;
                    second[col] = Math.FusedMultiplyAdd(d, d, second[col]);
                }
        }
    }

    readonly struct GradientSums<T>(T* dy, T* x, double[] mean) : IPairSum where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void AddRun(long offset, int len, int ch, ref double first, ref double second) =>
            BatchNormKernels.GradSums(dy + offset, x + offset, len, mean[ch], ref first, ref second);

        public void AddRows(long rowOffset, int rows, int cols, int start, int end, int s, double* first, double* second)
        {
            int col = start;
            if (s == 1)
                fixed (double* mu = mean)
                    for (; col <= end - 8; col += 8)
                    {
                        var m0 = Vector256.Load(mu + col); var m1 = Vector256.Load(mu + col + 4);
                        Vector256<double> a0 = default, a1 = default, q0 = default, q1 = default;
                        for (int r = 0; r < rows; r++)
                        {
                            long at = rowOffset + (long)r * cols + col;
                            var (g0, g1) = Load8(dy + at);
                            var (x0, x1) = Load8(x + at);
                            a0 += g0; a1 += g1;
                            q0 = Simd.MultiplyAdd(x0 - m0, g0, q0); q1 = Simd.MultiplyAdd(x1 - m1, g1, q1);
                        }
                        Vector256.Store(Vector256.Load(first + col) + a0, first + col);
                        Vector256.Store(Vector256.Load(first + col + 4) + a1, first + col + 4);
                        Vector256.Store(Vector256.Load(second + col) + q0, second + col);
                        Vector256.Store(Vector256.Load(second + col + 4) + q1, second + col + 4);
                    }
            for (; col < end; col++)
                for (int r = 0; r < rows; r++)
                {
                    long at = rowOffset + (long)r * cols + col;
                    double g = double.CreateTruncating(dy[at]);
                    first[col] += g;
                    second[col] = Math.FusedMultiplyAdd(double.CreateTruncating(x[at]) - mean[col / s], g, second[col]);
                }
        }
    }

    /// <summary>Per-channel totals of a pair sum: per plane (or per column) in parallel, then added in a fixed order.</summary>
    static (double[] First, double[] Second) ChannelSums<TSum>(TSum sum, int n, int c, int s) where TSum : struct, IPairSum
    {
        bool planes = s >= PlanePathMinSpatial;
        int slots = planes ? n * c : c * s;
        var first = new double[slots];
        var second = new double[slots];
        fixed (double* p1 = first, p2 = second)
        {
            if (planes) Threading.For(slots, 4, new PlaneSums<TSum>(sum, c, s, p1, p2));
            else Threading.For(slots, 64, new ColumnSums<TSum>(sum, n, c * s, s, p1, p2));
        }
        var totalFirst = new double[c];
        var totalSecond = new double[c];
        for (int slot = 0; slot < slots; slot++)
        {
            int ch = planes ? slot % c : slot / s;
            totalFirst[ch] += first[slot];
            totalSecond[ch] += second[slot];
        }
        return (totalFirst, totalSecond);
    }

    readonly struct PlaneSums<TSum>(TSum sum, int c, int s, double* first, double* second) : IRangeBody where TSum : struct, IPairSum
    {
        public void Run(int start, int end)
        {
            for (int plane = start; plane < end; plane++)
                sum.AddRun((long)plane * s, s, plane % c, ref first[plane], ref second[plane]);
        }
    }

    readonly struct ColumnSums<TSum>(TSum sum, int n, int cols, int s, double* first, double* second) : IRangeBody where TSum : struct, IPairSum
    {
        const int RowGroup = 4;

        public void Run(int start, int end)
        {
            for (int i = 0; i < n; i += RowGroup) sum.AddRows((long)i * cols, Math.Min(RowGroup, n - i), cols, start, end, s, first, second);
        }
    }

    // ---------------------------------------------------------------- the elementwise pass
    // out = dy·A + ((x − hi) − lo)·B + C, one formula for all three uses:
    //   training forward: no dy, hi + lo = μ, B = α, C = β
    //   training backward: hi + lo = μ, A = γ·r, B and C as above
    //   eval forward: no dy, hi = lo = 0, B = α, C = β' (the folded form)

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
        if (s >= PlanePathMinSpatial)
        {
            Threading.For(n * c, 4, new PlaneApply<T>(dy, x, output, c, s, k));
            return;
        }
        // Row path: coefficients per column of the (N, C·S) matrix.
        int cols = c * s;
        var hi = new T[cols]; var lo = new T[cols]; var a = new T[cols]; var b = new T[cols]; var cc = new T[cols];
        for (int col = 0; col < cols; col++)
        {
            var kc = k[col / s];
            (hi[col], lo[col], a[col], b[col], cc[col]) = (kc.Hi, kc.Lo, kc.A, kc.B, kc.C);
        }
        fixed (T* pHi = hi, pLo = lo, pA = a, pB = b, pC = cc)
            Threading.For(n, Math.Max(1, 4096 / cols), new RowApply<T>(dy, x, output, cols, pHi, pLo, pA, pB, pC));
    }

    readonly struct PlaneApply<T>(T* dy, T* x, T* output, int c, int s, Coefficients<T>[] k) : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            for (int plane = start; plane < end; plane++)
            {
                long offset = (long)plane * s;
                ApplyRun(dy == null ? null : dy + offset, x + offset, output + offset, s, k[plane % c]);
            }
        }
    }

    /// <summary>The elementwise pass over rows [start, end) of the (N, C·S) matrix, with per-column coefficients.</summary>
    readonly struct RowApply<T>(T* dy, T* x, T* output, int cols, T* hi, T* lo, T* a, T* b, T* c) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            int w = Vector256<T>.Count;
            for (int i = start; i < end; i++)
            {
                long row = (long)i * cols;
                int col = 0;
                for (; col <= cols - w; col += w)
                {
                    var centered = Vector256.Load(x + row + col) - Vector256.Load(hi + col) - Vector256.Load(lo + col);
                    var value = Simd.MultiplyAdd(centered, Vector256.Load(b + col), Vector256.Load(c + col));
                    if (dy != null) value = Simd.MultiplyAdd(Vector256.Load(dy + row + col), Vector256.Load(a + col), value);
                    Vector256.Store(value, output + row + col);
                }
                for (; col < cols; col++)
                {
                    T value = T.FusedMultiplyAdd(x[row + col] - hi[col] - lo[col], b[col], c[col]);
                    if (dy != null) value = T.FusedMultiplyAdd(dy[row + col], a[col], value);
                    output[row + col] = value;
                }
            }
        }
    }

    /// <summary>The elementwise pass over one run of a channel.</summary>
    static void ApplyRun<T>(T* dy, T* x, T* output, int len, Coefficients<T> k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, i = 0;
        var hi = Vector256.Create(k.Hi); var lo = Vector256.Create(k.Lo);
        var a = Vector256.Create(k.A); var b = Vector256.Create(k.B); var c = Vector256.Create(k.C);
        if (dy == null)
        {
            for (; i <= len - 2 * w; i += 2 * w)
            {
                Vector256.Store(Simd.MultiplyAdd(Vector256.Load(x + i) - hi - lo, b, c), output + i);
                Vector256.Store(Simd.MultiplyAdd(Vector256.Load(x + i + w) - hi - lo, b, c), output + i + w);
            }
        }
        else
        {
            for (; i <= len - w; i += w)
                Vector256.Store(Simd.MultiplyAdd(Vector256.Load(dy + i), a, Simd.MultiplyAdd(Vector256.Load(x + i) - hi - lo, b, c)), output + i);
        }
        for (; i < len; i++)
        {
            T value = T.FusedMultiplyAdd(x[i] - k.Hi - k.Lo, k.B, k.C);
            output[i] = dy == null ? value : T.FusedMultiplyAdd(dy[i], k.A, value);
        }
    }

    // ---------------------------------------------------------------- inner loops

    /// <summary>Eight elements as two double vectors (floats widened).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector256<double> Lo, Vector256<double> Hi) Load8<T>(T* p) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return Vector256.Widen(Vector256.Load((float*)p));
        return (Vector256.Load((double*)p), Vector256.Load((double*)p + 4));
    }

    // s1 += Σ(x−K), s2 += Σ(x−K)² over one run, in double, four independent chains per sum.
    static void ShiftedSums<T>(T* x, int len, double shift, ref double s1, ref double s2) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var k = Vector256.Create(shift);
        Vector256<double> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<double> q0 = default, q1 = default, q2 = default, q3 = default;
        int i = 0;
        for (; i <= len - 16; i += 16)
        {
            var (d0, d1) = Load8(x + i);
            var (d2, d3) = Load8(x + i + 8);
            d0 -= k; d1 -= k; d2 -= k; d3 -= k;
            a0 += d0; a1 += d1; a2 += d2; a3 += d3;
            q0 = Simd.MultiplyAdd(d0, d0, q0); q1 = Simd.MultiplyAdd(d1, d1, q1);
            q2 = Simd.MultiplyAdd(d2, d2, q2); q3 = Simd.MultiplyAdd(d3, d3, q3);
        }
        double t1 = Vector256.Sum((a0 + a1) + (a2 + a3)), t2 = Vector256.Sum((q0 + q1) + (q2 + q3));
        for (; i < len; i++)
        {
            double d = double.CreateTruncating(x[i]) - shift;
            t1 += d;
            t2 = Math.FusedMultiplyAdd(d, d, t2);
        }
        s1 += t1;
        s2 += t2;
    }

    // sumDy += Σdy, sumXDy += Σ(x−μ)·dy over one run, in double.
    static void GradSums<T>(T* dy, T* x, int len, double mu, ref double sumDy, ref double sumXDy) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var m = Vector256.Create(mu);
        Vector256<double> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<double> q0 = default, q1 = default, q2 = default, q3 = default;
        int i = 0;
        for (; i <= len - 16; i += 16)
        {
            var (g0, g1) = Load8(dy + i);
            var (g2, g3) = Load8(dy + i + 8);
            var (x0, x1) = Load8(x + i);
            var (x2, x3) = Load8(x + i + 8);
            a0 += g0; a1 += g1; a2 += g2; a3 += g3;
            q0 = Simd.MultiplyAdd(x0 - m, g0, q0); q1 = Simd.MultiplyAdd(x1 - m, g1, q1);
            q2 = Simd.MultiplyAdd(x2 - m, g2, q2); q3 = Simd.MultiplyAdd(x3 - m, g3, q3);
        }
        double t1 = Vector256.Sum((a0 + a1) + (a2 + a3)), t2 = Vector256.Sum((q0 + q1) + (q2 + q3));
        for (; i < len; i++)
        {
            double g = double.CreateTruncating(dy[i]);
            t1 += g;
            t2 = Math.FusedMultiplyAdd(double.CreateTruncating(x[i]) - mu, g, t2);
        }
        sumDy += t1;
        sumXDy += t2;
    }

    static void CheckShapes<T>(int xLength, int n, int c, int s, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta, int yLength, int meanLength, int varLength)
    {
        if ((long)n * c * s != xLength || yLength != xLength)
            throw new ArgumentException($"BatchNorm kernel: x has {xLength} values, y {yLength}, shape (N={n}, C={c}, S={s})");
        if ((!gamma.IsEmpty && gamma.Length != c) || (!beta.IsEmpty && beta.Length != c) || meanLength != c || varLength != c)
            throw new ArgumentException($"BatchNorm kernel: per-channel arrays must have C={c} values");
    }
}
