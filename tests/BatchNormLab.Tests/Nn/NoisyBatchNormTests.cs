using BatchNormLab;
using BatchNormLab.Kernels;
using BatchNormLab.Nn;

namespace BatchNormLab.Tests;

/// <summary>
/// Noisy BN: the noise's distributions (tolerances of 4 standard errors from the sample sizes), what
/// forward and backward do with it, eval, and determinism.
/// </summary>
public class NoisyBatchNormTests
{
    const double Z = 4; // standard errors allowed: a false failure has probability ≈ 6e-5 per check

    static void AssertWithin(double value, double expected, double standardError, string what) =>
        Assert.True(Math.Abs(value - expected) <= Z * standardError,
            $"{what}: {value:R}, expected {expected:R} ± {Z * standardError:R} ({Z} standard errors)");

    /// <summary>
    /// U(a, b): every value in [a, b]; mean (a+b)/2 and variance w²/12 (w = b − a), whose sample
    /// estimates have standard errors √(w²/12/n) and √((μ₄ − σ⁴)/n) with μ₄ = w⁴/80; each of 10 equal
    /// bins holds a tenth, with binomial standard error √(0.1·0.9/n).
    /// </summary>
    static void AssertUniform(IReadOnlyList<double> v, double a, double b, string name)
    {
        int n = v.Count;
        double w = b - a, variance = w * w / 12;
        Assert.All(v, x => Assert.InRange(x, a, b));
        double mean = v.Average();
        AssertWithin(mean, (a + b) / 2, Math.Sqrt(variance / n), $"{name} mean");
        AssertWithin(v.Sum(x => (x - mean) * (x - mean)) / (n - 1), variance, Math.Sqrt((Math.Pow(w, 4) / 80 - variance * variance) / n), $"{name} variance");
        var bins = new int[10];
        foreach (double x in v) bins[Math.Min(9, (int)((x - a) / w * 10))]++;
        for (int k = 0; k < 10; k++) AssertWithin(bins[k] / (double)n, 0.1, Math.Sqrt(0.1 * 0.9 / n), $"{name} bin {k}");
    }

    /// <summary>
    /// N(0, σ²): sample mean (s.e. σ/√n), variance (s.e. σ²√(2/(n−1))), the share within one σ
    /// (0.682689, binomial s.e.) and the excess kurtosis (0, s.e. √(24/n)).
    /// </summary>
    static void AssertCentredNormal(IReadOnlyList<double> v, double sigma, string name)
    {
        int n = v.Count;
        double mean = v.Average();
        double variance = v.Sum(x => (x - mean) * (x - mean)) / (n - 1);
        AssertWithin(mean, 0, sigma / Math.Sqrt(n), $"{name} mean");
        AssertWithin(variance, sigma * sigma, sigma * sigma * Math.Sqrt(2.0 / (n - 1)), $"{name} variance");
        const double withinOne = 0.682689492137;
        AssertWithin(v.Count(x => Math.Abs(x) < sigma) / (double)n, withinOne, Math.Sqrt(withinOne * (1 - withinOne) / n), $"{name} share within 1σ");
        double kurtosis = v.Sum(x => Math.Pow(x - mean, 4)) / n / (variance * variance) - 3;
        AssertWithin(kurtosis, 0, Math.Sqrt(24.0 / n), $"{name} excess kurtosis");
    }

    [Fact]
    public void PerStepMeanAndScaleAreUniform()
    {
        const int steps = 2000;
        var layer = new NoisyBatchNorm(1);
        var mu = new double[steps];
        var sigma = new double[steps];
        for (int t = 0; t < steps; t++)
        {
            layer.SampleNoise([2, 3]);
            (mu[t], sigma[t]) = (layer.LastMean!.Value, layer.LastScale!.Value);
        }
        AssertUniform(mu, -0.5, 0.5, "μᵗ");
        AssertUniform(sigma, 1, 1.25, "σᵗ");
    }

    [Fact]
    public void PerElementNoiseIsUniformShiftAndNormalScale()
    {
        // 20 steps of 32·16·8·8 = 32768 elements (two noise streams each): n = 655,360.
        var layer = new NoisyBatchNorm(2);
        var shifts = new List<double>();
        var scales = new List<double>();
        for (int t = 0; t < 20; t++)
        {
            var (s, m) = layer.SampleNoise([32, 16, 8, 8], DType.Float64);
            shifts.AddRange(m.ToDoubleArray().Select(v => v - layer.LastMean!.Value));
            scales.AddRange(s.ToDoubleArray().Select(v => v - layer.LastScale!.Value));
        }
        AssertUniform(shifts, -0.1, 0.1, "m − μᵗ");
        AssertCentredNormal(scales, 0.1, "s − σᵗ");
        // s and m are independent: their correlation is 0 with standard error 1/√n.
        double ms = shifts.Average(), ss = scales.Average();
        double cov = shifts.Zip(scales, (a, b) => (a - ms) * (b - ss)).Sum();
        double correlation = cov / Math.Sqrt(shifts.Sum(a => (a - ms) * (a - ms)) * scales.Sum(b => (b - ss) * (b - ss)));
        AssertWithin(correlation, 0, 1 / Math.Sqrt(shifts.Count), "corr(m, s)");
    }

    [Fact]
    public void OptionsSetTheDistributions()
    {
        var options = new NoisyBatchNormOptions(MeanLow: 2, MeanHigh: 3, ScaleLow: 0.5, ScaleHigh: 0.5, ShiftHalfWidth: 0, ScaleStd: 0);
        var layer = new NoisyBatchNorm(3, options);
        var (s, m) = layer.SampleNoise([4, 5]);
        Assert.InRange(layer.LastMean!.Value, 2, 3);
        Assert.Equal(0.5, layer.LastScale!.Value);
        Assert.All(s.ToFloatArray(), v => Assert.Equal(0.5f, v));
        Assert.All(m.ToFloatArray(), v => Assert.Equal((float)layer.LastMean!.Value, v));
        Assert.Throws<ArgumentOutOfRangeException>(() => new NoisyBatchNorm(3, new NoisyBatchNormOptions(MeanLow: 1, MeanHigh: 0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new NoisyBatchNorm(3, new NoisyBatchNormOptions(ScaleStd: -0.1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new NoisyBatchNorm(3, new NoisyBatchNormOptions(ShiftHalfWidth: double.NaN)));
    }

    [Theory]
    [InlineData(new[] { 16, 5 })]
    [InlineData(new[] { 8, 5, 7 })]
    [InlineData(new[] { 4, 3, 40, 50 })] // 24,000 elements: two noise streams, the second partial
    public void TrainingForwardIsScaleTimesInputPlusShift(int[] shape)
    {
        var layer = new NoisyBatchNorm(4);
        var twin = new NoisyBatchNorm(4);
        var x = GradCheck.Random(5, shape);
        var y = layer.Forward(x);
        var (s, m) = twin.SampleNoise(shape, DType.Float64);
        Assert.Equal(shape, y.Shape);
        Assert.Equal(twin.LastMean, layer.LastMean);
        Assert.Equal(twin.LastScale, layer.LastScale);
        for (int i = 0; i < y.Length; i++) Assert.Equal(s.GetFlat(i) * x.GetFlat(i) + m.GetFlat(i), y.GetFlat(i), 1e-15);
    }

    [Fact]
    public void GradientIsTheDrawnScale()
    {
        int[] shape = [4, 3, 5, 5];
        var layer = new NoisyBatchNorm(6);
        var twin = new NoisyBatchNorm(6);
        var x = GradCheck.Random(7, shape);
        x.RequiresGrad = true;
        var weights = GradCheck.Random(8, shape);
        var grad = Autograd.Grad((layer.Forward(x) * weights).Sum(), [x])[0];
        var (s, _) = twin.SampleNoise(shape, DType.Float64);
        for (int i = 0; i < grad.Length; i++) Assert.Equal(weights.GetFlat(i) * s.GetFlat(i), grad.GetFlat(i), 1e-15);
    }

    [Fact]
    public void EvalAppliesTheExpectedNoiseAndDrawsNothing()
    {
        var layer = new NoisyBatchNorm(9);
        var x = GradCheck.Random(10, 6, 4, 3, 3);
        var state = layer.Generator.GetState();
        layer.Eval();
        Assert.Equal(x.ToDoubleArray().Select(v => v * 1.125), layer.Forward(x).ToDoubleArray()); // E[s] = (1 + 1.25)/2, E[m] = 0
        var shifted = new NoisyBatchNorm(9, new NoisyBatchNormOptions(MeanLow: 0, MeanHigh: 1, ScaleLow: 1, ScaleHigh: 1));
        shifted.Eval();
        Assert.Equal(x.ToDoubleArray().Select(v => v + 0.5), shifted.Forward(x).ToDoubleArray());
        Assert.Equal(state, layer.Generator.GetState());
        Assert.Null(layer.LastMean);
        // Back in training, the noise is what a fresh layer with the same seed draws first.
        layer.Train();
        Assert.Equal(new NoisyBatchNorm(9).Forward(x).ToDoubleArray(), layer.Forward(x).ToDoubleArray());
    }

    [Fact]
    public void SameSeedSameNoiseOnAnyThreadCount()
    {
        int[] shape = [3, 7, 1000]; // 21,000 elements: more than one noise stream
        var x = Tensor.RandomNormal(new Rng(11), shape);
        float[][] Run(Module layer) => [.. Enumerable.Range(0, 3).Select(_ => layer.Forward(x).ToFloatArray())];
        var reference = Run(new NoisyBatchNorm(12));
        foreach (int threads in new[] { 1, 3 })
            using (Threading.Use(threads))
                Assert.Equal(reference, Run(new NoisyBatchNorm(new Rng(12))));
        // Different steps, and a different seed, give different noise.
        Assert.NotEqual(reference[0], reference[1]);
        Assert.NotEqual(reference[0], Run(new NoisyBatchNorm(13))[0]);
    }
}
