using BatchNormLab;

namespace BatchNormLab.Tests;

public class TensorTests
{
    [Fact]
    public void BroadcastingComputesValues()
    {
        var a = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        var b = Tensor.FromArray(new float[] { 10, 20, 30 }, 3);
        var col = Tensor.FromArray(new float[] { 100, 200 }, 2, 1);
        Assert.Equal(new float[] { 11, 22, 33, 14, 25, 36 }, (a + b).ToFloatArray());
        Assert.Equal(new float[] { 99, 98, 97, 196, 195, 194 }, (col - a).ToFloatArray());
        Assert.Equal(new float[] { 110, 120, 130, 210, 220, 230 }, (col + b).ToFloatArray());
        Assert.Equal(new[] { 2, 3 }, (col + b).Shape);
        Assert.Equal(new float[] { 2, 4, 6, 8, 10, 12 }, (a * 2).ToFloatArray());
        Assert.Equal(new float[] { 0.5f, 1, 1.5f, 2, 2.5f, 3 }, (a / 2).ToFloatArray());
        Assert.Throws<ArgumentException>(() => a + Tensor.Zeros(2));
        Assert.Throws<ArgumentException>(() => a + Tensor.Zeros(DType.Float64, 2, 3));
    }

    [Fact]
    public void LargeElementwiseOpsSplitOverThreadsGiveTheSameValues()
    {
        var rng = new Rng(3);
        var a = Tensor.RandomNormal(rng, [300_001]);
        var b = Tensor.RandomNormal(rng, [300_001]);
        var sum = (a + b).ToFloatArray();
        var af = a.ToFloatArray(); var bf = b.ToFloatArray();
        for (int i = 0; i < sum.Length; i += 997) Assert.Equal(af[i] + bf[i], sum[i]);
        Assert.Equal(af[^1] + bf[^1], sum[^1]);
    }

    [Fact]
    public void ReductionsOverAxes()
    {
        var x = Tensor.FromArray(Enumerable.Range(0, 24).Select(i => (double)i).ToArray(), 2, 3, 4);
        Assert.Equal(276, x.Sum().Item());
        Assert.Equal(11.5, x.Mean().Item());
        Assert.Equal(new double[] { 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34 }, x.Sum([0]).ToDoubleArray());
        Assert.Equal(new double[] { 60, 66, 72, 78 }, x.Sum([0, 1]).ToDoubleArray());
        Assert.Equal(new[] { 1, 3, 1 }, x.Sum([0, 2], keepDim: true).Shape);
        Assert.Equal(new double[] { 60, 92, 124 }, x.Sum([0, 2]).ToDoubleArray());
        Assert.Equal(new double[] { 3, 7, 11, 15, 19, 23 }, x.Max(2).ToDoubleArray());
        Assert.Equal(new double[] { 1.5, 5.5, 9.5, 13.5, 17.5, 21.5 }, x.Mean([-1]).ToDoubleArray());
    }

    [Fact]
    public void Float32SumsAccumulateInDouble()
    {
        // 2²⁴ + 2 ones (a float32 result that exists): a float accumulator stops at 2²⁴.
        var ones = Tensor.Ones((1 << 24) + 2);
        Assert.Equal((1 << 24) + 2, ones.Sum().Item());
        // Many small values added to one large one.
        var values = new float[1_000_001];
        values[0] = 1e8f;
        for (int i = 1; i < values.Length; i++) values[i] = 1;
        Assert.Equal(1e8 + 1e6, Tensor.FromArray(values, values.Length).Sum().Item());
    }

    [Fact]
    public void ReshapeAndSliceAreViews()
    {
        var x = Tensor.FromArray(new float[] { 0, 1, 2, 3, 4, 5, 6, 7 }, 4, 2);
        var r = x.Reshape(2, -1);
        Assert.Equal(new[] { 2, 4 }, r.Shape);
        var s = x.Slice(1, 2);
        Assert.Equal(new float[] { 2, 3, 4, 5 }, s.ToFloatArray());
        s.Fill(9);
        Assert.Equal(new float[] { 0, 1, 9, 9, 9, 9, 6, 7 }, x.ToFloatArray());
        Assert.Equal(new float[] { 0, 1, 9, 9, 9, 9, 6, 7 }, r.ToFloatArray());
        Assert.Throws<ArgumentException>(() => x.Reshape(3, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Slice(3, 2));
        Assert.Equal(new float[] { 0, 9, 9, 6, 1, 9, 9, 7 }, x.Transpose().ToFloatArray());
    }

    [Fact]
    public void CreationAndConversion()
    {
        Assert.Throws<ArgumentException>(() => Tensor.FromArray(new float[5], 2, 3));
        var d = Tensor.FromArray(new double[] { 1.5, -2.25 }, 2);
        Assert.Equal(DType.Float64, d.DType);
        Assert.Equal(new float[] { 1.5f, -2.25f }, d.To(DType.Float32).ToFloatArray());
        Assert.Equal(new double[] { 1, 1, 1 }, Tensor.Ones(DType.Float64, 3).ToDoubleArray());
        var copy = Tensor.Zeros(2);
        copy.CopyFrom(d);
        Assert.Equal(new float[] { 1.5f, -2.25f }, copy.ToFloatArray());
    }

    [Fact]
    public void RandomTensorsAreReproducibleAndHaveTheirDistribution()
    {
        var a = Tensor.RandomNormal(new Rng(42), [100_000], 2, 3, DType.Float64).ToDoubleArray();
        var b = Tensor.RandomNormal(new Rng(42), [100_000], 2, 3, DType.Float64).ToDoubleArray();
        Assert.Equal(a, b);
        double mean = a.Average(), std = Math.Sqrt(a.Select(v => (v - mean) * (v - mean)).Average());
        Assert.Equal(2, mean, 0.05);
        Assert.Equal(3, std, 0.05);
        var u = Tensor.RandomUniform(new Rng(1), [10_000], -1, 1).ToFloatArray();
        Assert.True(u.All(v => v >= -1 && v < 1));
        Assert.Equal(0, u.Average(), 0.05);
        // Fixed values: a seed means the same numbers everywhere.
        Assert.Equal(new Rng(7).NextUInt64(), new Rng(7).NextUInt64());
        var rng = new Rng(9);
        var state = rng.GetState();
        var next = rng.NextDouble();
        rng.SetState(state);
        Assert.Equal(next, rng.NextDouble());
        var permutation = new Rng(3).Permutation(1000);
        Assert.Equal(Enumerable.Range(0, 1000), permutation.Order());
        Assert.Equal(permutation, new Rng(3).Permutation(1000));
        Assert.NotEqual(Enumerable.Range(0, 1000), permutation);
    }

    [Fact]
    public void AutogradBasics()
    {
        var x = Tensor.FromArray(new double[] { 1, 2, 3 }, 3);
        x.RequiresGrad = true;
        var y = (x * x).Sum();
        y.Backward();
        Assert.Equal(new double[] { 2, 4, 6 }, x.Grad!.ToDoubleArray());
        // Gradients accumulate.
        (x * 3).Sum().Backward();
        Assert.Equal(new double[] { 5, 7, 9 }, x.Grad!.ToDoubleArray());
        // No graph under NoGrad.
        using (Autograd.NoGrad())
        {
            var z = x * 2;
            Assert.False(z.RequiresGrad);
            Assert.Throws<InvalidOperationException>(() => z.Sum().Backward());
        }
        // A non-scalar output needs a gradient.
        Assert.Throws<InvalidOperationException>(() => (x * 2).Backward());
        var w = x * 2;
        w.Backward(Tensor.FromArray(new double[] { 1, 0, -1 }, 3));
        Assert.Equal(new double[] { 7, 7, 7 }, x.Grad!.ToDoubleArray());
        // A tensor used twice gets both contributions.
        var p = Tensor.FromArray(new double[] { 3 }, 1);
        p.RequiresGrad = true;
        (p * p * p).Sum().Backward();
        Assert.Equal(27, p.Grad!.Item());
    }

    [Fact]
    public void AccumulatedGradientsNeverAliasTheSeedOrEachOther()
    {
        var a = Tensor.FromArray(new double[] { 1, 2 }, 2);
        var b = Tensor.FromArray(new double[] { 3, 4 }, 2);
        a.RequiresGrad = b.RequiresGrad = true;
        var seed = Tensor.FromArray(new double[] { 1, 1 }, 2);
        (a + b).Backward(seed);      // Add hands the same gradient object to both sides
        (a * 2).Sum().Backward();    // accumulates into a.Grad in place
        Assert.Equal(new double[] { 3, 3 }, a.Grad!.ToDoubleArray());
        Assert.Equal(new double[] { 1, 1 }, b.Grad!.ToDoubleArray());
        Assert.Equal(new double[] { 1, 1 }, seed.ToDoubleArray());
        var c = Tensor.FromArray(new double[] { 5 }, 1);
        c.RequiresGrad = true;
        var seed2 = Tensor.FromArray(new double[] { 2 }, 1);
        c.Reshape(1).Backward(seed2);
        c.Sum().Backward();
        Assert.Equal(new double[] { 2 }, seed2.ToDoubleArray());
        Assert.Equal(3, c.Grad!.Item());
    }

    [Fact]
    public void GradOfSecondOrder()
    {
        // d²/dx² x³ = 6x
        var x = Tensor.FromArray(new double[] { 2 }, 1);
        x.RequiresGrad = true;
        var g = Autograd.Grad((x * x * x).Sum(), [x], createGraph: true)[0];
        var h = Autograd.Grad(g.Sum(), [x])[0];
        Assert.Equal(12, g.Item());
        Assert.Equal(12, h.Item());
    }

    [Fact]
    public void DeepGraphsDoNotOverflowTheStack()
    {
        var x = Tensor.FromArray(new double[] { 1 }, 1);
        x.RequiresGrad = true;
        var y = x;
        for (int i = 0; i < 50_000; i++) y = y * 1.0;
        y.Sum().Backward();
        Assert.Equal(1, x.Grad!.Item());
    }
}
