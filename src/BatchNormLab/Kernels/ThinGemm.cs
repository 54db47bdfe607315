using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BatchNormLab.Kernels;

/// <summary>
/// Products too thin for the packed <see cref="Gemm"/>, which would spend its time packing long, thin operands
/// into tiles mostly of zeros: the weight gradient of a convolution with few channels on large planes (the first
/// layer of a 1-channel image: k = 9 taps by 8 output channels, summed over 784 pixels an image). Operands are
/// read where they lie, row-major. Serial; every sum runs in an order fixed by the shapes. Reference:
/// <see cref="GemmReference.Multiply{T}"/>.
/// </summary>
public static class ThinGemm
{
    /// <summary>
    /// C[i, j] = (accumulate ? C[i, j] : 0) + Σ_q A[i, q]·B[j, q] for A [m, length], B [n, length]: few rows, long ones
    /// (a convolution's weight gradient dWᵀ = col·dyᵀ). Each entry is a dot product of two rows, 2×4 entries at a time
    /// in vector registers.
    /// </summary>
    public static unsafe void MultiplyABt<T>(int m, int n, int length, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        bool accumulate, Span<T> c, int ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Require(a.Length, m, length, lda, nameof(a));
        Require(b.Length, n, length, ldb, nameof(b));
        Require(c.Length, m, n, ldc, nameof(c));
        fixed (T* pa = a, pb = b, pc = c) MultiplyABt(m, n, length, pa, lda, pb, ldb, accumulate, pc, ldc);
    }

    static void Require(int actual, int rows, int columns, int ld, string name)
    {
        if (rows > 0 && (ld < columns || actual < (long)(rows - 1) * ld + columns))
            throw new ArgumentException($"{name}: {rows}×{columns} with leading dimension {ld} needs {(long)(rows - 1) * ld + columns} elements, has {actual}", name);
    }

    /// <inheritdoc cref="MultiplyABt{T}(int, int, int, ReadOnlySpan{T}, int, ReadOnlySpan{T}, int, bool, Span{T}, int)"/>
    public static unsafe void MultiplyABt<T>(int m, int n, int length, T* a, int lda, T* b, int ldb, bool accumulate, T* c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        for (; i + 2 <= m; i += 2)
        {
            int j = 0;
            for (; j + 4 <= n; j += 4) Block2x4(length, a + (long)i * lda, lda, b + (long)j * ldb, ldb, accumulate, c + (long)i * ldc + j, ldc);
            for (; j < n; j++)
            {
                Put(c + (long)i * ldc + j, Dot(length, a + (long)i * lda, b + (long)j * ldb), accumulate);
                Put(c + (long)(i + 1) * ldc + j, Dot(length, a + (long)(i + 1) * lda, b + (long)j * ldb), accumulate);
            }
        }
        for (; i < m; i++)
            for (int j = 0; j < n; j++) Put(c + (long)i * ldc + j, Dot(length, a + (long)i * lda, b + (long)j * ldb), accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Put<T>(T* c, T value, bool accumulate) where T : unmanaged, IFloatingPointIeee754<T> => *c = accumulate ? *c + value : value;

    /// <summary>Σ_q a[q]·b[q]: vector lanes over the whole vectors, their sum, then the tail in order.</summary>
    static unsafe T Dot<T>(int length, T* a, T* b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = Vector256<T>.Count, q = 0;
        var sum = Vector256<T>.Zero;
        for (; q + width <= length; q += width) sum = Simd.MultiplyAdd(Vector256.Load(a + q), Vector256.Load(b + q), sum);
        T total = Vector256.Sum(sum);
        for (; q < length; q++) total += a[q] * b[q];
        return total;
    }

    /// <summary>The 2×4 entries of rows a, a + lda against rows b … b + 3·ldb: eight accumulators, six loads per eight FMAs.</summary>
    static unsafe void Block2x4<T>(int length, T* a, int lda, T* b, int ldb, bool accumulate, T* c, int ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T* a1 = a + lda;
        T* b1 = b + ldb, b2 = b + 2L * ldb, b3 = b + 3L * ldb;
        Vector256<T> s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default;
        int width = Vector256<T>.Count, q = 0;
        for (; q + width <= length; q += width)
        {
            var (x0, x1) = (Vector256.Load(a + q), Vector256.Load(a1 + q));
            var y = Vector256.Load(b + q);
            s00 = Simd.MultiplyAdd(x0, y, s00);
            s10 = Simd.MultiplyAdd(x1, y, s10);
            y = Vector256.Load(b1 + q);
            s01 = Simd.MultiplyAdd(x0, y, s01);
            s11 = Simd.MultiplyAdd(x1, y, s11);
            y = Vector256.Load(b2 + q);
            s02 = Simd.MultiplyAdd(x0, y, s02);
            s12 = Simd.MultiplyAdd(x1, y, s12);
            y = Vector256.Load(b3 + q);
            s03 = Simd.MultiplyAdd(x0, y, s03);
            s13 = Simd.MultiplyAdd(x1, y, s13);
        }
        Span<T> sums = [Vector256.Sum(s00), Vector256.Sum(s01), Vector256.Sum(s02), Vector256.Sum(s03),
            Vector256.Sum(s10), Vector256.Sum(s11), Vector256.Sum(s12), Vector256.Sum(s13)];
        for (; q < length; q++)
        {
            T x0 = a[q], x1 = a1[q];
            sums[0] += x0 * b[q];
            sums[1] += x0 * b1[q];
            sums[2] += x0 * b2[q];
            sums[3] += x0 * b3[q];
            sums[4] += x1 * b[q];
            sums[5] += x1 * b1[q];
            sums[6] += x1 * b2[q];
            sums[7] += x1 * b3[q];
        }
        for (int j = 0; j < 4; j++)
        {
            Put(c + j, sums[j], accumulate);
            Put(c + ldc + j, sums[4 + j], accumulate);
        }
    }
}
