using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BatchNormLab.Kernels;

/// <summary>
/// Per-sample normalisation kernels over an (N, G, K, S) view: N samples, G groups of K channels,
/// S spatial values per channel. Statistics are per row (n, g), over its K·S values, which are
/// contiguous; γ and β are per channel c = g·K + k. GroupNorm is the general case, LayerNorm over D
/// trailing values is (N, 1, D, 1) and InstanceNorm is (N, C, 1, S).
/// Statistics accumulate in double around the row's first value (BatchNormKernels.ShiftedSums), so
/// |μ| ≫ σ loses nothing. Rows are independent in the forward pass: threads take whole rows.
/// Backward needs dγ, dβ summed over samples: rows are cut into a fixed number of blocks (depending
/// only on N·G), each block sums into its own slot, and slots are added in block order, so results
/// never depend on the thread count. A channel's S values are a contiguous run (vectorised along
/// S); when S = 1 (LayerNorm, 1×1 planes) rows are vectorised along the channels instead.
/// </summary>
public static unsafe class GroupNormKernels
{
    /// <summary>Row blocks of the backward pass: about this many, so any thread count up to it has work.</summary>
    const int RowBlocks = 16;
    /// <summary>Values a forward part should cover at least (smaller inputs stay on one thread).</summary>
    const int MinValuesPerPart = 1 << 12;

    // ---------------------------------------------------------------- forward
    // per row:  μ = (1/D)·Σx,  σ² = (1/D)·Σ(x−μ)²  (biased, D = K·S), from s1 = Σ(x−x₀), s2 = Σ(x−x₀)²
    //   y = ((x − μ_hi) − μ_lo)·α_c + β_c  with  α_c = γ_c/√(σ²+ε)   (γ = 1, β = 0 when not affine)

    /// <summary>Forward: writes y and each row's mean and biased variance (N·G values each).</summary>
    public static void Forward<T>(ReadOnlySpan<T> x, int n, int groups, int k, int s, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta,
        double eps, Span<T> y, Span<double> mean, Span<double> variance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(x.Length, n, groups, k, s, gamma, beta, y.Length, mean.Length, variance.Length);
        int rows = n * groups, d = k * s;
        fixed (T* px = x, py = y, pGamma = gamma, pBeta = beta)
        fixed (double* pMean = mean, pVar = variance)
            Threading.For(rows, Math.Max(1, MinValuesPerPart / d), new ForwardRows<T>(px, py, groups, k, s, pGamma, pBeta, eps, pMean, pVar));
    }

    readonly struct ForwardRows<T>(T* x, T* y, int groups, int k, int s, T* gamma, T* beta, double eps, double* mean, double* variance) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            int d = k * s;
            for (int row = start; row < end; row++)
            {
                T* xr = x + (long)row * d, yr = y + (long)row * d;
                double s1 = 0, s2 = 0, shift = double.CreateTruncating(xr[0]);
                BatchNormKernels.ShiftedSums(xr, d, shift, ref s1, ref s2);
                double groupMean = shift + s1 / d, groupVariance = Math.Max(0, (s2 - s1 * s1 / d) / d);
                (mean[row], variance[row]) = (groupMean, groupVariance);
                double rstd = 1 / Math.Sqrt(groupVariance + eps);
                var (hi, lo) = Split<T>(groupMean);
                int c0 = row % groups * k;
                if (s == 1)
                {
                    // y_k = (x_k − μ)·(γ_k·rstd) + β_k, vectorised along the channels
                    ChannelRow(null, xr, yr, k, hi, lo, gamma == null ? null : gamma + c0, T.CreateTruncating(rstd), T.Zero, T.Zero, beta == null ? null : beta + c0);
                    continue;
                }
                for (int ch = 0; ch < k; ch++)
                {
                    double alpha = (gamma == null ? 1 : double.CreateTruncating(gamma[c0 + ch])) * rstd;
                    T b = beta == null ? T.Zero : beta[c0 + ch];
                    ChannelRun(null, xr + (long)ch * s, yr + (long)ch * s, s, hi, lo, T.Zero, T.CreateTruncating(alpha), b);
                }
            }
        }
    }

    // ---------------------------------------------------------------- backward
    // With x̂ = (x−μ)·r, r = 1/√(σ²+ε), statistics per row depending on x, and per row
    //   A = Σ γ_c·dy,  B = Σ γ_c·dy·(x−μ)   (over the row's D values):
    //   dx = γ_c·r·dy − r·A/D − (x−μ)·r³·B/D
    //   dγ_c = Σ_n r·Σ_s dy·(x−μ),   dβ_c = Σ_n Σ_s dy
    // One pass of per-channel sums (Σdy, Σ(x−μ)dy) per row, then one elementwise pass over the row.

    /// <summary>Backward: dx (overwritten), and dγ, dβ (overwritten; skipped when empty).</summary>
    public static void Backward<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, int n, int groups, int k, int s, ReadOnlySpan<T> gamma,
        ReadOnlySpan<double> mean, ReadOnlySpan<double> variance, double eps, Span<T> dx, Span<T> dGamma, Span<T> dBeta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(x.Length, n, groups, k, s, gamma, dBeta, dx.Length, mean.Length, variance.Length);
        if (dy.Length != x.Length) throw new ArgumentException($"GroupNorm kernel: dy has {dy.Length} values, x {x.Length}");
        int c = groups * k;
        if (!dGamma.IsEmpty && dGamma.Length != c) throw new ArgumentException($"GroupNorm kernel: dγ must have C={c} values");
        int rows = n * groups;
        int blocks = Math.Min(RowBlocks, rows);
        var blockGamma = new double[(long)blocks * c];
        var blockBeta = new double[(long)blocks * c];
        fixed (T* pdy = dy, px = x, pdx = dx, pGamma = gamma)
        fixed (double* pMean = mean, pVar = variance, pbg = blockGamma, pbb = blockBeta)
            Threading.For(blocks, 1, new BackwardBlocks<T>(pdy, px, pdx, rows, blocks, groups, k, s, pGamma, eps, pMean, pVar, pbg, pbb));
        for (int ch = 0; ch < c; ch++)
        {
            double g = 0, b = 0;
            for (int block = 0; block < blocks; block++)
            {
                g += blockGamma[(long)block * c + ch];
                b += blockBeta[(long)block * c + ch];
            }
            if (!dGamma.IsEmpty) dGamma[ch] = T.CreateTruncating(g);
            if (!dBeta.IsEmpty) dBeta[ch] = T.CreateTruncating(b);
        }
    }

    readonly struct BackwardBlocks<T>(T* dy, T* x, T* dx, int rows, int blocks, int groups, int k, int s, T* gamma, double eps,
        double* mean, double* variance, double* blockGamma, double* blockBeta) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            int d = k * s, c = groups * k;
            for (int block = start; block < end; block++)
            {
                double* dg = blockGamma + (long)block * c, db = blockBeta + (long)block * c;
                for (int row = Threading.PartStart(rows, blocks, block); row < Threading.PartStart(rows, blocks, block + 1); row++)
                {
                    long offset = (long)row * d;
                    int c0 = row % groups * k;
                    double mu = mean[row], r = 1 / Math.Sqrt(variance[row] + eps);
                    double a, b;
                    if (s == 1) (a, b) = RowSums(dy + offset, x + offset, k, mu, gamma == null ? null : gamma + c0, r, dg + c0, db + c0);
                    else (a, b) = RunSums(dy + offset, x + offset, k, s, mu, gamma == null ? null : gamma + c0, r, dg + c0, db + c0);
                    var (hi, lo) = Split<T>(mu);
                    T bCoef = T.CreateTruncating(-r * r * r * b / d), cCoef = T.CreateTruncating(-r * a / d);
                    if (s == 1)
                    {
                        ChannelRow(dy + offset, x + offset, dx + offset, k, hi, lo, gamma == null ? null : gamma + c0, T.CreateTruncating(r), bCoef, cCoef, null);
                        continue;
                    }
                    for (int ch = 0; ch < k; ch++)
                    {
                        double aCoef = (gamma == null ? 1 : double.CreateTruncating(gamma[c0 + ch])) * r;
                        long at = offset + (long)ch * s;
                        ChannelRun(dy + at, x + at, dx + at, s, hi, lo, T.CreateTruncating(aCoef), bCoef, cCoef);
                    }
                }
            }
        }
    }

    // Per channel of a row with S > 1: Σdy and Σ(x−μ)dy over its run; adds r·Σ(x−μ)dy to dγ_c and Σdy to dβ_c;
    // returns the row's A = Σ γ_c·Σdy and B = Σ γ_c·Σ(x−μ)dy.
    static (double A, double B) RunSums<T>(T* dy, T* x, int k, int s, double mu, T* gamma, double r, double* dg, double* db)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double a = 0, b = 0;
        for (int ch = 0; ch < k; ch++)
        {
            double sumDy = 0, sumXDy = 0;
            BatchNormKernels.GradSums(dy + (long)ch * s, x + (long)ch * s, s, mu, ref sumDy, ref sumXDy);
            dg[ch] += r * sumXDy;
            db[ch] += sumDy;
            double g = gamma == null ? 1 : double.CreateTruncating(gamma[ch]);
            a += g * sumDy;
            b += g * sumXDy;
        }
        return (a, b);
    }

    // The same for a row with S = 1, where a channel is one value: dγ_c += r·(x−μ)·dy, dβ_c += dy.
    static (double A, double B) RowSums<T>(T* dy, T* x, int k, double mu, T* gamma, double r, double* dg, double* db)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double a = 0, b = 0;
        for (int ch = 0; ch < k; ch++)
        {
            double g = double.CreateTruncating(dy[ch]), centred = double.CreateTruncating(x[ch]) - mu;
            dg[ch] = Math.FusedMultiplyAdd(r * centred, g, dg[ch]);
            db[ch] += g;
            double w = gamma == null ? 1 : double.CreateTruncating(gamma[ch]);
            a = Math.FusedMultiplyAdd(w, g, a);
            b = Math.FusedMultiplyAdd(w * centred, g, b);
        }
        return (a, b);
    }

    // ---------------------------------------------------------------- elementwise passes
    // One run of a channel:  out = [dy·a] + ((x − hi) − lo)·b + c   (no dy in the forward pass)

    static void ChannelRun<T>(T* dy, T* x, T* output, int len, T hi, T lo, T a, T b, T c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, i = 0;
        var vh = Vector256.Create(hi); var vl = Vector256.Create(lo);
        var va = Vector256.Create(a); var vb = Vector256.Create(b); var vc = Vector256.Create(c);
        if (dy == null)
            for (; i <= len - w; i += w)
                Vector256.Store(Simd.MultiplyAdd(Vector256.Load(x + i) - vh - vl, vb, vc), output + i);
        else
            for (; i <= len - w; i += w)
                Vector256.Store(Simd.MultiplyAdd(Vector256.Load(dy + i), va, Simd.MultiplyAdd(Vector256.Load(x + i) - vh - vl, vb, vc)), output + i);
        for (; i < len; i++)
        {
            T value = T.FusedMultiplyAdd(x[i] - hi - lo, b, c);
            output[i] = dy == null ? value : T.FusedMultiplyAdd(dy[i], a, value);
        }
    }

    // A row of K channels with one value each (S = 1), with per-channel γ (null: 1) and β (null: 0):
    //   forward:  out_k = ((x_k − hi) − lo)·(γ_k·r) + β_k                        (dy null, b = c = 0)
    //   backward: out_k = dy_k·(γ_k·r) + ((x_k − hi) − lo)·b + c                  (beta null)
    static void ChannelRow<T>(T* dy, T* x, T* output, int k, T hi, T lo, T* gamma, T r, T b, T c, T* beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, i = 0;
        var vh = Vector256.Create(hi); var vl = Vector256.Create(lo);
        var vr = Vector256.Create(r); var vb = Vector256.Create(b); var vc = Vector256.Create(c);
        for (; i <= k - w; i += w)
        {
            var scale = gamma == null ? vr : Vector256.Load(gamma + i) * vr;
            var centred = Vector256.Load(x + i) - vh - vl;
            Vector256<T> value = dy == null
                ? Simd.MultiplyAdd(centred, scale, beta == null ? Vector256<T>.Zero : Vector256.Load(beta + i))
                : Simd.MultiplyAdd(Vector256.Load(dy + i), scale, Simd.MultiplyAdd(centred, vb, vc));
            Vector256.Store(value, output + i);
        }
        for (; i < k; i++)
        {
            T scale = gamma == null ? r : gamma[i] * r;
            T centred = x[i] - hi - lo;
            output[i] = dy == null
                ? T.FusedMultiplyAdd(centred, scale, beta == null ? T.Zero : beta[i])
                : T.FusedMultiplyAdd(dy[i], scale, T.FusedMultiplyAdd(centred, b, c));
        }
    }

    /// <summary>μ as hi (μ rounded to T) + lo (the remainder), so x − μ is exact for x near μ in float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (T Hi, T Lo) Split<T>(double mu) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T hi = T.CreateTruncating(mu);
        return (hi, T.CreateTruncating(mu - double.CreateTruncating(hi)));
    }

    static void CheckShapes<T>(int xLength, int n, int groups, int k, int s, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta, int yLength, int meanLength, int varLength)
    {
        if ((long)n * groups * k * s != xLength || yLength != xLength)
            throw new ArgumentException($"GroupNorm kernel: x has {xLength} values, y {yLength}, shape (N={n}, G={groups}, K={k}, S={s})");
        int c = groups * k;
        if ((!gamma.IsEmpty && gamma.Length != c) || (!beta.IsEmpty && beta.Length != c))
            throw new ArgumentException($"GroupNorm kernel: γ and β must have C={c} values");
        if (meanLength != n * groups || varLength != n * groups)
            throw new ArgumentException($"GroupNorm kernel: mean and variance must have N·G={n * groups} values");
    }
}
