using BatchNormLab.Kernels;

namespace BatchNormLab.Tests;

/// <summary>The fused ℓp normalisation kernels against the plain reference, across thread counts, and the fused op against its composite.</summary>
public sealed class LpNormKernelTests
{
    const double Inf = double.PositiveInfinity;

    static double[] Random(Rng rng, int length, double mean = 0, double std = 1) =>
        Tensor.RandomNormal(rng, [length], mean, std, DType.Float64).ToDoubleArray();

    // (N, C, S): S = 1 (after a Linear layer), S below one vector (scalar tails), S with tails, a VGG plane.
    public static TheoryData<double, bool, int, int, int, bool> Cases()
    {
        var data = new TheoryData<double, bool, int, int, int, bool>();
        foreach (double p in new[] { 1, 2, Inf })
            foreach (bool centred in new[] { true, false })
            {
                data.Add(p, centred, 16, 3, 1, true);
                data.Add(p, centred, 3, 2, 5, false);
                data.Add(p, centred, 4, 3, 21, true);
                data.Add(p, centred, 2, 5, 196, true);
            }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesTheReferenceInDoubleAndFloatForAnyThreadCount(double p, bool centred, int n, int c, int s, bool affine)
    {
        var rng = new Rng((ulong)(n * 1000 + c * 100 + s) + (centred ? 7UL : 0));
        int length = n * c * s;
        double[] x = Random(rng, length, 0.5, 2), dy = Random(rng, length);
        double[]? gamma = affine ? Random(rng, c, 1, 0.5) : null, beta = affine ? Random(rng, c) : null;
        double eps = 1e-5;
        var (y, mean, moment, dx, dGamma, dBeta) = (new double[length], new double[c], new double[c], new double[length], new double[c], new double[c]);
        LpNormReference.ForwardTrain(x, n, c, s, p, centred, gamma, beta, eps, y, mean, moment);
        LpNormReference.BackwardTrain(dy, x, n, c, s, p, centred, gamma, mean, moment, eps, dx, dGamma, dBeta);

        var (y64, m64, mo64, dx64, dg64, db64) = (new double[length], new double[c], new double[c], new double[length], new double[c], new double[c]);
        LpNormKernels.ForwardTrain<double>(x, n, c, s, p, centred, gamma, beta, eps, y64, m64, mo64);
        LpNormKernels.BackwardTrain<double>(dy, x, n, c, s, p, centred, gamma, m64, mo64, eps, dx64, affine ? dg64 : default, affine ? db64 : default);
        AssertClose(y, y64, 1e-12, "float64 y");
        AssertClose(mean, m64, 1e-12, "float64 mean");
        AssertClose(moment, mo64, 1e-12, "float64 moment");
        AssertClose(dx, dx64, 1e-11, "float64 dx");
        if (affine)
        {
            AssertClose(dGamma, dg64, 1e-11, "float64 dγ");
            AssertClose(dBeta, db64, 1e-11, "float64 dβ");
        }

        float[] F(double[]? a) => a is null ? [] : Array.ConvertAll(a, v => (float)v);
        float[] Run32()
        {
            var (y32, m32, mo32, dx32, dg32, db32) = (new float[length], new double[c], new double[c], new float[length], new float[c], new float[c]);
            LpNormKernels.ForwardTrain<float>(F(x), n, c, s, p, centred, F(gamma), F(beta), eps, y32, m32, mo32);
            LpNormKernels.BackwardTrain<float>(F(dy), F(x), n, c, s, p, centred, F(gamma), m32, mo32, eps, dx32, affine ? dg32 : default, affine ? db32 : default);
            return [.. y32, .. dx32, .. dg32, .. db32, .. F(m32), .. F(mo32)];
        }
        float[] one;
        using (Threading.Use(1)) one = Run32();
        foreach (int threads in new[] { 2, 3 })
            using (Threading.Use(threads))
                Assert.Equal(one.Select(BitConverter.SingleToInt32Bits), Run32().Select(BitConverter.SingleToInt32Bits));
        AssertClose(y, [.. one.Take(length).Select(v => (double)v)], 1e-5, "float32 y");
        AssertClose(dx, [.. one.Skip(length).Take(length).Select(v => (double)v)], 2e-4, "float32 dx");
    }

    [Theory]
    [InlineData(1.0, true)]
    [InlineData(2.0, true)]
    [InlineData(Inf, true)]
    [InlineData(1.0, false)]
    [InlineData(2.0, false)]
    [InlineData(Inf, false)]
    public void FusedOpMatchesItsCompositeForwardAndBackward(double p, bool centred)
    {
        var rng = new Rng(11);
        var x = Tensor.RandomNormal(rng, [6, 4, 3, 5], 0.3, 1.5, DType.Float64);
        var gamma = Tensor.RandomNormal(rng, [4], 1, 0.5, DType.Float64);
        var beta = Tensor.RandomNormal(rng, [4], 0, 1, DType.Float64);
        foreach (var t in new[] { x, gamma, beta }) t.RequiresGrad = true;
        var weights = Tensor.RandomNormal(rng, [6, 4, 3, 5], 0, 1, DType.Float64);
        var fused = Tensor.LpNormTrain(x, p, centred, gamma, beta, 1e-5, out _, out _);
        var composite = Tensor.LpNormComposite(x, p, centred, gamma, beta, 1e-5);
        AssertClose(composite.ToDoubleArray(), fused.ToDoubleArray(), 1e-12, "y");
        var fusedGrads = Autograd.Grad((fused * weights).Sum(), [x, gamma, beta]);
        var compositeGrads = Autograd.Grad((composite * weights).Sum(), [x, gamma, beta]);
        for (int i = 0; i < 3; i++) AssertClose(compositeGrads[i].ToDoubleArray(), fusedGrads[i].ToDoubleArray(), 1e-11, $"gradient {i}");
    }

    static void AssertClose(double[] expected, double[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= tol * (1 + Math.Abs(expected[i])), $"{what}[{i}]: {actual[i]:R}, expected {expected[i]:R}");
    }
}
