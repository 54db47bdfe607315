using System.Numerics;
using BatchNormLab.Kernels;

namespace BatchNormLab.Tests;

public class ThinGemmTests
{
    /// <summary>m, n, length: whole 2×4 blocks, rows and columns left over, rows shorter than a vector, a vector and a tail.</summary>
    static readonly (int M, int N, int Length)[] Shapes =
    [
        (1, 1, 1), (2, 4, 8), (9, 8, 784), (3, 5, 7), (7, 6, 19), (5, 3, 300), (8, 16, 392), (27, 64, 33), (4, 9, 0),
    ];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MatchesTheReferenceGemmWithTransposedB(bool accumulate)
    {
        foreach (var (m, n, length) in Shapes)
        {
            Check<float>(m, n, length, accumulate, pad: 0, 1e-5);
            Check<float>(m, n, length, accumulate, pad: 3, 1e-5);
            Check<double>(m, n, length, accumulate, pad: 0, 1e-13);
            Check<double>(m, n, length, accumulate, pad: 5, 1e-13);
        }
    }

    /// <summary>Leading dimensions <paramref name="pad"/> longer than the rows (A, B and C): the padding is never read or written.</summary>
    static void Check<T>(int m, int n, int length, bool accumulate, int pad, double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Conv2dKernelTests.XorShift((ulong)(m * 1000 + n * 10 + length));
        int lda = length + pad, ldb = length + pad, ldc = n + pad;
        T[] a = rng.Array<T>(Math.Max(1, m * lda)), b = rng.Array<T>(Math.Max(1, n * ldb)), c = rng.Array<T>(m * ldc);
        var expected = (T[])c.Clone();
        GemmReference.Multiply(false, true, m, n, length, T.One, a, lda, b, ldb, accumulate ? T.One : T.Zero, expected, ldc);
        ThinGemm.MultiplyABt<T>(m, n, length, a, lda, b, ldb, accumulate, c, ldc);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < ldc; j++)
            {
                double want = double.CreateChecked(expected[i * ldc + j]), got = double.CreateChecked(c[i * ldc + j]);
                if (j >= n) Assert.Equal(want, got);
                else Assert.True(Math.Abs(got - want) <= tolerance * (1 + Math.Abs(want)) * Math.Max(1, Math.Sqrt(length)), $"{m}×{n}×{length} [{i},{j}]: {got} vs {want}");
            }
    }

    [Fact]
    public void WithoutAccumulateCsOldValuesAreIgnored()
    {
        float[] a = [1, 2, 3], b = [4, 5, 6], c = [float.NaN];
        ThinGemm.MultiplyABt<float>(1, 1, 3, a, 3, b, 3, false, c, 1);
        Assert.Equal([32f], c);
    }

    [Fact]
    public void RejectsShortBuffers()
    {
        Assert.Throws<ArgumentException>(() => ThinGemm.MultiplyABt<float>(2, 2, 3, new float[5], 3, new float[6], 3, false, new float[4], 2));
        Assert.Throws<ArgumentException>(() => ThinGemm.MultiplyABt<float>(2, 2, 3, new float[6], 3, new float[6], 2, false, new float[4], 2));
        Assert.Throws<ArgumentException>(() => ThinGemm.MultiplyABt<float>(2, 2, 3, new float[6], 3, new float[6], 3, false, new float[3], 2));
    }
}
