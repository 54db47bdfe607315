using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BatchNormLab.Kernels;

/// <summary>
/// Fused BatchNorm kernels over an (N, C, S) view: S = 1 for (N,C), L for (N,C,L), H·W for NCHW.
/// Statistics accumulate in double, shifted by one sample of the channel (K_c = x[0,c,0]), so
/// |μ| ≫ σ loses nothing (the E[x²]−E[x]² cancellation of one-pass formulas). When S is large
/// every channel is a set of N contiguous runs and a thread takes whole channels: the second pass
/// over a channel then reads it from cache. When S is small the channels interleave in each row,
/// so threads take column ranges and stream rows, with per-column accumulators.
/// Training passes subtract the mean before scaling, with μ split into a hi part (exactly
/// representable in T) and a lo remainder, so a float32 input with |μ| ≫ σ is normalised to full
/// precision (the folded y = x·α + β' would cancel there); eval uses the folded form.
/// </summary>
public static unsafe class BatchNormKernels
{
    /// <summary>Below this spatial size a channel's runs are too short to stream per channel.</summary>
    const int ChannelPathMinSpatial = 32;

    // ---------------------------------------------------------------- training forward
    // μ_c = (1/m)·Σx,  σ²_c = (1/m)·Σ(x−μ)²  (biased, m = N·S), from s1 = Σ(x−K), s2 = Σ(x−K)²:
    //   μ = K + s1/m,  σ² = (s2 − s1²/m)/m
    // y = ((x − μ_hi) − μ_lo)·α + β  with  α = γ/√(σ²+ε)  (γ = 1, β = 0 when not affine)

    /// <summary>Training forward: writes y, the batch mean and the biased batch variance per channel.</summary>
    public static void ForwardTrain<T>(ReadOnlySpan<T> x, int n, int c, int s, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta,
        double eps, Span<T> y, Span<double> mean, Span<double> variance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(x.Length, n, c, s, gamma, beta, y.Length, mean.Length, variance.Length);
        fixed (T* px = x, pg = gamma, pb = beta, py = y)
        fixed (double* pm = mean, pv = variance)
        {
            var body = new TrainForward<T>(px, n, c, s, gamma.IsEmpty ? null : pg, beta.IsEmpty ? null : pb, eps, py, pm, pv);
            if (s >= ChannelPathMinSpatial) Threading.For(c, 1, body);
            else body.RunRows();
        }
    }

    readonly struct TrainForward<T>(T* x, int n, int c, int s, T* gamma, T* beta, double eps, T* y, double* mean, double* variance) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Channel path: channels [start, end), each two passes over its N runs of S.
        public void Run(int start, int end)
        {
            double m = (double)n * s;
            for (int ch = start; ch < end; ch++)
            {
                double shift = double.CreateTruncating(x[ch * s]);
                double s1 = 0, s2 = 0;
                for (int i = 0; i < n; i++) ShiftedSums(x + ((long)i * c + ch) * s, s, shift, ref s1, ref s2);
                var k = Finish(ch, shift, s1, s2, m);
                for (int i = 0; i < n; i++)
                {
                    long off = ((long)i * c + ch) * s;
                    Apply(null, x + off, y + off, s, k);
                }
            }
        }

        Coefficients<T> Finish(int ch, double shift, double s1, double s2, double m)
        {
            double mu = shift + s1 / m;
            double var = Math.Max(0, (s2 - s1 * s1 / m) / m);
            mean[ch] = mu;
            variance[ch] = var;
            double alpha = (gamma == null ? 1 : double.CreateTruncating(gamma[ch])) / Math.Sqrt(var + eps);
            return Coefficients<T>.Centered(mu, T.Zero, alpha, beta == null ? 0 : double.CreateTruncating(beta[ch]));
        }

        // Row path: per-column sums over the rows, folded per channel, then one normalising pass.
        public void RunRows()
        {
            int cols = c * s;
            double m = (double)n * s;
            var shift = new double[cols];
            var s1 = new double[cols];
            var s2 = new double[cols];
            for (int col = 0; col < cols; col++) shift[col] = double.CreateTruncating(x[col / s * s]);
            fixed (double* pShift = shift, p1 = s1, p2 = s2)
                Threading.For(cols, 64, new ColumnMoments<T>(x, n, cols, pShift, p1, p2));
            var k = new ColumnCoefficients<T>(cols);
            for (int ch = 0; ch < c; ch++)
            {
                double t1 = 0, t2 = 0;
                for (int j = 0; j < s; j++) { t1 += s1[ch * s + j]; t2 += s2[ch * s + j]; }
                k.Set(ch * s, s, Finish(ch, shift[ch * s], t1, t2, m));
            }
            k.ApplyRows(null, x, y, n);
        }
    }

    // ---------------------------------------------------------------- eval forward
    // y = x·α_c + β'_c  with  α = γ/√(running_var+ε),  β' = β − running_mean·α: one pass.

    /// <summary>Forward with given statistics (running statistics in eval mode).</summary>
    public static void ForwardEval<T>(ReadOnlySpan<T> x, int n, int c, int s, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta,
        ReadOnlySpan<double> mean, ReadOnlySpan<double> variance, double eps, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(x.Length, n, c, s, gamma, beta, y.Length, mean.Length, variance.Length);
        var k = new ColumnCoefficients<T>(c);
        for (int ch = 0; ch < c; ch++)
        {
            double alpha = (gamma.IsEmpty ? 1 : double.CreateTruncating(gamma[ch])) / Math.Sqrt(variance[ch] + eps);
            double betaPrime = (beta.IsEmpty ? 0 : double.CreateTruncating(beta[ch])) - mean[ch] * alpha;
            k.Set(ch, 1, Coefficients<T>.Folded(alpha, betaPrime));
        }
        fixed (T* px = x, py = y)
        {
            if (s >= ChannelPathMinSpatial) Threading.For(n * c, 4, new PlaneApply<T>(px, py, c, s, k));
            else k.Expand(s).ApplyRows(null, px, py, n);
        }
    }

    readonly struct PlaneApply<T>(T* x, T* y, int c, int s, ColumnCoefficients<T> k) : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            for (int plane = start; plane < end; plane++)
                Apply(null, x + (long)plane * s, y + (long)plane * s, s, k.At(plane % c));
        }
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
        fixed (T* pdy = dy, px = x, pg = gamma, pdx = dx, pdg = dGamma, pdb = dBeta)
        fixed (double* pm = mean, pv = variance)
        {
            var body = new TrainBackward<T>(pdy, px, n, c, s, gamma.IsEmpty ? null : pg, pm, pv, eps, pdx,
                dGamma.IsEmpty ? null : pdg, dBeta.IsEmpty ? null : pdb);
            if (s >= ChannelPathMinSpatial) Threading.For(c, 1, body);
            else body.RunRows();
        }
    }

    readonly struct TrainBackward<T>(T* dy, T* x, int n, int c, int s, T* gamma, double* mean, double* variance, double eps,
        T* dx, T* dGamma, T* dBeta) : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            double m = (double)n * s;
            for (int ch = start; ch < end; ch++)
            {
                double sumDy = 0, sumXDy = 0;
                for (int i = 0; i < n; i++)
                {
                    long off = ((long)i * c + ch) * s;
                    GradSums(dy + off, x + off, s, mean[ch], ref sumDy, ref sumXDy);
                }
                var k = Finish(ch, sumDy, sumXDy, m);
                for (int i = 0; i < n; i++)
                {
                    long off = ((long)i * c + ch) * s;
                    Apply(dy + off, x + off, dx + off, s, k);
                }
            }
        }

        Coefficients<T> Finish(int ch, double sumDy, double sumXDy, double m)
        {
            double r = 1 / Math.Sqrt(variance[ch] + eps);
            double a = (gamma == null ? 1 : double.CreateTruncating(gamma[ch])) * r;
            if (dBeta != null) dBeta[ch] = T.CreateTruncating(sumDy);
            if (dGamma != null) dGamma[ch] = T.CreateTruncating(sumXDy * r);
            return Coefficients<T>.Centered(mean[ch], T.CreateTruncating(a), -a * r * r * sumXDy / m, -a * sumDy / m);
        }

        public void RunRows()
        {
            int cols = c * s;
            double m = (double)n * s;
            var mu = new double[cols];
            for (int col = 0; col < cols; col++) mu[col] = mean[col / s];
            var sDy = new double[cols];
            var sXDy = new double[cols];
            fixed (double* pMu = mu, p1 = sDy, p2 = sXDy)
                Threading.For(cols, 64, new ColumnGradSums<T>(dy, x, n, cols, pMu, p1, p2));
            var k = new ColumnCoefficients<T>(cols);
            for (int ch = 0; ch < c; ch++)
            {
                double t1 = 0, t2 = 0;
                for (int j = 0; j < s; j++) { t1 += sDy[ch * s + j]; t2 += sXDy[ch * s + j]; }
                k.Set(ch * s, s, Finish(ch, t1, t2, m));
            }
            k.ApplyRows(dy, x, dx, n);
        }
    }

    // ---------------------------------------------------------------- the elementwise pass
    // out = dy·A + ((x − hi) − lo)·B + C, one formula for all three uses:
    //   training forward: A = 0 (no dy), hi + lo = μ, B = α, C = β
    //   training backward: hi + lo = μ, A = γ·r, B and C as above
    //   eval forward: hi = lo = 0, B = α, C = β' (the folded form)

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

    /// <summary>Coefficients per column of an (N, columns) matrix, for the row path.</summary>
    readonly struct ColumnCoefficients<T>(int columns) where T : unmanaged, IFloatingPointIeee754<T>
    {
        readonly T[] hi = new T[columns], lo = new T[columns], a = new T[columns], b = new T[columns], c = new T[columns];

        public void Set(int start, int count, Coefficients<T> k)
        {
            hi.AsSpan(start, count).Fill(k.Hi); lo.AsSpan(start, count).Fill(k.Lo);
            a.AsSpan(start, count).Fill(k.A); b.AsSpan(start, count).Fill(k.B); c.AsSpan(start, count).Fill(k.C);
        }

        public Coefficients<T> At(int column) => new(hi[column], lo[column], a[column], b[column], c[column]);

        /// <summary>Each column repeated <paramref name="times"/> (channel coefficients to (C·S) columns).</summary>
        public ColumnCoefficients<T> Expand(int times)
        {
            var result = new ColumnCoefficients<T>(hi.Length * times);
            for (int col = 0; col < hi.Length; col++) result.Set(col * times, times, At(col));
            return result;
        }

        public void ApplyRows(T* dy, T* x, T* output, int n)
        {
            fixed (T* pHi = hi, pLo = lo, pA = a, pB = b, pC = c)
                Threading.For(hi.Length, 64, new ColumnApply<T>(dy, x, output, n, hi.Length, pHi, pLo, pA, pB, pC));
        }
    }

    readonly struct ColumnApply<T>(T* dy, T* x, T* output, int n, int cols, T* hi, T* lo, T* a, T* b, T* c) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            int w = Vector256<T>.Count;
            for (int i = 0; i < n; i++)
            {
                long row = (long)i * cols;
                int col = start;
                for (; col <= end - w; col += w)
                {
                    var centered = Vector256.Load(x + row + col) - Vector256.Load(hi + col) - Vector256.Load(lo + col);
                    var value = Simd.MultiplyAdd(centered, Vector256.Load(b + col), Vector256.Load(c + col));
                    if (dy != null) value = Simd.MultiplyAdd(Vector256.Load(dy + row + col), Vector256.Load(a + col), value);
                    Vector256.Store(value, output + row + col);
                }
                for (; col < end; col++)
                {
                    T value = T.FusedMultiplyAdd(x[row + col] - hi[col] - lo[col], b[col], c[col]);
                    if (dy != null) value = T.FusedMultiplyAdd(dy[row + col], a[col], value);
                    output[row + col] = value;
                }
            }
        }
    }

    /// <summary>The elementwise pass over one run of a channel.</summary>
    static void Apply<T>(T* dy, T* x, T* output, int len, Coefficients<T> k) where T : unmanaged, IFloatingPointIeee754<T>
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

    // ---------------------------------------------------------------- row-path bodies (column ranges)

    readonly struct ColumnMoments<T>(T* x, int n, int cols, double* shift, double* s1, double* s2) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            for (int i = 0; i < n; i++)
            {
                T* row = x + (long)i * cols;
                int col = start;
                for (; col <= end - 8; col += 8)
                {
                    var (lo, hi) = Load8(row + col);
                    lo -= Vector256.Load(shift + col); hi -= Vector256.Load(shift + col + 4);
                    Vector256.Store(Vector256.Load(s1 + col) + lo, s1 + col);
                    Vector256.Store(Vector256.Load(s1 + col + 4) + hi, s1 + col + 4);
                    Vector256.Store(Simd.MultiplyAdd(lo, lo, Vector256.Load(s2 + col)), s2 + col);
                    Vector256.Store(Simd.MultiplyAdd(hi, hi, Vector256.Load(s2 + col + 4)), s2 + col + 4);
                }
                for (; col < end; col++)
                {
                    double d = double.CreateTruncating(row[col]) - shift[col];
                    s1[col] += d;
                    s2[col] = Math.FusedMultiplyAdd(d, d, s2[col]);
                }
            }
        }
    }

    readonly struct ColumnGradSums<T>(T* dy, T* x, int n, int cols, double* mean, double* sDy, double* sXDy) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            for (int i = 0; i < n; i++)
            {
                T* rowDy = dy + (long)i * cols, rowX = x + (long)i * cols;
                int col = start;
                for (; col <= end - 8; col += 8)
                {
                    var (g0, g1) = Load8(rowDy + col);
                    var (x0, x1) = Load8(rowX + col);
                    x0 -= Vector256.Load(mean + col); x1 -= Vector256.Load(mean + col + 4);
                    Vector256.Store(Vector256.Load(sDy + col) + g0, sDy + col);
                    Vector256.Store(Vector256.Load(sDy + col + 4) + g1, sDy + col + 4);
                    Vector256.Store(Simd.MultiplyAdd(x0, g0, Vector256.Load(sXDy + col)), sXDy + col);
                    Vector256.Store(Simd.MultiplyAdd(x1, g1, Vector256.Load(sXDy + col + 4)), sXDy + col + 4);
                }
                for (; col < end; col++)
                {
                    double g = double.CreateTruncating(rowDy[col]);
                    sDy[col] += g;
                    sXDy[col] = Math.FusedMultiplyAdd(double.CreateTruncating(rowX[col]) - mean[col], g, sXDy[col]);
                }
            }
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
