using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace BatchNormLab.Kernels;

/// <summary>Reductions over axes. Sums accumulate in double whatever the element type, so float32 tensors of millions of elements sum accurately.</summary>
public static class Reduce
{
    /// <summary>Σ of a run, accumulated in double (four vector accumulators, then the scalar tail).</summary>
    public static double SumToDouble<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T start = ref MemoryMarshal.GetReference(x);
        int i = 0;
        double total = 0;
        if (typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated && x.Length >= 16)
        {
            ref float f = ref Unsafe.As<T, float>(ref start);
            Vector256<double> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
            for (; i <= x.Length - 16; i += 16)
            {
                var (lo0, hi0) = Vector256.Widen(Vector256.LoadUnsafe(ref f, (nuint)i));
                var (lo1, hi1) = Vector256.Widen(Vector256.LoadUnsafe(ref f, (nuint)i + 8));
                acc0 += lo0; acc1 += hi0; acc2 += lo1; acc3 += hi1;
            }
            total = Vector256.Sum((acc0 + acc1) + (acc2 + acc3));
        }
        else if (typeof(T) == typeof(double) && Vector256.IsHardwareAccelerated && x.Length >= 16)
        {
            ref double d = ref Unsafe.As<T, double>(ref start);
            Vector256<double> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
            for (; i <= x.Length - 16; i += 16)
            {
                acc0 += Vector256.LoadUnsafe(ref d, (nuint)i);
                acc1 += Vector256.LoadUnsafe(ref d, (nuint)i + 4);
                acc2 += Vector256.LoadUnsafe(ref d, (nuint)i + 8);
                acc3 += Vector256.LoadUnsafe(ref d, (nuint)i + 12);
            }
            total = Vector256.Sum((acc0 + acc1) + (acc2 + acc3));
        }
        for (; i < x.Length; i++) total += double.CreateTruncating(Unsafe.Add(ref start, i));
        return total;
    }

    /// <summary>
    /// y = Σ of x over the dimensions where <paramref name="outShape"/> (same rank as x) is 1 and
    /// x's is not. Runs of x are visited in row-major order into double accumulators.
    /// </summary>
    public static void SumTo<T>(ReadOnlySpan<T> x, ReadOnlySpan<int> shape, ReadOnlySpan<int> outShape, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var plan = BroadcastPlan.Create(shape.ToArray(), shape, outShape);
        var acc = new double[y.Length];
        int inner = plan.Sizes[^1];
        bool runReduced = plan.StrideB[^1] == 0;
        Span<int> index = stackalloc int[plan.Sizes.Length];
        int offX = 0, offY = 0;
        for (int start = 0; start < x.Length; start += inner)
        {
            var run = x.Slice(offX, inner);
            if (runReduced) acc[offY] += SumToDouble(run);
            else for (int j = 0; j < inner; j++) acc[offY + j] += double.CreateTruncating(run[j]);
            plan.Advance(index, ref offX, ref offY);
        }
        for (int i = 0; i < y.Length; i++) y[i] = T.CreateTruncating(acc[i]);
    }

    /// <summary>
    /// Maximum over the middle axis of an (outer, axis, inner) view: y[o, i] = max_a x[o, a, i], with
    /// the first index of the maximum in <paramref name="argmax"/> (NaN wins, as in PyTorch).
    /// </summary>
    public static void MaxAxis<T>(ReadOnlySpan<T> x, int outer, int axis, int inner, Span<T> y, Span<int> argmax)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int bestIndex = 0;
                T best = x[o * axis * inner + i];
                for (int a = 1; a < axis && !T.IsNaN(best); a++)
                {
                    T v = x[(o * axis + a) * inner + i];
                    if (v > best || T.IsNaN(v)) { best = v; bestIndex = a; }
                }
                y[o * inner + i] = best;
                argmax[o * inner + i] = bestIndex;
            }
    }
}
