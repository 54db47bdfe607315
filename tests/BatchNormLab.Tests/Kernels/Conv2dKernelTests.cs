using System.Numerics;
using System.Runtime.InteropServices;
using BatchNormLab.Kernels;

namespace BatchNormLab.Tests;

public class Conv2dKernelTests
{
    /// <summary>n, c, h, w, cOut, kh, kw, stride, padding.</summary>
    public static TheoryData<int, int, int, int, int, int, int, int, int> Shapes => new()
    {
        { 1, 1, 1, 1, 1, 1, 1, 1, 0 },    // smallest possible
        { 3, 3, 7, 7, 4, 1, 1, 1, 0 },    // 1×1 (pointwise)
        { 3, 17, 7, 33, 5, 1, 1, 2, 1 },  // 1×1 with stride and padding: zero borders
        { 1, 3, 33, 33, 8, 3, 3, 1, 1 },  // 3×3 pad 1, one image per GEMM
        { 3, 17, 7, 7, 17, 3, 3, 1, 1 },  // 3×3 pad 1, all images in one GEMM
        { 3, 3, 16, 16, 6, 3, 3, 1, 1 },  // groups of 2 images and a last group of 1
        { 3, 3, 33, 33, 6, 5, 5, 2, 2 },  // 5×5 stride 2 pad 2
        { 1, 17, 7, 33, 3, 5, 5, 2, 2 },
        { 3, 3, 7, 33, 4, 3, 2, 1, 1 },   // 3×2 kernel
        { 3, 1, 1, 7, 2, 3, 2, 1, 1 },    // h = 1
        { 3, 17, 1, 1, 3, 3, 3, 1, 1 },   // 1×1 image under a 3×3 kernel
        { 3, 3, 33, 7, 5, 3, 3, 2, 0 },   // stride 2, no padding, rows left over
        { 1, 1, 7, 7, 1, 7, 7, 3, 3 },    // kernel as large as the image, stride 3
        { 2, 3, 5, 9, 4, 1, 3, 1, 1 },    // 1×3 kernel, pad 1: padding rows above and below
        { 2, 2, 3, 3, 3, 5, 5, 1, 2 },    // 5×5 pad 2 on a 3×3 image: some taps see no pixel
        { 9, 2, 24, 24, 3, 3, 3, 1, 1 },  // nine groups of one image: groups spread over the threads
        { 13, 3, 14, 14, 5, 3, 3, 1, 1 }, // five groups of three images, the last of one, spread over the threads
        { 13, 2, 27, 27, 4, 3, 3, 2, 1 }, // the same with stride 2
        { 9, 40, 14, 14, 5, 3, 3, 1, 1 }, // weight gradient by blocks of rows of dWᵀ, the last block short
        { 20, 2, 9, 9, 3, 3, 3, 1, 1 },   // three groups of seven images (the last of six): the weight gradient by chunks, dWᵀ by ThinGemm
        { 32, 24, 8, 8, 12, 3, 3, 1, 1 }, // the weight gradient by chunks, dWᵀ (216 × 12) by the GEMM
    };

    [Theory, MemberData(nameof(Shapes))]
    public void FastMatchesReferenceFloat(int n, int c, int h, int w, int cOut, int kh, int kw, int stride, int padding) =>
        FastMatchesReference<float>(new Shape(n, c, h, w, cOut, kh, kw, stride, padding), 1e-4);

    [Theory, MemberData(nameof(Shapes))]
    public void FastMatchesReferenceDouble(int n, int c, int h, int w, int cOut, int kh, int kw, int stride, int padding) =>
        FastMatchesReference<double>(new Shape(n, c, h, w, cOut, kh, kw, stride, padding), 1e-12);

    static void FastMatchesReference<T>(Shape s, double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new XorShift(17);
        T[] x = rng.Array<T>(s.XLength), weight = rng.Array<T>(s.WeightLength), bias = rng.Array<T>(s.COut), dy = rng.Array<T>(s.YLength);

        foreach (T[] b in new[] { bias, [] })
        {
            T[] expected = new T[s.YLength], actual = rng.Array<T>(s.YLength);
            Conv2dReference.Forward<T>(x, s.N, s.C, s.H, s.W, weight, b, s.COut, s.Kh, s.Kw, s.Stride, s.Padding, expected);
            Conv2dKernels.Forward<T>(x, s.N, s.C, s.H, s.W, weight, b, s.COut, s.Kh, s.Kw, s.Stride, s.Padding, actual);
            AssertClose(expected, actual, tolerance);
        }

        T[] dxExpected = new T[s.XLength], dxActual = rng.Array<T>(s.XLength);   // garbage: must be overwritten
        Conv2dReference.BackwardInput<T>(dy, weight, s.N, s.C, s.H, s.W, s.COut, s.Kh, s.Kw, s.Stride, s.Padding, dxExpected);
        Conv2dKernels.BackwardInput<T>(dy, weight, s.N, s.C, s.H, s.W, s.COut, s.Kh, s.Kw, s.Stride, s.Padding, dxActual);
        AssertClose(dxExpected, dxActual, tolerance);

        T[] dwExpected = new T[s.WeightLength], dbExpected = new T[s.COut];
        T[] dwActual = rng.Array<T>(s.WeightLength), dbActual = rng.Array<T>(s.COut);
        Conv2dReference.BackwardWeight<T>(dy, x, s.N, s.C, s.H, s.W, s.COut, s.Kh, s.Kw, s.Stride, s.Padding, dwExpected, dbExpected);
        Conv2dKernels.BackwardWeight<T>(dy, x, s.N, s.C, s.H, s.W, s.COut, s.Kh, s.Kw, s.Stride, s.Padding, dwActual, dbActual);
        AssertClose(dwExpected, dwActual, tolerance);
        AssertClose(dbExpected, dbActual, tolerance);

        T[] dwNoBias = rng.Array<T>(s.WeightLength);
        Conv2dKernels.BackwardWeight<T>(dy, x, s.N, s.C, s.H, s.W, s.COut, s.Kh, s.Kw, s.Stride, s.Padding, dwNoBias, []);
        Assert.Equal(dwActual, dwNoBias);
    }

    /// <summary>Same-size convolutions whose k fits one GEMM k block: the forward runs direct from the image.</summary>
    public static TheoryData<int, int, int, int, int, int, int, int, int> DirectShapes => new()
    {
        { 3, 1, 28, 28, 8, 3, 3, 1, 1 },   // a narrow VGG's first layer
        { 2, 8, 14, 14, 16, 3, 3, 1, 1 },  // its second: 196 outputs, a partial last vector
        { 2, 16, 7, 7, 32, 3, 3, 1, 1 },   // its third: k = 144
        { 2, 3, 5, 9, 13, 1, 3, 1, 1 },    // 1×3 kernel, pad 1 (rows of padding above and below), 13 channels: a partial block
        { 1, 2, 6, 6, 3, 5, 5, 1, 2 },     // 5×5 pad 2: taps that see no pixel
        { 4, 28, 9, 9, 9, 3, 3, 1, 1 },    // k = 252, just inside one block
        { 2, 3, 11, 11, 4, 1, 1, 1, 0 },   // 1×1
    };

    /// <summary>
    /// The direct forward is bitwise the im2col-and-GEMM forward (the same sums in the same order), with and without
    /// bias, in float and double, and whatever the thread count; padding lanes must not read outside the input.
    /// </summary>
    [Theory, MemberData(nameof(DirectShapes))]
    public void DirectForwardIsBitwiseTheGemmForward(int n, int c, int h, int w, int cOut, int kh, int kw, int stride, int padding)
    {
        var s = new Shape(n, c, h, w, cOut, kh, kw, stride, padding);
        Check<float>(s);
        Check<double>(s);

        static void Check<T>(Shape s) where T : unmanaged, IFloatingPointIeee754<T>
        {
            Assert.Equal(System.Runtime.Intrinsics.X86.Avx2.IsSupported, Conv2dKernels.UsesDirectForward<T>(s.N, s.C, s.H, s.W, s.COut, s.Kh, s.Kw, s.Stride, s.Padding));
            var rng = new XorShift(23);
            // NaN around the input: a masked-off lane that read it would poison its output.
            T[] padded = rng.Array<T>(s.XLength + 2 * 64), weight = rng.Array<T>(s.WeightLength), bias = rng.Array<T>(s.COut);
            padded.AsSpan(0, 64).Fill(T.NaN);
            padded.AsSpan(64 + s.XLength).Fill(T.NaN);
            ReadOnlySpan<T> x = padded.AsSpan(64, s.XLength);
            foreach (T[] b in new[] { bias, [] })
                for (int threads = 1; threads <= 2; threads++)
                {
                    using var count = Threading.Use(threads);
                    T[] byColumns = rng.Array<T>(s.YLength), direct = rng.Array<T>(s.YLength);
                    Conv2dKernels.ForwardByColumns<T>(x, s.N, s.C, s.H, s.W, weight, b, s.COut, s.Kh, s.Kw, s.Stride, s.Padding, byColumns);
                    Conv2dKernels.Forward<T>(x, s.N, s.C, s.H, s.W, weight, b, s.COut, s.Kh, s.Kw, s.Stride, s.Padding, direct);
                    Assert.True(MemoryMarshal.AsBytes(byColumns.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(direct.AsSpan())));
                }
        }
    }

    [Fact]
    public void DirectForwardOnlyWhereItIsTheGemmsSum()
    {
        Assert.False(Conv2dKernels.UsesDirectForward<float>(2, 32, 7, 7, 32, 3, 3, 1, 1));  // k = 288: two k blocks
        Assert.False(Conv2dKernels.UsesDirectForward<float>(2, 3, 15, 15, 4, 3, 3, 2, 1)); // stride 2
        Assert.False(Conv2dKernels.UsesDirectForward<float>(2, 3, 14, 14, 4, 3, 3, 1, 0)); // output narrower than the input
        Assert.False(Conv2dKernels.UsesDirectForward<float>(2, 64, 3, 3, 64, 3, 3, 1, 1)); // a 3×3 plane: under two vectors
    }

    [Fact]
    public void RepeatedRunsAreBitwiseEqual()
    {
        // Large enough that im2col, col2im, the bias gradient and the GEMMs all split across threads.
        var s = new Shape(5, 32, 16, 16, 48, 3, 3, 1, 1);
        var rng = new XorShift(3);
        float[] x = rng.Array<float>(s.XLength), weight = rng.Array<float>(s.WeightLength), bias = rng.Array<float>(s.COut), dy = rng.Array<float>(s.YLength);
        float[][] first = Run(), second = Run();
        for (int i = 0; i < first.Length; i++)
            Assert.True(MemoryMarshal.AsBytes(first[i].AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(second[i].AsSpan())));

        float[][] Run()
        {
            float[] y = new float[s.YLength], dx = new float[s.XLength], dw = new float[s.WeightLength], db = new float[s.COut];
            Conv2dKernels.Forward<float>(x, s.N, s.C, s.H, s.W, weight, bias, s.COut, s.Kh, s.Kw, s.Stride, s.Padding, y);
            Conv2dKernels.BackwardInput<float>(dy, weight, s.N, s.C, s.H, s.W, s.COut, s.Kh, s.Kw, s.Stride, s.Padding, dx);
            Conv2dKernels.BackwardWeight<float>(dy, x, s.N, s.C, s.H, s.W, s.COut, s.Kh, s.Kw, s.Stride, s.Padding, dw, db);
            return [y, dx, dw, db];
        }
    }

    [Fact]
    public void BitwiseEqualAcrossThreadCounts()
    {
        // Every way of splitting the work: groups over the threads (5 groups; dWᵀ by blocks of rows, or by 5 chunks of
        // images that 3 threads run one after another) and each step split (2 groups); every result must be the same
        // bits for 1, 2 and 3 threads.
        foreach (var s in new[] { new Shape(13, 40, 14, 14, 5, 3, 3, 1, 1), new Shape(13, 3, 14, 14, 5, 3, 3, 1, 1), new Shape(3, 17, 16, 16, 7, 3, 3, 1, 1), new Shape(32, 24, 8, 8, 12, 3, 3, 1, 1) })
        {
            var rng = new XorShift(5);
            float[] x = rng.Array<float>(s.XLength), weight = rng.Array<float>(s.WeightLength), bias = rng.Array<float>(s.COut), dy = rng.Array<float>(s.YLength);
            float[][] Run(int threads)
            {
                using var count = Threading.Use(threads);
                float[] y = new float[s.YLength], dx = new float[s.XLength], dw = new float[s.WeightLength], db = new float[s.COut];
                Conv2dKernels.Forward<float>(x, s.N, s.C, s.H, s.W, weight, bias, s.COut, s.Kh, s.Kw, s.Stride, s.Padding, y);
                Conv2dKernels.BackwardInput<float>(dy, weight, s.N, s.C, s.H, s.W, s.COut, s.Kh, s.Kw, s.Stride, s.Padding, dx);
                Conv2dKernels.BackwardWeight<float>(dy, x, s.N, s.C, s.H, s.W, s.COut, s.Kh, s.Kw, s.Stride, s.Padding, dw, db);
                return [y, dx, dw, db];
            }
            float[][] one = Run(1), two = Run(2), twoAgain = Run(2), three = Run(3);
            for (int i = 0; i < one.Length; i++)
            {
                Assert.Equal(one[i], two[i]);
                Assert.Equal(two[i], twoAgain[i]);
                Assert.Equal(one[i], three[i]);
            }
        }
    }

    public static TheoryData<int, int, int, int, int, int, int, int, int> GradientShapes => new()
    {
        { 2, 3, 9, 8, 4, 3, 3, 1, 1 },
        { 3, 2, 11, 7, 3, 5, 5, 2, 2 },
        { 2, 3, 7, 9, 2, 3, 2, 2, 1 },
        { 3, 5, 16, 16, 3, 3, 3, 1, 1 },
    };

    /// <summary>
    /// L(x, W, b) = ⟨dy, conv(x; W, b)⟩ is linear in each argument, so central differences are exact up to rounding:
    /// they must equal BackwardInput, BackwardWeight and the bias gradient entry by entry, and the whole-tensor
    /// adjoint identities ⟨dy, conv(x; W, 0)⟩ = ⟨BackwardInput(dy; W), x⟩ = ⟨BackwardWeight(dy; x), W⟩ must hold.
    /// </summary>
    [Theory, MemberData(nameof(GradientShapes))]
    public void GradientsMatchFiniteDifferences(int n, int c, int h, int w, int cOut, int kh, int kw, int stride, int padding)
    {
        var s = new Shape(n, c, h, w, cOut, kh, kw, stride, padding);
        var rng = new XorShift(99);
        double[] x = rng.Array<double>(s.XLength), weight = rng.Array<double>(s.WeightLength), bias = rng.Array<double>(s.COut), dy = rng.Array<double>(s.YLength);
        double[] dx = new double[s.XLength], dw = new double[s.WeightLength], db = new double[s.COut];
        Conv2dKernels.BackwardInput<double>(dy, weight, n, c, h, w, cOut, kh, kw, stride, padding, dx);
        Conv2dKernels.BackwardWeight<double>(dy, x, n, c, h, w, cOut, kh, kw, stride, padding, dw, db);

        double Loss(double[] xs, double[] ws, double[] bs)
        {
            var y = new double[s.YLength];
            Conv2dKernels.Forward<double>(xs, n, c, h, w, ws, bs, cOut, kh, kw, stride, padding, y);
            return Dot(dy, y);
        }

        const double step = 1e-3;
        foreach ((double[] p, double[] grad) in new[] { (x, dx), (weight, dw), (bias, db) })
            for (int t = 0; t < 12; t++)
            {
                int i = (int)(rng.Next() % (ulong)p.Length);
                double saved = p[i];
                p[i] = saved + step;
                double plus = Loss(x, weight, bias);
                p[i] = saved - step;
                double minus = Loss(x, weight, bias);
                p[i] = saved;
                Assert.Equal(grad[i], (plus - minus) / (2 * step), 1e-8);
            }

        double lossNoBias = Loss(x, weight, []);
        Assert.Equal(lossNoBias, Dot(dx, x), 1e-10);
        Assert.Equal(lossNoBias, Dot(dw, weight), 1e-10);
    }

    [Fact]
    public void OutputSizeFollowsPyTorch()
    {
        Assert.Equal(16, Conv2dKernels.OutputSize(16, 3, 1, 1));
        Assert.Equal(17, Conv2dKernels.OutputSize(33, 5, 2, 2));
        Assert.Equal(4, Conv2dKernels.OutputSize(7, 1, 2, 0));
        Assert.Equal(1, Conv2dKernels.OutputSize(1, 3, 1, 1));
    }

    [Fact]
    public void RejectsBadShapes()
    {
        var x = new float[1 * 1 * 4 * 4];
        Assert.Throws<ArgumentException>(() => Conv2dKernels.Forward<float>(x, 1, 1, 4, 4, new float[25], [], 1, 5, 5, 1, 0, new float[1]));
        Assert.Throws<ArgumentException>(() => Conv2dKernels.Forward<float>(x, 1, 1, 4, 4, new float[9], [], 1, 3, 3, 1, 1, new float[15]));
        Assert.Throws<ArgumentException>(() => Conv2dKernels.Forward<float>(x, 1, 1, 4, 4, new float[9], new float[2], 1, 3, 3, 1, 1, new float[16]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Conv2dKernels.Forward<float>(x, 1, 1, 4, 4, new float[9], [], 1, 3, 3, 0, 1, new float[16]));
    }

    internal readonly record struct Shape(int N, int C, int H, int W, int COut, int Kh, int Kw, int Stride, int Padding)
    {
        public int HOut => Conv2dKernels.OutputSize(H, Kh, Stride, Padding);
        public int WOut => Conv2dKernels.OutputSize(W, Kw, Stride, Padding);
        public int XLength => N * C * H * W;
        public int YLength => N * COut * HOut * WOut;
        public int WeightLength => COut * C * Kh * Kw;
    }

    static double Dot(double[] a, double[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>|actual − expected| ≤ tolerance·(1 + max|expected|) everywhere: summation orders differ.</summary>
    internal static void AssertClose<T>(T[] expected, T[] actual, double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = 1;
        foreach (T e in expected) scale = Math.Max(scale, Math.Abs(double.CreateTruncating(e)));
        for (int i = 0; i < expected.Length; i++)
        {
            double e = double.CreateTruncating(expected[i]), a = double.CreateTruncating(actual[i]);
            Assert.True(Math.Abs(a - e) <= tolerance * scale, $"element {i}: expected {e}, got {a}");
        }
    }

    /// <summary>Deterministic xorshift64* numbers, so the tests need no other library type.</summary>
    internal sealed class XorShift(ulong seed)
    {
        ulong state = seed * 0x9E3779B97F4A7C15UL | 1;

        public ulong Next()
        {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            return state * 0x2545F4914F6CDD1DUL;
        }

        /// <summary>Uniform in [−1, 1).</summary>
        public double NextDouble() => (Next() >> 11) * (2.0 / (1UL << 53)) - 1;

        public T[] Array<T>(int length) where T : IFloatingPointIeee754<T>
        {
            var a = new T[length];
            for (int i = 0; i < a.Length; i++) a[i] = T.CreateTruncating(NextDouble());
            return a;
        }
    }
}
