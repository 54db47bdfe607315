using System.Numerics;

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
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Backward(training: true, dy, x, n, c, s, gamma, mean, variance, eps, dx, dGamma, dBeta);

    // ---------------------------------------------------------------- eval backward
    // y = x·α + β' with the (running) statistics constant, α = γ·r:
    //   dx = dy·α,   dγ = Σ dy·x̂ = r·Σ(x−μ)·dy,   dβ = Σdy
    // The reduction pass of the training backward (for dγ, dβ), then one elementwise pass.

    /// <summary>Backward with given statistics: dx (overwritten), and dγ, dβ (overwritten; skipped when empty).</summary>
    public static void BackwardEval<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, int n, int c, int s, ReadOnlySpan<T> gamma,
        ReadOnlySpan<double> mean, ReadOnlySpan<double> variance, double eps, Span<T> dx, Span<T> dGamma, Span<T> dBeta)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Backward(training: false, dy, x, n, c, s, gamma, mean, variance, eps, dx, dGamma, dBeta);

    static void Backward<T>(bool training, ReadOnlySpan<T> dy, ReadOnlySpan<T> x, int n, int c, int s, ReadOnlySpan<T> gamma,
        ReadOnlySpan<double> mean, ReadOnlySpan<double> variance, double eps, Span<T> dx, Span<T> dGamma, Span<T> dBeta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckBackwardShapes(dy.Length, x.Length, n, c, s, gamma, dx.Length, dGamma.Length, dBeta, mean.Length, variance.Length);
        fixed (T* pdy = dy, px = x, pdx = dx, pGamma = gamma, pdGamma = dGamma, pdBeta = dBeta)
        fixed (double* pMean = mean, pVar = variance)
        {
            var sums = new GradientSums<T>(pdy, px, pMean, pVar, pGamma, eps, (double)n * s, pdGamma, pdBeta);
            if (training)
            {
                Run(sums, pdy, px, pdx, n, c, s);
                return;
            }
            if (pdGamma != null || pdBeta != null)
            {
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
