using BatchNormLab.Nn;

namespace BatchNormLab.Tests;

/// <summary>
/// Eval-mode BatchNorm in float32 where the mean dwarfs the spread: the output must match the float64 evaluation of
/// γ·(x − μ)/√(σ² + ε) + β on the module's own float32 buffers to 1e-5 of max |y|. Folding it into x·α + (β − μ·α)
/// cancels catastrophically (about 1% off at |μ|/σ = 1e5), in both kernel layouts.
/// </summary>
public class BatchNormEvalOffsetTests
{
    // (N, C) runs the row path; (N, C, 2, 2) the row path with spatial columns; (N, C, 8, 8) the plane path.
    [Theory]
    [InlineData(new[] { 64, 16 }, 1e5)]
    [InlineData(new[] { 64, 16 }, 1e3)]
    [InlineData(new[] { 16, 6, 2, 2 }, 1e5)]
    [InlineData(new[] { 8, 4, 8, 8 }, 1e5)]
    [InlineData(new[] { 8, 4, 8, 8 }, 1e4)]
    [InlineData(new[] { 8, 4, 8, 8 }, 1)]
    public void EvalMatchesFloat64AtLargeOffsets(int[] shape, double offset)
    {
        int c = shape[1];
        var rng = new Rng((ulong)(offset + shape.Length));
        NormLayer layer = shape.Length == 2 ? new BatchNorm1d(c) : new BatchNorm2d(c);
        var bn = (BatchNorm)layer;
        var std = Enumerable.Range(0, c).Select(_ => 0.5 + rng.NextDouble()).ToArray();
        var mean = Enumerable.Range(0, c).Select(ch => offset * (1 + 0.1 * ch) * std[ch]).ToArray();
        bn.RunningMean!.CopyFrom(Tensor.FromArray(mean.Select(v => (float)v).ToArray(), c));
        bn.RunningVar!.CopyFrom(Tensor.FromArray(std.Select(s => (float)(s * s)).ToArray(), c));
        bn.Weight!.CopyFrom(Tensor.FromArray(Enumerable.Range(0, c).Select(_ => (float)(1 + rng.Normal(0, 0.3))).ToArray(), c));
        bn.Bias!.CopyFrom(Tensor.FromArray(Enumerable.Range(0, c).Select(_ => (float)rng.Normal(0, 1)).ToArray(), c));
        int s = shape.Skip(2).Aggregate(1, (a, b) => a * b);
        var x = new float[shape.Aggregate(1, (a, b) => a * b)];
        for (int i = 0; i < x.Length; i++)
        {
            int ch = i / s % c;
            x[i] = (float)(mean[ch] + std[ch] * rng.Normal(0, 1));
        }
        bn.Eval();
        float[] y;
        using (Autograd.NoGrad()) y = bn.Forward(Tensor.FromArray(x, shape)).ToFloatArray();
        AssertMatchesFloat64(bn, x, s, c, y);
    }

    [Fact]
    public void EvalAfterTrainingOnOffsetDataMatchesFloat64()
    {
        const int n = 32, c = 3, h = 6, w = 6, s = h * w;
        var rng = new Rng(21);
        var bn = new BatchNorm2d(c, momentum: null); // a cumulative average: the buffers end near the data's own mean
        float[] Batch() => Enumerable.Range(0, n * c * s).Select(i => (float)(1e5 * (1 + i / s % c) + rng.Normal(0, 1))).ToArray();
        for (int step = 0; step < 5; step++)
            using (Autograd.NoGrad()) bn.Forward(Tensor.FromArray(Batch(), n, c, h, w));
        bn.Eval();
        var x = Batch();
        float[] y;
        using (Autograd.NoGrad()) y = bn.Forward(Tensor.FromArray(x, n, c, h, w)).ToFloatArray();
        AssertMatchesFloat64(bn, x, s, c, y);
    }

    static void AssertMatchesFloat64(BatchNorm bn, float[] x, int s, int c, float[] y)
    {
        double[] mu = bn.RunningMean!.ToDoubleArray(), variance = bn.RunningVar!.ToDoubleArray(), gamma = bn.Weight!.ToDoubleArray(), beta = bn.Bias!.ToDoubleArray();
        var expected = x.Select((v, i) => { int ch = i / s % c; return gamma[ch] * ((double)v - mu[ch]) / Math.Sqrt(variance[ch] + bn.Eps) + beta[ch]; }).ToArray();
        double scale = expected.Max(Math.Abs), worst = expected.Zip(y, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst <= 1e-5 * scale, $"largest error {worst:G3} against max |y| {scale:G3} (relative {worst / scale:G3})");
    }
}
