using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BatchNormLab.Kernels;

/// <summary>
/// Vector helpers shared by the kernels. Kernels are generic over T (float or double); the
/// <c>typeof(T)</c> tests below are constants to the JIT, so each instantiation compiles to
/// straight AVX2/FMA code with no branches.
/// </summary>
public static class Simd
{
    /// <summary>a·b + c, fused (one rounding) where the CPU has FMA.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> MultiplyAdd<T>(Vector256<T> a, Vector256<T> b, Vector256<T> c)
    {
        if (Fma.IsSupported)
        {
            if (typeof(T) == typeof(float))
                return Fma.MultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
            if (typeof(T) == typeof(double))
                return Fma.MultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        }
        return a * b + c;
    }

    /// <summary>a·b + c for 512-bit vectors, fused (AVX-512 implies FMA).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> MultiplyAdd<T>(Vector512<T> a, Vector512<T> b, Vector512<T> c)
    {
        if (Avx512F.IsSupported)
        {
            if (typeof(T) == typeof(float))
                return Avx512F.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
            if (typeof(T) == typeof(double))
                return Avx512F.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        }
        return a * b + c;
    }

    /// <summary>Outputs from this size (bytes) are written with non-temporal stores: they cannot stay in L2 anyway.</summary>
    internal const long NonTemporalMinBytes = 4 << 20;

    /// <summary>Stores <paramref name="v"/> at <paramref name="p"/>; with <paramref name="nonTemporal"/> bypassing the caches (p must be 64-byte aligned).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Store<T>(Vector512<T> v, T* p, bool nonTemporal) where T : unmanaged
    {
        if (nonTemporal) Vector512.StoreAlignedNonTemporal(v, p);
        else Vector512.Store(v, p);
    }

    /// <summary>Stores <paramref name="v"/> at <paramref name="p"/>; with <paramref name="nonTemporal"/> bypassing the caches (p must be 32-byte aligned).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Store<T>(Vector256<T> v, T* p, bool nonTemporal) where T : unmanaged
    {
        if (nonTemporal) Vector256.StoreAlignedNonTemporal(v, p);
        else Vector256.Store(v, p);
    }

    /// <summary>
    /// The part [start, end) of a run of <paramref name="length"/> elements from <paramref name="p"/>
    /// that covers whole 64-byte cache lines: where non-temporal stores go. A line must not be
    /// written by both kinds of store (the cached one would be evicted with every streamed write).
    /// </summary>
    public static unsafe (int Start, int End) WholeLines<T>(T* p, int length) where T : unmanaged
    {
        int perLine = 64 / sizeof(T);
        int start = Math.Min(length, (int)((64 - ((nuint)p & 63)) & 63) / sizeof(T));
        return (start, start + (length - start) / perLine * perLine);
    }

    /// <summary>Orders earlier non-temporal stores before later stores (before another thread reads them).</summary>
    public static void StoreFence()
    {
        if (Sse.IsSupported) Sse.StoreFence();
    }

    /// <summary>a·b + c for scalars, fused like <see cref="MultiplyAdd{T}(Vector256{T}, Vector256{T}, Vector256{T})"/>
    /// so that vector bodies and scalar tails round the same way.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T MultiplyAdd<T>(T a, T b, T c) where T : IFloatingPointIeee754<T> => T.FusedMultiplyAdd(a, b, c);
}
