using BatchNormLab.Kernels;

namespace BatchNormLab.Tests;

/// <summary>The fast per-sample normalisation kernels against the plain reference, and BatchNorm's split passes against its fused forward.</summary>
public sealed class GroupNormKernelTests
{
    static double[] Random(Rng rng, int length, double mean = 0, double std = 1) =>
        Tensor.RandomNormal(rng, [length], mean, std, DType.Float64).ToDoubleArray();

    // (N, G, K, S): S = 1 (LayerNorm, 1×1 planes), S < one vector (scalar tails), S with tails, large S; K = 1 (InstanceNorm).
    [Theory]
    [InlineData(3, 2, 5, 1)]
    [InlineData(4, 1, 37, 1)]
    [InlineData(2, 3, 2, 3)]
    [InlineData(3, 2, 3, 49)]
    [InlineData(5, 4, 1, 21)]
    [InlineData(2, 8, 4, 196)]
    public void MatchesTheReferenceInDoubleAndFloat(int n, int groups, int k, int s)
    {
        var rng = new Rng((ulong)(n * 1000 + groups * 100 + k * 10 + s));
        int length = n * groups * k * s, c = groups * k;
        double[] x = Random(rng, length, 0.5, 2), dy = Random(rng, length), gamma = Random(rng, c, 1, 0.5), beta = Random(rng, c);
        double eps = 1e-5;
        var (y, mean, variance, dx, dGamma, dBeta) = (new double[length], new double[n * groups], new double[n * groups], new double[length], new double[c], new double[c]);
        GroupNormReference.Forward(x, n, groups, k, s, gamma, beta, eps, y, mean, variance);
        GroupNormReference.Backward(dy, x, n, groups, k, s, gamma, mean, variance, eps, dx, dGamma, dBeta);

        var (y64, m64, v64, dx64, dg64, db64) = (new double[length], new double[n * groups], new double[n * groups], new double[length], new double[c], new double[c]);
        GroupNormKernels.Forward<double>(x, n, groups, k, s, gamma, beta, eps, y64, m64, v64);
        GroupNormKernels.Backward<double>(dy, x, n, groups, k, s, gamma, m64, v64, eps, dx64, dg64, db64);
        foreach (var (expected, actual, what) in new[] { (y, y64, "y"), (mean, m64, "mean"), (variance, v64, "variance"), (dx, dx64, "dx"), (dGamma, dg64, "dγ"), (dBeta, db64, "dβ") })
            AssertClose(expected, actual, 1e-12, $"float64 {what}");

        float[] F(double[] a) => Array.ConvertAll(a, v => (float)v);
        var (y32, m32, v32, dx32, dg32, db32) = (new float[length], new double[n * groups], new double[n * groups], new float[length], new float[c], new float[c]);
        GroupNormKernels.Forward<float>(F(x), n, groups, k, s, F(gamma), F(beta), eps, y32, m32, v32);
        GroupNormKernels.Backward<float>(F(dy), F(x), n, groups, k, s, F(gamma), m32, v32, eps, dx32, dg32, db32);
        AssertClose(y, Array.ConvertAll(y32, v => (double)v), 1e-5, "float32 y");
        AssertClose(dx, Array.ConvertAll(dx32, v => (double)v), 1e-4, "float32 dx");
        AssertClose(dGamma, Array.ConvertAll(dg32, v => (double)v), 1e-4, "float32 dγ");
        AssertClose(dBeta, Array.ConvertAll(db32, v => (double)v), 1e-4, "float32 dβ");
    }

    [Fact]
    public void WithoutAffineMatchesTheReference()
    {
        var rng = new Rng(5);
        int n = 3, groups = 2, k = 4, s = 9, length = n * groups * k * s;
        double[] x = Random(rng, length), dy = Random(rng, length);
        var (y, mean, variance, dx, dg, db) = (new double[length], new double[n * groups], new double[n * groups], new double[length], new double[8], new double[8]);
        GroupNormReference.Forward(x, n, groups, k, s, null, null, 1e-3, y, mean, variance);
        GroupNormReference.Backward(dy, x, n, groups, k, s, null, mean, variance, 1e-3, dx, dg, db);
        var (y2, m2, v2, dx2) = (new double[length], new double[n * groups], new double[n * groups], new double[length]);
        GroupNormKernels.Forward<double>(x, n, groups, k, s, default, default, 1e-3, y2, m2, v2);
        GroupNormKernels.Backward<double>(dy, x, n, groups, k, s, default, m2, v2, 1e-3, dx2, default, default);
        AssertClose(y, y2, 1e-12, "y");
        AssertClose(dx, dx2, 1e-12, "dx");
    }

    [Fact]
    public void LargeMeanLosesNothingInFloat32()
    {
        // |μ|/σ = 1e4: a one-pass E[x²] − E[x]² in float would lose every digit of the variance.
        var rng = new Rng(11);
        int n = 2, groups = 2, k = 3, s = 64, length = n * groups * k * s;
        var x = Array.ConvertAll(Random(rng, length, 1e4, 1), v => (double)(float)v);
        var (y, mean, variance) = (new double[length], new double[n * groups], new double[n * groups]);
        GroupNormReference.Forward(x, n, groups, k, s, null, null, 1e-5, y, mean, variance);
        var (y32, m32, v32) = (new float[length], new double[n * groups], new double[n * groups]);
        GroupNormKernels.Forward<float>(Array.ConvertAll(x, v => (float)v), n, groups, k, s, default, default, 1e-5, y32, m32, v32);
        AssertClose(variance, v32, 1e-6, "variance");
        AssertClose(y, Array.ConvertAll(y32, v => (double)v), 2e-3, "y"); // x − μ is exact; x itself carries float32 rounding of 1e4
    }

    [Fact]
    public void ResultsDoNotDependOnTheThreadCount()
    {
        var rng = new Rng(3);
        int n = 37, groups = 4, k = 8, s = 49, length = n * groups * k * s;
        var x = Array.ConvertAll(Random(rng, length), v => (float)v);
        var dy = Array.ConvertAll(Random(rng, length), v => (float)v);
        var gamma = Array.ConvertAll(Random(rng, groups * k, 1), v => (float)v);
        (float[] Y, float[] Dx, float[] Dg) Run(int threads)
        {
            using var count = Threading.Use(threads);
            var (y, m, v, dx, dg, db) = (new float[length], new double[n * groups], new double[n * groups], new float[length], new float[groups * k], new float[groups * k]);
            GroupNormKernels.Forward<float>(x, n, groups, k, s, gamma, default, 1e-5, y, m, v);
            GroupNormKernels.Backward<float>(dy, x, n, groups, k, s, gamma, m, v, 1e-5, dx, dg, db);
            return (y, dx, dg);
        }
        var one = Run(1);
        var three = Run(3);
        Assert.Equal(one.Y, three.Y);
        Assert.Equal(one.Dx, three.Dx);
        Assert.Equal(one.Dg, three.Dg);
    }

    [Theory]
    [InlineData(16, 3, 1)]
    [InlineData(4, 5, 64)]
    public void BatchNormStatisticsThenNormalizeIsTheFusedForward(int n, int c, int s)
    {
        var rng = new Rng(8);
        var x = Array.ConvertAll(Random(rng, n * c * s, 3, 2), v => (float)v);
        var (y, mean, variance) = (new float[x.Length], new double[c], new double[c]);
        BatchNormKernels.ForwardTrain<float>(x, n, c, s, default, default, 1e-5, y, mean, variance);
        var (m2, v2, y2) = (new double[c], new double[c], new float[x.Length]);
        BatchNormKernels.Statistics<float>(x, n, c, s, m2, v2);
        BatchNormKernels.ForwardNormalize<float>(x, n, c, s, m2, v2.Select(v => 1 / Math.Sqrt(v + 1e-5)).ToArray(), new double[c], y2);
        Assert.Equal(mean, m2);
        Assert.Equal(variance, v2);
        Assert.Equal(y, y2);
    }

    static void AssertClose(double[] expected, double[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= tol * (1 + Math.Abs(expected[i])), $"{what}[{i}]: {actual[i]:R}, expected {expected[i]:R}");
    }
}
