using System.Numerics;
using System.Runtime.Intrinsics;

namespace BatchNormLab.Kernels;

// ---------------------------------------------------------------- double backward
// Hessian-vector products differentiate the training backward D = γ·r·(g − ḡ − x̂·m) again
// (g = dy, ḡ = mean g, m = mean g·x̂, x̂ = (x−μ)·r, r = 1/√(σ²+ε), means over the channel's M values).
// For an upstream a of D, with ā = mean a, A = mean a·x̂ and K = mean a·g − ā·ḡ − m·A:
//   ∂/∂g = γ·r·(a − ā − x̂·A)                                  (D is self-adjoint in g)
//   ∂/∂γ = r·M·K
//   ∂/∂x = −γ·r²·(m·(a − ā) + A·(g − ḡ) + (K − 2·m·A)·x̂)        (through x̂, μ and r)
// One channel per work item: a reduction pass (Σa, Σa·d, Σa·g, Σg, Σg·d with d = x − μ, short
// blocks added in double), then one elementwise pass writing both input gradients.
public static unsafe partial class BatchNormKernels
{
    /// <summary>The derivatives of the training backward's dx along <paramref name="a"/>: dg and dx (overwritten), dγ (overwritten; skipped when empty).</summary>
    public static void DoubleBackward<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> g, ReadOnlySpan<T> x, int n, int c, int s, ReadOnlySpan<T> gamma,
        ReadOnlySpan<double> mean, ReadOnlySpan<double> variance, double eps, Span<T> dg, Span<T> dx, Span<T> dGamma)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(x.Length, n, c, s, gamma, ReadOnlySpan<T>.Empty, dg.Length, mean.Length, variance.Length);
        if (a.Length != x.Length || g.Length != x.Length || dx.Length != x.Length)
            throw new ArgumentException($"BatchNorm double backward: a, g, x and dx must have {x.Length} values each");
        if (!dGamma.IsEmpty && dGamma.Length != c) throw new ArgumentException($"BatchNorm kernel: dγ must have C={c} values");
        fixed (T* pa = a, pg = g, px = x, pGamma = gamma, pdg = dg, pdx = dx, pdGamma = dGamma)
        fixed (double* pMean = mean, pVar = variance)
            Threading.ForEachItem(c, new SecondOrderChannel<T>(pa, pg, px, n, c, s, pGamma, pMean, pVar, eps, pdg, pdx, pdGamma));
    }

    readonly struct SecondOrderChannel<T>(T* a, T* g, T* x, int n, int c, int s, T* gamma, double* mean, double* variance, double eps,
        T* dg, T* dx, T* dGamma) : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Lanes per sum in the double accumulators (8 for float, 4 for double).</summary>
        const int Lanes = 8;

        public void Run(int start, int end)
        {
            double* acc = stackalloc double[5 * Lanes];
            for (int ch = start; ch < end; ch++)
            {
                new Span<double>(acc, 5 * Lanes).Clear();
                T hi = T.CreateTruncating(mean[ch]), lo = T.CreateTruncating(mean[ch] - double.CreateTruncating(hi));
                for (int i = 0; i < n; i++)
                {
                    long at = ((long)i * c + ch) * s;
                    SecondOrderSums(a + at, g + at, x + at, s, hi, lo, acc);
                }
                double m = (double)n * s, r = 1 / Math.Sqrt(variance[ch] + eps);
                double gam = gamma == null ? 1 : double.CreateTruncating(gamma[ch]);
                double aMean = Total(acc, 0) / m, aXhat = r * Total(acc, 1) / m, aG = Total(acc, 2) / m;
                double gMean = Total(acc, 3) / m, gXhat = r * Total(acc, 4) / m;
                double k = aG - aMean * gMean - gXhat * aXhat;
                if (dGamma != null) dGamma[ch] = T.CreateTruncating(r * m * k);
                // dg = a·γr + d·(−γr²·A) − γr·ā;   dx = a·(−γr²·m) + g·(−γr²·A) + d·(−γr³·(K − 2mA)) + γr²·(m·ā + A·ḡ)
                double gr = gam * r, gr2 = gr * r;
                var coefficients = new SecondOrderCoefficients<T>(hi, lo,
                    T.CreateTruncating(gr), T.CreateTruncating(-gr2 * aXhat), T.CreateTruncating(-gr * aMean),
                    T.CreateTruncating(-gr2 * gXhat), T.CreateTruncating(-gr2 * aXhat), T.CreateTruncating(-gr2 * r * (k - 2 * gXhat * aXhat)),
                    T.CreateTruncating(gr2 * (gXhat * aMean + aXhat * gMean)));
                for (int i = 0; i < n; i++)
                {
                    long at = ((long)i * c + ch) * s;
                    SecondOrderApply(a + at, g + at, x + at, dg + at, dx + at, s, coefficients);
                }
            }
        }

        static double Total(double* acc, int sum)
        {
            double total = 0;
            for (int lane = 0; lane < Lanes; lane++) total += acc[sum * Lanes + lane];
            return total;
        }
    }

    /// <summary>dg = a·GA + d·GD + GC,  dx = a·XA + g·XG + d·XD + XC  with d = (x − hi) − lo.</summary>
    readonly record struct SecondOrderCoefficients<T>(T Hi, T Lo, T GA, T GD, T GC, T XA, T XG, T XD, T XC);

    // acc[k·8 + lane] += the five sums of one run (Σa, Σa·d, Σa·g, Σg, Σg·d), T vectors over blocks of BlockSteps steps.
    static void SecondOrderSums<T>(T* a, T* g, T* x, int len, T hi, T lo, double* acc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, i = 0;
        var vHi = Vector256.Create(hi); var vLo = Vector256.Create(lo);
        while (i <= len - w)
        {
            Vector256<T> sa = default, sad = default, sag = default, sg = default, sgd = default;
            int stop = Math.Min(len - w, i + (BlockSteps - 1) * w);
            for (; i <= stop; i += w)
            {
                var va = Vector256.Load(a + i); var vg = Vector256.Load(g + i);
                var d = Vector256.Load(x + i) - vHi - vLo;
                sa += va;
                sad = Simd.MultiplyAdd(va, d, sad);
                sag = Simd.MultiplyAdd(va, vg, sag);
                sg += vg;
                sgd = Simd.MultiplyAdd(vg, d, sgd);
            }
            AddToDouble(sa, acc); AddToDouble(sad, acc + 8); AddToDouble(sag, acc + 16); AddToDouble(sg, acc + 24); AddToDouble(sgd, acc + 32);
        }
        for (; i < len; i++)
        {
            double va = double.CreateTruncating(a[i]), vg = double.CreateTruncating(g[i]), d = double.CreateTruncating(x[i] - hi - lo);
            acc[0] += va; acc[8] += va * d; acc[16] += va * vg; acc[24] += vg; acc[32] += vg * d;
        }
    }

    static void SecondOrderApply<T>(T* a, T* g, T* x, T* dg, T* dx, int len, SecondOrderCoefficients<T> k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count, i = 0;
        var hi = Vector256.Create(k.Hi); var lo = Vector256.Create(k.Lo);
        var ga = Vector256.Create(k.GA); var gd = Vector256.Create(k.GD); var gc = Vector256.Create(k.GC);
        var xa = Vector256.Create(k.XA); var xg = Vector256.Create(k.XG); var xd = Vector256.Create(k.XD); var xc = Vector256.Create(k.XC);
        for (; i <= len - w; i += w)
        {
            var va = Vector256.Load(a + i);
            var d = Vector256.Load(x + i) - hi - lo;
            Vector256.Store(Simd.MultiplyAdd(va, ga, Simd.MultiplyAdd(d, gd, gc)), dg + i);
            Vector256.Store(Simd.MultiplyAdd(va, xa, Simd.MultiplyAdd(Vector256.Load(g + i), xg, Simd.MultiplyAdd(d, xd, xc))), dx + i);
        }
        for (; i < len; i++)
        {
            T d = x[i] - k.Hi - k.Lo;
            dg[i] = T.FusedMultiplyAdd(a[i], k.GA, T.FusedMultiplyAdd(d, k.GD, k.GC));
            dx[i] = T.FusedMultiplyAdd(a[i], k.XA, T.FusedMultiplyAdd(g[i], k.XG, T.FusedMultiplyAdd(d, k.XD, k.XC)));
        }
    }
}
