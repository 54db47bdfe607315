using BatchNormLab;
using BatchNormLab.Nn;

namespace BatchNormLab.Tests;

/// <summary>ℓp normalisation: gradients, p = 2 against BatchNorm, running statistics and eval by hand.</summary>
public class LpNormTests
{
    const double Inf = double.PositiveInfinity;

    static Tensor R(ulong seed, params int[] shape) => GradCheck.Random(seed, shape);

    /// <summary>A float64 layer with random γ, β (so the affine gradients are not trivially 1 and 0).</summary>
    static LpNorm Layer(int channels, double p, ulong seed, double? momentum = 0.1, bool centred = true)
    {
        var layer = (LpNorm)new LpNorm(channels, p, momentum: momentum, centred: centred).To(DType.Float64);
        layer.Weight!.CopyFrom(R(seed, channels));
        layer.Bias!.CopyFrom(R(seed + 1, channels));
        return layer;
    }

    [Theory]
    [InlineData(1.0, new[] { 6, 3 })]
    [InlineData(1.0, new[] { 4, 3, 5 })]
    [InlineData(1.0, new[] { 3, 2, 3, 3 })]
    [InlineData(2.0, new[] { 6, 3 })]
    [InlineData(2.0, new[] { 4, 3, 5 })]
    [InlineData(2.0, new[] { 3, 2, 3, 3 })]
    [InlineData(Inf, new[] { 6, 3 })]
    [InlineData(Inf, new[] { 4, 3, 5 })]
    [InlineData(Inf, new[] { 3, 2, 3, 3 })]
    [InlineData(1.0, new[] { 4, 3, 5 }, false)]
    [InlineData(2.0, new[] { 6, 3 }, false)]
    [InlineData(2.0, new[] { 3, 2, 3, 3 }, false)]
    [InlineData(Inf, new[] { 4, 3, 5 }, false)]
    public void GradientsMatchFiniteDifferences(double p, int[] shape, bool centred = true)
    {
        var layer = Layer(shape[1], p, 60, centred: centred);
        GradCheck.Check(x => layer.Forward(x[0]), [R(62, shape), layer.Weight!, layer.Bias!], name: $"p={p} centred={centred} train");
        layer.Eval();
        GradCheck.Check(x => layer.Forward(x[0]), [R(63, shape), layer.Weight!, layer.Bias!], name: $"p={p} centred={centred} eval");
    }

    // The gradient w.r.t. the input, itself differentiated (what Hessian-vector products need).
    [Theory]
    [InlineData(1.0)]
    [InlineData(2.0)]
    [InlineData(Inf)]
    [InlineData(1.0, false)]
    [InlineData(2.0, false)]
    public void DoubleBackwardMatchesFiniteDifferences(double p, bool centred = true)
    {
        var layer = Layer(3, p, 70, centred: centred);
        var weights = R(72, 4, 3, 5);
        GradCheck.Check(x =>
        {
            using var _ = Autograd.EnableGrad();
            return Autograd.Grad((layer.Forward(x[0]) * weights).Sum(), [x[0]], createGraph: true)[0];
        }, [R(73, 4, 3, 5), layer.Weight!], name: $"p={p} second order");
    }

    [Theory]
    [InlineData(new[] { 8, 3 })]
    [InlineData(new[] { 4, 3, 5 })]
    [InlineData(new[] { 4, 3, 5, 6 })]
    public void P2IsBatchNormInTraining(int[] shape)
    {
        int c = shape[1];
        var lp = Layer(c, 2, 80, momentum: 1);
        BatchNorm bn = shape.Length == 4 ? new BatchNorm2d(c, momentum: 1) : new BatchNorm1d(c, momentum: 1);
        bn.To(DType.Float64);
        bn.Weight!.CopyFrom(lp.Weight!);
        bn.Bias!.CopyFrom(lp.Bias!);
        var x = (R(81, shape) * 3.0 + 1.5).Detach();
        x.RequiresGrad = true;
        var dy = R(82, shape);

        var yLp = lp.Forward(x);
        var yBn = bn.Forward(x);
        for (int i = 0; i < yLp.Length; i++) Assert.Equal(yBn.GetFlat(i), yLp.GetFlat(i), 1e-6);
        var gLp = Autograd.Grad((yLp * dy).Sum(), [x, lp.Weight!, lp.Bias!]);
        var gBn = Autograd.Grad((yBn * dy).Sum(), [x, bn.Weight!, bn.Bias!]);
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < gLp[k].Length; i++) Assert.Equal(gBn[k].GetFlat(i), gLp[k].GetFlat(i), 1e-6);

        // With momentum 1 the running values are this batch's: the same mean; BN keeps the unbiased
        // variance σ²·m/(m−1), LpNorm the biased std σ.
        double m = x.Length / c;
        for (int i = 0; i < c; i++)
        {
            Assert.Equal(bn.RunningMean!.GetFlat(i), lp.RunningMean!.GetFlat(i), 1e-12);
            Assert.Equal(bn.RunningVar!.GetFlat(i), Math.Pow(lp.RunningScale!.GetFlat(i), 2) * m / (m - 1), 1e-12);
        }
    }

    // Per channel of (N, C, S) values: the mean (0 when uncentred) and the ℓp average M^(1/q) of the values less it.
    static (double Mean, double Scale) Statistics(double[] x, int n, int c, int s, int channel, double p, bool centred = true)
    {
        var values = new List<double>();
        for (int i = 0; i < n; i++)
            for (int j = 0; j < s; j++) values.Add(x[(i * c + channel) * s + j]);
        double mean = centred ? values.Average() : 0;
        var deviation = values.Select(v => Math.Abs(v - mean)).ToList();
        double scale = p switch
        {
            1 => deviation.Average(),
            2 => Math.Sqrt(deviation.Average(d => d * d)),
            _ => deviation.Max(),
        };
        return (mean, scale);
    }

    // D from an ℓp average: ε under the square root for p = 2, added to the average for p = 1, ∞.
    static double Divisor(double scale, double p, double eps) => p == 2 ? Math.Sqrt(scale * scale + eps) : scale + eps;

    static void AssertNormalised(Tensor y, double[] x, int n, int c, int s, double[] gamma, double[] beta, double[] mean, double[] divisor)
    {
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (int j = 0; j < s; j++)
                {
                    int k = (i * c + ch) * s + j;
                    Assert.Equal(gamma[ch] * (x[k] - mean[ch]) / divisor[ch] + beta[ch], y.GetFlat(k), 1e-12);
                }
    }

    [Theory]
    [InlineData(1.0, 0.1)]
    [InlineData(2.0, 0.1)]
    [InlineData(Inf, 0.1)]
    [InlineData(1.0, null)]
    [InlineData(Inf, null)]
    [InlineData(1.0, 0.1, false)]
    [InlineData(2.0, null, false)]
    [InlineData(Inf, 0.1, false)]
    public void TrainingRunningStatisticsAndEvalFollowTheFormulas(double p, double? momentum, bool centred = true)
    {
        const int n = 5, c = 2, h = 3, w = 2, s = h * w;
        const double eps = 1e-5;
        var layer = Layer(c, p, 90, momentum, centred);
        var gamma = layer.Weight!.ToDoubleArray();
        var beta = layer.Bias!.ToDoubleArray();
        double[] runningMean = [0, 0], runningScale = [1, 1];
        Tensor[] batches = [R(91, n, c, h, w), R(92, n, c, h, w) * 2.0 + 1.0];
        for (int t = 0; t < batches.Length; t++)
        {
            var x = batches[t].ToDoubleArray();
            var y = layer.Forward(batches[t]);
            double f = momentum ?? 1.0 / (t + 1);
            var mean = new double[c];
            var divisor = new double[c];
            for (int ch = 0; ch < c; ch++)
            {
                var (mu, scale) = Statistics(x, n, c, s, ch, p, centred);
                (mean[ch], divisor[ch]) = (mu, Divisor(scale, p, eps));
                runningMean[ch] = (1 - f) * runningMean[ch] + f * mu;
                runningScale[ch] = (1 - f) * runningScale[ch] + f * scale;
            }
            AssertNormalised(y, x, n, c, s, gamma, beta, mean, divisor);
        }
        Assert.Equal(2, layer.NumBatchesTracked);
        for (int ch = 0; ch < c; ch++)
        {
            Assert.Equal(runningMean[ch], layer.RunningMean!.GetFlat(ch), 1e-12);
            Assert.Equal(runningScale[ch], layer.RunningScale!.GetFlat(ch), 1e-12);
        }

        // Eval: the running statistics, not the batch's, and the buffers stay put.
        layer.Eval();
        var xe = R(93, 3, c, h, w);
        var ye = layer.Forward(xe);
        AssertNormalised(ye, xe.ToDoubleArray(), 3, c, s, gamma, beta, runningMean, runningScale.Select(r => Divisor(r, p, eps)).ToArray());
        Assert.Equal(2, layer.NumBatchesTracked);
        Assert.Equal(runningMean[0], layer.RunningMean!.GetFlat(0), 1e-12);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(2.0)]
    [InlineData(Inf)]
    public void Float32AgreesWithFloat64(double p)
    {
        var x = R(100, 6, 4, 3, 3) * 2.0 - 0.5;
        var y32 = new LpNorm(4, p).Forward(x.To(DType.Float32));
        var y64 = new LpNorm(4, p).To(DType.Float64).Forward(x);
        for (int i = 0; i < y64.Length; i++) Assert.Equal(y64.GetFlat(i), y32.GetFlat(i), 1e-5);
    }

    [Fact]
    public void WithoutRunningStatisticsEvalUsesTheBatch()
    {
        var layer = new LpNorm(3, Inf, affine: false, trackRunningStats: false);
        Assert.Empty(layer.StateDict());
        var x = R(101, 7, 3).To(DType.Float32);
        var train = layer.Forward(x).ToFloatArray();
        layer.Eval();
        Assert.Equal(train, layer.Forward(x).ToFloatArray());
    }

    [Fact]
    public void StateDictHasBatchNormStyleKeysAndRoundTrips()
    {
        var layer = new LpNorm(3, 1);
        layer.Forward(R(102, 4, 3).To(DType.Float32));
        Assert.Equal(["weight", "bias", "running_mean", "running_scale", "num_batches_tracked"], layer.StateDict().Select(e => e.Name));
        var copy = new LpNorm(3, 1);
        copy.LoadStateDict(layer.StateDict());
        Assert.Equal(1, copy.NumBatchesTracked);
        Assert.Equal(layer.RunningScale!.ToFloatArray(), copy.RunningScale!.ToFloatArray());
    }

    [Fact]
    public void RejectsUnsupportedSettingsAndInputs()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LpNorm(3, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LpNorm(3, 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LpNorm(3, double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LpNorm(3, 2, eps: 0));
        var layer = new LpNorm(3, 1);
        var single = Tensor.Zeros(1, 3);
        Assert.Throws<ArgumentException>(() => layer.Forward(single));
        Assert.Throws<ArgumentException>(() => layer.Forward(Tensor.Zeros(4, 2)));
        Assert.Throws<ArgumentException>(() => layer.Forward(Tensor.Zeros(4)));
        layer.Eval();
        Assert.Equal([0f, 0f, 0f], layer.Forward(single).ToFloatArray());
    }
}
