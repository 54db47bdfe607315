using System.Numerics;

namespace BatchNormLab.Kernels;

/// <summary>
/// The plain triple loop that <see cref="Gemm"/> is tested against: slow, obviously right.
/// </summary>
public static class GemmReference
{
    /// <summary>
    /// C = alpha·op(A)·op(B) + beta·C, row-major. op(A) is m×k (A is stored k×m when
    /// <paramref name="transA"/>), op(B) is k×n (B is stored n×k when <paramref name="transB"/>).
    /// When beta is 0, C is only written, never read (NaN in C does not propagate), as in BLAS.
    /// </summary>
    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                T sum = T.Zero;
                for (int p = 0; p < k; p++)
                {
                    T aip = transA ? a[p * lda + i] : a[i * lda + p];
                    T bpj = transB ? b[j * ldb + p] : b[p * ldb + j];
                    sum += aip * bpj;
                }
                ref T cij = ref c[i * ldc + j];
                cij = beta == T.Zero ? alpha * sum : alpha * sum + beta * cij;
            }
        }
    }
}
