using System.Numerics;
using BatchNormLab.Kernels;

namespace BatchNormLab.Tests;

public class GemmTests
{
    public static TheoryData<bool, bool> Transposes => new() { { false, false }, { false, true }, { true, false }, { true, true } };

    static readonly (int M, int N, int K)[] Shapes =
    [
        (1, 1, 1), (7, 7, 7), (33, 33, 33), (129, 129, 129),
        (1, 129, 7), (33, 1, 129), (129, 7, 1), (7, 33, 300), (6, 16, 256), (12, 32, 257), (150, 20, 5), (5, 300, 40), (300, 5, 40),
        (4, 8200, 3), // wider than one NC block
    ];

    [Theory, MemberData(nameof(Transposes))]
    public void FloatMatchesReference(bool transA, bool transB)
    {
        foreach (var (m, n, k) in Shapes)
        {
            Check<float>(transA, transB, m, n, k, 1f, 0f, pad: 0, 1e-5);
            Check<float>(transA, transB, m, n, k, -0.5f, 1.5f, pad: 3, 1e-5);
        }
    }

    [Theory, MemberData(nameof(Transposes))]
    public void DoubleMatchesReference(bool transA, bool transB)
    {
        foreach (var (m, n, k) in Shapes)
        {
            Check<double>(transA, transB, m, n, k, 1.0, 0.0, pad: 0, 1e-12);
            Check<double>(transA, transB, m, n, k, 2.0, -1.0, pad: 5, 1e-12);
        }
    }

    [Fact]
    public void ZeroSizedAndZeroKOrAlphaScaleC()
    {
        Gemm.Multiply(false, false, 0, 5, 3, 1f, [], 3, new float[15], 5, 0f, [], 5);
        Gemm.Multiply(false, false, 4, 0, 3, 1f, new float[12], 3, [], 1, 0f, [], 1);

        float[] c = [1, 2, float.NaN, 4];
        Gemm.Multiply(false, false, 2, 2, 0, 1f, [], 1, [], 2, 0f, c, 2);
        Assert.Equal([0f, 0f, 0f, 0f], c);

        c = [1, 2, 3, 4];
        Gemm.Multiply(false, false, 2, 2, 1, 0f, new float[2], 1, new float[2], 2, 3f, c, 2);
        Assert.Equal([3f, 6f, 9f, 12f], c);
    }

    [Fact]
    public void BetaZeroIgnoresNaNInC()
    {
        foreach (var (transA, transB) in new[] { (false, false), (true, true) })
        {
            int m = 37, n = 41, k = 19;
            var rng = new XorShift(7);
            float[] a = rng.Fill<float>(m * k), b = rng.Fill<float>(k * n);
            var c = new float[m * n];
            Array.Fill(c, float.NaN);
            Gemm.Multiply(transA, transB, m, n, k, 1f, a, transA ? m : k, b, transB ? k : n, 0f, c, n);
            Assert.All(c, x => Assert.True(float.IsFinite(x)));
        }
    }

    [Fact]
    public void RejectsUnsupportedTypeAndShortBuffers()
    {
        Assert.Throws<NotSupportedException>(() =>
            Gemm.Multiply(false, false, 1, 1, 1, Half.One, new Half[1], 1, new Half[1], 1, Half.Zero, new Half[1], 1));
        Assert.Throws<ArgumentException>(() =>
            Gemm.Multiply(false, false, 2, 2, 2, 1f, new float[3], 2, new float[4], 2, 0f, new float[4], 2));
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            Gemm.Multiply(false, false, 2, 2, 2, 1f, new float[4], 1, new float[4], 2, 0f, new float[4], 2));
    }

    [Fact]
    public void BitwiseDeterministicAcrossRunsAndThreadCounts()
    {
        // Rows split (two column blocks of six k blocks: both packed-B buffers reused); columns split, the
        // longer side (257×300) or the only one with enough panels.
        foreach (var (m, n, k) in new[] { (300, 257, 600), (257, 300, 300), (517, 40, 129), (60, 4200, 600), (10, 2000, 300) })
        {
            var rng = new XorShift(11);
            float[] a = rng.Fill<float>(m * k), b = rng.Fill<float>(k * n), c0 = rng.Fill<float>(m * n);
            float[] Run(int threads)
            {
                using var count = Threading.Use(threads);
                var c = (float[])c0.Clone();
                Gemm.Multiply(false, true, m, n, k, 0.75f, a, k, b, k, 0.5f, c, n);
                return c;
            }
            float[] one = Run(1), two = Run(2), twoAgain = Run(2), three = Run(3);
            Assert.Equal(one, two);
            Assert.Equal(two, twoAgain);
            Assert.Equal(one, three);
        }
    }

    /// <summary>A packed once (its k blocks packed in parallel) and used by MultiplySerialPacked gives the same bits as
    /// Multiply: several k blocks, rows past a whole panel, both layouts of A, float and double, 1 and 2 threads.</summary>
    [Fact]
    public void PackedAGivesTheSameBits()
    {
        foreach (int threads in new[] { 1, 2 })
            using (Threading.Use(threads))
                foreach (var (m, n, k) in new[] { (31, 45, 700), (512, 64, 1200), (7, 33, 1), (1, 1, 1) })
                    foreach (bool transA in new[] { false, true })
                    {
                        Check<float>(m, n, k, transA);
                        Check<double>(m, n, k, transA);
                    }

        static void Check<T>(int m, int n, int k, bool transA) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var rng = new XorShift(13);
            T[] a = rng.Fill<T>(m * k), b = rng.Fill<T>(k * n), c0 = rng.Fill<T>(m * n);
            T[] expected = (T[])c0.Clone(), actual = (T[])c0.Clone();
            T alpha = T.CreateTruncating(0.75), beta = T.CreateTruncating(0.5);
            Gemm.Multiply(transA, false, m, n, k, alpha, a, transA ? m : k, b, n, beta, expected, n);
            T[] packed = rng.Fill<T>(Gemm.PackedALength<T>(m, k)); // garbage: every value read must be written
            Gemm.PackA(transA, m, k, a, transA ? m : k, packed);
            Gemm.MultiplySerialPacked(m, n, k, alpha, packed, false, b, n, beta, actual, n);
            Assert.Equal(expected, actual);
        }
    }

    /// <summary>Compares with the reference over a strided C; padding between rows must be left untouched.</summary>
    static void Check<T>(bool transA, bool transB, int m, int n, int k, T alpha, T beta, int pad, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lda = (transA ? m : k) + pad, ldb = (transB ? k : n) + pad, ldc = n + pad;
        var rng = new XorShift((uint)(m * 7919 + n * 104729 + k * 13 + pad));
        T[] a = rng.Fill<T>((transA ? k : m) * lda), b = rng.Fill<T>((transB ? n : k) * ldb), c = rng.Fill<T>(m * ldc);
        T[] c0 = (T[])c.Clone(), expected = (T[])c.Clone();
        GemmReference.Multiply(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, expected, ldc);
        Gemm.Multiply(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < ldc; j++)
            {
                double want = double.CreateChecked(expected[i * ldc + j]), got = double.CreateChecked(c[i * ldc + j]);
                if (j >= n)
                {
                    Assert.Equal(want, got);
                    continue;
                }
                // Rounding error scales with Σ|a||b| (plus |beta·c|), not with the possibly cancelling result.
                double scale = Math.Abs(double.CreateChecked(beta * c0[i * ldc + j]));
                for (int p = 0; p < k; p++)
                {
                    T aip = transA ? a[p * lda + i] : a[i * lda + p];
                    T bpj = transB ? b[j * ldb + p] : b[p * ldb + j];
                    scale += Math.Abs(double.CreateChecked(alpha * aip * bpj));
                }
                Assert.True(Math.Abs(want - got) <= tolerance * scale,
                    $"{typeof(T).Name} tA={transA} tB={transB} {m}x{n}x{k} C[{i},{j}] = {got}, reference {want}");
            }
        }
    }

    /// <summary>xorshift32: deterministic inputs in [-1, 1) without depending on library types.</summary>
    sealed class XorShift(uint seed)
    {
        uint state = seed == 0 ? 0x9E3779B9u : seed;

        public T[] Fill<T>(int length) where T : IFloatingPointIeee754<T>
        {
            var values = new T[length];
            for (int i = 0; i < length; i++)
            {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                values[i] = T.CreateChecked(state / 2147483648.0 - 1.0);
            }
            return values;
        }
    }
}
