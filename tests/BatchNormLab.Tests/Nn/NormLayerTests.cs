using BatchNormLab;
using BatchNormLab.Models;
using BatchNormLab.Nn;

namespace BatchNormLab.Tests;

/// <summary>
/// Batch Renorm and Ghost BN against BatchNorm (the limits in which they are BatchNorm, with values),
/// Batch Renorm's corrections and schedule, BatchNorm folding, and the argument checks of the new layers.
/// </summary>
public sealed class NormLayerTests
{
    /// <summary>Runs a training step per shape in <paramref name="shapes"/> on both layers with the same inputs and upstream gradients; asserts equal outputs, gradients and running statistics.</summary>
    static void AssertSameAsBatchNorm(BatchNorm layer, BatchNorm bn, int[][] shapes, DType dtype, double tol)
    {
        layer.To(dtype);
        bn.To(dtype);
        var rng = new Rng(21);
        foreach (var shape in shapes)
        {
            var x = Tensor.RandomNormal(rng, shape, 2, 3, dtype);
            var g = Tensor.RandomNormal(rng, shape, dtype: dtype);
            var (y1, dx1) = ForwardBackward(layer, x, g);
            var (y2, dx2) = ForwardBackward(bn, x, g);
            AssertClose(y2, y1, tol, "output");
            AssertClose(dx2, dx1, tol, "input gradient");
            AssertClose(bn.Weight!.Grad!, layer.Weight!.Grad!, tol, "weight gradient");
            AssertClose(bn.Bias!.Grad!, layer.Bias!.Grad!, tol, "bias gradient");
            AssertClose(bn.RunningMean!, layer.RunningMean!, tol, "running mean");
            AssertClose(bn.RunningVar!, layer.RunningVar!, tol, "running variance");
            Assert.Equal(bn.NumBatchesTracked, layer.NumBatchesTracked);
            layer.ZeroGrad();
            bn.ZeroGrad();
        }
        layer.Eval();
        bn.Eval();
        var probe = Tensor.RandomNormal(rng, shapes[0], dtype: dtype);
        AssertClose(bn.Forward(probe), layer.Forward(probe), tol, "eval output");
    }

    static (Tensor Y, Tensor Dx) ForwardBackward(Module layer, Tensor x, Tensor g)
    {
        var input = x.Clone();
        input.RequiresGrad = true;
        var y = layer.Forward(input);
        y.Backward(g);
        return (y.Detach(), input.Grad!);
    }

    static void AssertClose(Tensor expected, Tensor actual, double tol, string what)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        var (e, a) = (expected.ToDoubleArray(), actual.ToDoubleArray());
        for (int i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(a[i] - e[i]) <= tol * (1 + Math.Abs(e[i])), $"{what}[{i}]: {a[i]:R}, expected {e[i]:R}");
    }

    static readonly BatchRenormSchedule NoCorrection = new(RMax: 1, DMax: 0);

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void BatchRenormWithoutCorrectionIsBatchNorm(DType dtype)
    {
        // r_max = 1, d_max = 0: r = 1 and d = 0, whatever the running statistics.
        AssertSameAsBatchNorm(new BatchRenorm2d(3, schedule: NoCorrection), new BatchNorm2d(3), [[4, 3, 5, 5], [6, 3, 2, 3], [2, 3, 7, 7]], dtype, 0);
        AssertSameAsBatchNorm(new BatchRenorm1d(5, momentum: null, schedule: NoCorrection), new BatchNorm1d(5, momentum: null), [[8, 5], [3, 5], [4, 5, 3]], dtype, 0);
    }

    [Fact]
    public void BatchRenormCorrectsTowardsTheRunningStatistics()
    {
        var layer = (BatchRenorm1d)new BatchRenorm1d(2, momentum: 0.5, schedule: new BatchRenormSchedule(RMax: 2, DMax: 0.5, FixedSteps: 0, RMaxSteps: 0, DMaxSteps: 0)).To(DType.Float64);
        layer.Weight!.CopyFrom(Tensor.FromArray(new double[] { 2, 1 }, 2));
        layer.Bias!.CopyFrom(Tensor.FromArray(new double[] { 0.5, -1 }, 2));
        layer.RunningMean!.CopyFrom(Tensor.FromArray(new double[] { 1, 0 }, 2));
        layer.RunningVar!.CopyFrom(Tensor.FromArray(new double[] { 4, 0.01 }, 2));
        // Channel 0: {0, 2, 4, 6}: μ_B = 3, σ²_B = 5; channel 1: {1, -1, 1, -1}: μ_B = 0, σ²_B = 1.
        var x = Tensor.FromArray(new double[] { 0, 1, 2, -1, 4, 1, 6, -1 }, 4, 2);
        var y = layer.Forward(x).ToDoubleArray();
        double eps = 1e-5, sb0 = Math.Sqrt(5 + eps), sb1 = Math.Sqrt(1 + eps), s0 = Math.Sqrt(4 + eps), s1 = Math.Sqrt(0.01 + eps);
        double r0 = sb0 / s0, d0 = Math.Min(0.5, 2 / s0);   // r inside (1/2, 2); d = (3 − 1)/2 clipped to 0.5
        double r1 = Math.Min(2, sb1 / s1), d1 = 0;            // σ_B/σ ≈ 10 clipped to 2
        Assert.Equal([r0, r1], layer.LastR!, new ToleranceComparer(1e-15));
        Assert.Equal([d0, d1], layer.LastD!, new ToleranceComparer(1e-15));
        double[] c0 = [0, 2, 4, 6], c1 = [1, -1, 1, -1];
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(2 * ((c0[i] - 3) / sb0 * r0 + d0) + 0.5, y[2 * i], 1e-12);
            Assert.Equal(1 * ((c1[i] - 0) / sb1 * r1 + d1) - 1, y[2 * i + 1], 1e-12);
        }
        // Then the running statistics move as BatchNorm's: mean ← ½·1 + ½·3, var ← ½·4 + ½·(5·4/3).
        Assert.Equal([2, 0], layer.RunningMean!.ToDoubleArray(), new ToleranceComparer(1e-15));
        Assert.Equal([2 + 0.5 * 20 / 3, 0.005 + 0.5 * 4 / 3.0], layer.RunningVar!.ToDoubleArray(), new ToleranceComparer(1e-14));
    }

    [Fact]
    public void BatchRenormScheduleFollowsThePaperByDefault()
    {
        var s = new BatchRenormSchedule();
        Assert.Equal((1.0, 0.0), (s.RMaxAt(0), s.DMaxAt(0)));
        Assert.Equal((1.0, 0.0), (s.RMaxAt(5_000), s.DMaxAt(5_000)));
        Assert.Equal((2.0, 2.5), (s.RMaxAt(22_500), s.DMaxAt(15_000)));
        Assert.Equal((3.0, 5.0), (s.RMaxAt(40_000), s.DMaxAt(25_000)));
        Assert.Equal((3.0, 5.0), (s.RMaxAt(1_000_000), s.DMaxAt(1_000_000)));
        var e = Assert.ThrowsAny<ArgumentException>(() => new BatchRenorm2d(3, schedule: new BatchRenormSchedule(RMax: 0.5)));
        Assert.Equal("RMax", e.ParamName);
        e = Assert.ThrowsAny<ArgumentException>(() => new BatchRenorm2d(3, schedule: new BatchRenormSchedule(FixedSteps: 100, DMaxSteps: 50)));
        Assert.Equal("DMaxSteps", e.ParamName);
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void GhostBatchNormWithOneVirtualBatchIsBatchNorm(DType dtype)
    {
        AssertSameAsBatchNorm(new GhostBatchNorm2d(3, virtualBatchSize: 8), new BatchNorm2d(3), [[8, 3, 4, 4], [5, 3, 2, 2], [2, 3, 1, 3]], dtype, 0);
        AssertSameAsBatchNorm(new GhostBatchNorm1d(4, virtualBatchSize: 16), new BatchNorm1d(4), [[16, 4], [9, 4, 3]], dtype, 0);
    }

    [Theory]
    [InlineData(DType.Float32, 12, 4)]
    [InlineData(DType.Float64, 11, 4)]
    [InlineData(DType.Float64, 9, 2)]
    public void GhostBatchNormIsBatchNormAppliedToEachChunk(DType dtype, int n, int virtualBatch)
    {
        var ghost = (GhostBatchNorm2d)new GhostBatchNorm2d(3, virtualBatch).To(dtype);
        var bn = (BatchNorm2d)new BatchNorm2d(3).To(dtype);
        var rng = new Rng(31);
        foreach (var p in new[] { ghost.Weight!, ghost.Bias! }) p.CopyFrom(Tensor.RandomNormal(rng, [3], 1, 0.5, dtype));
        bn.Weight!.CopyFrom(ghost.Weight!);
        bn.Bias!.CopyFrom(ghost.Bias!);
        var x = Tensor.RandomNormal(rng, [n, 3, 3, 2], -1, 2, dtype);
        var g = Tensor.RandomNormal(rng, [n, 3, 3, 2], dtype: dtype);
        var (y, dx) = ForwardBackward(ghost, x, g);
        int chunks = (n + virtualBatch - 1) / virtualBatch;
        var ys = new List<Tensor>();
        var dxs = new List<Tensor>();
        for (int j = 0; j < chunks; j++)
        {
            int rows = Math.Min(virtualBatch, n - j * virtualBatch);
            var (yc, dxc) = ForwardBackward(bn, x.Slice(j * virtualBatch, rows).Clone(), g.Slice(j * virtualBatch, rows).Clone());
            ys.Add(yc);
            dxs.Add(dxc);
        }
        double tol = dtype == DType.Float32 ? 1e-6 : 1e-14;
        AssertClose(Tensor.ConcatRows(ys), y, 0, "output");
        AssertClose(Tensor.ConcatRows(dxs), dx, 0, "input gradient");
        AssertClose(bn.Weight.Grad!, ghost.Weight!.Grad!, tol, "weight gradient (sum over chunks)");
        AssertClose(bn.Bias.Grad!, ghost.Bias!.Grad!, tol, "bias gradient (sum over chunks)");
        AssertClose(bn.RunningMean!, ghost.RunningMean!, 0, "running mean");
        AssertClose(bn.RunningVar!, ghost.RunningVar!, 0, "running variance");
        Assert.Equal(chunks, ghost.NumBatchesTracked);
    }

    [Fact]
    public void BadArgumentsNameTheArgument()
    {
        Assert.Equal("virtualBatchSize", Assert.ThrowsAny<ArgumentException>(() => new GhostBatchNorm1d(3, virtualBatchSize: 1)).ParamName);
        Assert.Equal("numGroups", Assert.ThrowsAny<ArgumentException>(() => new GroupNorm(4, 6)).ParamName);
        Assert.Equal("numGroups", Assert.ThrowsAny<ArgumentException>(() => new GroupNorm(0, 6)).ParamName);
        Assert.Equal("normalizedShape", Assert.ThrowsAny<ArgumentException>(() => new LayerNorm([4, 0])).ParamName);
        Assert.Equal("momentum", Assert.ThrowsAny<ArgumentException>(() => new InstanceNorm2d(3, momentum: 1.5)).ParamName);
        // Ghost BN's last virtual batch with one value per channel (9 = 4 + 4 + 1 samples of (C) features).
        var e = Assert.ThrowsAny<ArgumentException>(() => new GhostBatchNorm1d(2, 4).Forward(Tensor.Ones(9, 2)));
        Assert.Contains("last virtual batch", e.Message);
        e = Assert.ThrowsAny<ArgumentException>(() => new InstanceNorm2d(2).Forward(Tensor.Ones(3, 2, 1, 1)));
        Assert.Contains("Expected more than 1 spatial element when training", e.Message);
        e = Assert.ThrowsAny<ArgumentException>(() => new LayerNorm(5).Forward(Tensor.Ones(3, 4)));
        Assert.Contains("trailing dimensions are [5]", e.Message);
        e = Assert.ThrowsAny<ArgumentException>(() => new GroupNorm(2, 4).Forward(Tensor.Ones(3, 6, 2)));
        Assert.Contains("got 6 channels", e.Message);
    }

    // ---------------------------------------------------------------- folding

    /// <summary>Gives every BatchNorm below <paramref name="model"/> running statistics and γ, β far from their initial values (as after training).</summary>
    static void TrainedLookingStatistics(Module model, Rng rng)
    {
        foreach (var bn in model.NamedModules().Select(m => m.Module).OfType<BatchNorm>())
        {
            int c = bn.NumFeatures;
            bn.RunningMean!.CopyFrom(Tensor.RandomNormal(rng, [c], 0, 0.5));
            bn.RunningVar!.CopyFrom(Tensor.RandomUniform(rng, [c], 0.05, 3));
            bn.Weight!.CopyFrom(Tensor.RandomNormal(rng, [c], 1, 0.3));
            bn.Bias!.CopyFrom(Tensor.RandomNormal(rng, [c], 0, 0.3));
        }
    }

    [Fact]
    public void FoldedMlpComputesTheSame()
    {
        var rng = new Rng(41);
        var mlp = Mlp.Create(20, [32, 16], 5, new ModelOptions(Norm.BatchNorm), rng);
        TrainedLookingStatistics(mlp, rng);
        mlp.Eval();
        var folded = BatchNormFolding.FoldBatchNorm(mlp);
        Assert.Empty(folded.NamedModules().Select(m => m.Module).OfType<BatchNorm>());
        Assert.Equal(mlp.Count - 2, folded.Count);
        var x = Tensor.RandomNormal(rng, [16, 20]);
        using var _ = Autograd.NoGrad();
        AssertClose(mlp.Forward(x), folded.Forward(x), 1e-5, "folded MLP output");
    }

    [Fact]
    public void FoldedVggComputesTheSame()
    {
        var rng = new Rng(42);
        var vgg = new Vgg(11, 1, 28, 10, 0.125, new ModelOptions(Norm.BatchNorm), rng);
        TrainedLookingStatistics(vgg, rng);
        vgg.Eval();
        var folded = new Sequential(BatchNormFolding.FoldBatchNorm(vgg.Features), vgg.Classifier);
        Assert.Equal(8, folded.NamedModules().Count(m => m.Module is Conv2d { Bias: not null }));
        Assert.Empty(folded.NamedModules().Select(m => m.Module).OfType<BatchNorm>());
        var x = Tensor.RandomNormal(rng, [8, 1, 28, 28]);
        using var _ = Autograd.NoGrad();
        AssertClose(vgg.Forward(x), folded.Forward(x), 1e-5, "folded VGG output");
    }

    [Fact]
    public void FoldingABiasFreeConvInDoubleIsExact()
    {
        var rng = new Rng(43);
        var conv = (Conv2d)new Conv2d(3, 4, 3, stride: 2, padding: 1, bias: false, rng: rng).To(DType.Float64);
        var bn = (BatchNorm2d)new BatchNorm2d(4).To(DType.Float64);
        TrainedLookingStatistics(new Sequential(bn), rng);
        bn.Eval();
        var folded = BatchNormFolding.FoldBatchNorm(conv, bn);
        Assert.Equal((DType.Float64, 2, 1), (folded.Weight.DType, folded.Stride, folded.Padding));
        var x = Tensor.RandomNormal(rng, [2, 3, 7, 7], dtype: DType.Float64);
        using var _ = Autograd.NoGrad();
        AssertClose(bn.Forward(conv.Forward(x)), folded.Forward(x), 1e-12, "folded conv output");
    }

    [Fact]
    public void FoldingNeedsEvalModeAndRunningStatistics()
    {
        var linear = new Linear(3, 2);
        Assert.Equal("bn", Assert.ThrowsAny<ArgumentException>(() => BatchNormFolding.FoldBatchNorm(linear, new BatchNorm1d(2))).ParamName);
        Assert.Equal("bn", Assert.ThrowsAny<ArgumentException>(() => BatchNormFolding.FoldBatchNorm(linear, (BatchNorm)new BatchNorm1d(2, trackRunningStats: false).Eval())).ParamName);
        Assert.Equal("bn", Assert.ThrowsAny<ArgumentException>(() => BatchNormFolding.FoldBatchNorm(linear, (BatchNorm)new BatchNorm1d(3).Eval())).ParamName);
        var e = Assert.ThrowsAny<ArgumentException>(() => BatchNormFolding.FoldBatchNorm(new Sequential(new ReLU(), new BatchNorm1d(2))));
        Assert.Contains("training mode", e.Message);
    }

    sealed class ToleranceComparer(double tol) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= tol * (1 + Math.Abs(b));
        public int GetHashCode(double value) => 0;
    }
}
