using BatchNormLab;
using BatchNormLab.Nn;

namespace BatchNormLab.Tests;

/// <summary>The other normalisers' ops and layers against float64 central differences.</summary>
public class NormGradientTests
{
    static Tensor R(ulong seed, params int[] shape) => GradCheck.Random(seed, shape);

    [Theory]
    [InlineData(new[] { 3, 6, 4, 5 }, 3)]
    [InlineData(new[] { 4, 6 }, 2)]
    [InlineData(new[] { 2, 8, 1, 1 }, 4)]
    [InlineData(new[] { 3, 4, 7 }, 4)]
    [InlineData(new[] { 2, 4, 3, 3 }, 1)]
    public void GroupNormOp(int[] shape, int groups)
    {
        int c = shape[1];
        GradCheck.Check(x => Tensor.GroupNorm(x[0], groups, x[1], x[2], 1e-5, out _, out _), [R(60, shape), R(61, c), R(62, c)], name: "affine");
        GradCheck.Check(x => Tensor.GroupNorm(x[0], groups, null, null, 1e-3, out _, out _), [R(63, shape)], name: "no affine");
    }

    [Fact]
    public void ConcatRowsOp() =>
        GradCheck.Check(x => Tensor.ConcatRows([x[0], x[1], x[2]]) * R(64, 6, 2, 3), [R(65, 2, 2, 3), R(66, 3, 2, 3), R(67, 1, 2, 3)]);

    [Theory]
    [InlineData(new[] { 8, 3 }, 3)]
    [InlineData(new[] { 7, 2, 3 }, 2)]
    [InlineData(new[] { 5, 2, 2, 2 }, 2)]
    public void GhostBatchNormOp(int[] shape, int virtualBatch)
    {
        int c = shape[1];
        GradCheck.Check(x => Tensor.GhostBatchNormTrain(x[0], x[1], x[2], 1e-5, virtualBatch, out _, out _), [R(68, shape), R(69, c), R(70, c)], name: "affine");
        GradCheck.Check(x => Tensor.GhostBatchNormTrain(x[0], null, null, 1e-5, virtualBatch, out _, out _), [R(71, shape)], name: "no affine");
    }

    [Fact]
    public void BatchRenormOpWithRAndDHeldConstant()
    {
        // r and d are stop-gradient constants; the batch statistics are recomputed from the perturbed x.
        double[] r = [0.7, 1.6, 1.1], d = [0.3, -0.5, 0];
        Tensor Renorm(Tensor[] x, bool affine)
        {
            var (mean, variance) = Tensor.BatchStatistics(x[0]);
            return Tensor.BatchRenormTrain(x[0], affine ? x[1] : null, affine ? x[2] : null, 1e-5, mean, variance, r, d);
        }
        GradCheck.Check(x => Renorm(x, true), [R(72, 5, 3, 2, 2), R(73, 3), R(74, 3)], name: "affine");
        GradCheck.Check(x => Renorm(x, false), [R(75, 6, 3)], name: "no affine");
    }

    [Fact]
    public void Layers()
    {
        var ln = (LayerNorm)new LayerNorm([3, 2]).To(DType.Float64);
        GradCheck.Check(x => ln.Forward(x[0]), [R(76, 4, 3, 2), ln.Weight!, ln.Bias!], name: "LayerNorm");
        var gn = (GroupNorm)new GroupNorm(2, 4).To(DType.Float64);
        GradCheck.Check(x => gn.Forward(x[0]), [R(77, 3, 4, 2, 3), gn.Weight!, gn.Bias!], name: "GroupNorm");
        var inTracked = (InstanceNorm2d)new InstanceNorm2d(2, affine: true, trackRunningStats: true).To(DType.Float64);
        GradCheck.Check(x => inTracked.Forward(x[0]), [R(78, 2, 2, 3, 3), inTracked.Weight!, inTracked.Bias!], name: "InstanceNorm2d train");
        inTracked.Eval();
        GradCheck.Check(x => inTracked.Forward(x[0]), [R(79, 2, 2, 3, 3), inTracked.Weight!, inTracked.Bias!], name: "InstanceNorm2d eval (running statistics)");
        var in1 = (InstanceNorm1d)new InstanceNorm1d(3).To(DType.Float64);
        GradCheck.Check(x => in1.Forward(x[0]), [R(80, 3, 5)], name: "InstanceNorm1d unbatched");
        var ghost = (GhostBatchNorm2d)new GhostBatchNorm2d(2, virtualBatchSize: 2).To(DType.Float64);
        GradCheck.Check(x => ghost.Forward(x[0]), [R(81, 5, 2, 2, 2), ghost.Weight!, ghost.Bias!], name: "GhostBatchNorm2d train");
        // r_max = 1, d_max = 0: r and d are constants, so finite differences see the same function.
        var renorm = (BatchRenorm1d)new BatchRenorm1d(3, schedule: new BatchRenormSchedule(RMax: 1, DMax: 0)).To(DType.Float64);
        GradCheck.Check(x => renorm.Forward(x[0]), [R(82, 6, 3), renorm.Weight!, renorm.Bias!], name: "BatchRenorm1d train");
        renorm.Eval();
        GradCheck.Check(x => renorm.Forward(x[0]), [R(83, 6, 3), renorm.Weight!, renorm.Bias!], name: "BatchRenorm1d eval");
    }
}
