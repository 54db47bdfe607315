using BatchNormLab;
using BatchNormLab.Nn;

namespace BatchNormLab.Tests;

/// <summary>Every differentiable op against float64 central differences.</summary>
public class OpGradientTests
{
    static Tensor R(ulong seed, params int[] shape) => GradCheck.Random(seed, shape);

    [Theory]
    [InlineData(new[] { 3, 4 }, new[] { 3, 4 })]
    [InlineData(new[] { 2, 3, 4 }, new[] { 3, 1 })]
    [InlineData(new[] { 1, 4 }, new[] { 3, 1 })]
    [InlineData(new[] { 2, 3, 2, 2 }, new[] { 1, 3, 1, 1 })]
    [InlineData(new int[0], new[] { 2, 3 })]
    public void BroadcastingArithmetic(int[] a, int[] b)
    {
        GradCheck.Check(x => x[0] + x[1], [R(1, a), R(2, b)], name: "add");
        GradCheck.Check(x => x[0] - x[1], [R(1, a), R(2, b)], name: "sub");
        GradCheck.Check(x => x[0] * x[1], [R(1, a), R(2, b)], name: "mul");
        GradCheck.Check(x => x[0] / x[1], [R(1, a), GradCheck.Positive(2, b)], name: "div");
    }

    [Fact]
    public void ScalarsAndNegation() =>
        GradCheck.Check(x => 2.0 - (-x[0]) * 3.0 / 1.5 + 0.5 / x[1], [R(3, 4, 5), GradCheck.Positive(4, 4, 5)]);

    [Fact]
    public void Pointwise()
    {
        GradCheck.Check(x => x[0].Exp(), [R(5, 3, 7)], name: "exp");
        GradCheck.Check(x => x[0].Log(), [GradCheck.Positive(6, 3, 7)], name: "log");
        GradCheck.Check(x => x[0].Sqrt(), [GradCheck.Positive(7, 3, 7)], name: "sqrt");
        GradCheck.Check(x => x[0].Pow(-0.5), [GradCheck.Positive(8, 3, 7)], name: "pow");
        GradCheck.Check(x => x[0].Abs(), [R(9, 3, 7)], name: "abs");
        GradCheck.Check(x => x[0].Relu(), [R(10, 3, 7)], name: "relu");
        GradCheck.Check(x => x[0].Sigmoid(), [R(11, 3, 7)], name: "sigmoid");
        GradCheck.Check(x => x[0].Tanh(), [R(12, 3, 7)], name: "tanh");
        GradCheck.Check(x => x[0].Square(), [R(13, 3, 7)], name: "square");
    }

    [Fact]
    public void Reductions()
    {
        GradCheck.Check(x => x[0].Sum(), [R(14, 3, 4, 5)], name: "sum");
        GradCheck.Check(x => x[0].Mean(), [R(15, 3, 4, 5)], name: "mean");
        GradCheck.Check(x => x[0].Sum([0, 2], keepDim: true), [R(16, 3, 4, 5)], name: "sum axes keep");
        GradCheck.Check(x => x[0].Mean([1]), [R(17, 3, 4, 5)], name: "mean axis");
        GradCheck.Check(x => x[0].Max(1), [R(18, 3, 4, 5)], name: "max");
        GradCheck.Check(x => x[0].Max(-1, keepDim: true), [R(19, 3, 4, 5)], name: "max last");
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void MatMulAllTransposes(bool transA, bool transB)
    {
        var a = R(20, transA ? new[] { 4, 3 } : new[] { 3, 4 });
        var b = R(21, transB ? new[] { 5, 4 } : new[] { 4, 5 });
        GradCheck.Check(x => Tensor.MatMul(x[0], x[1], transA, transB), [a, b]);
    }

    [Fact]
    public void Views()
    {
        GradCheck.Check(x => x[0].Reshape(6, -1) * R(22, 6, 4), [R(23, 2, 3, 4)], name: "reshape");
        GradCheck.Check(x => x[0].Slice(1, 2), [R(24, 4, 3)], name: "slice");
        GradCheck.Check(x => x[0].Transpose(), [R(25, 3, 5)], name: "transpose");
        GradCheck.Check(x => x[0].Flatten(), [R(26, 2, 3, 2)], name: "flatten");
    }

    [Theory]
    [InlineData(3, 1, 1)]
    [InlineData(3, 2, 0)]
    [InlineData(1, 1, 0)]
    [InlineData(2, 2, 1)]
    public void Conv2d(int kernel, int stride, int padding)
    {
        GradCheck.Check(x => x[0].Conv2d(x[1], x[2], stride, padding), [R(27, 2, 3, 5, 5), R(28, 4, 3, kernel, kernel), R(29, 4)]);
        GradCheck.Check(x => x[0].Conv2d(x[1], null, stride, padding), [R(30, 1, 2, 4, 6), R(31, 3, 2, kernel, kernel)], name: "no bias");
    }

    [Fact]
    public void Pooling()
    {
        GradCheck.Check(x => x[0].MaxPool2d(2), [R(32, 2, 3, 4, 4)], name: "maxpool 2");
        GradCheck.Check(x => x[0].MaxPool2d(3, 2, 1), [R(33, 1, 2, 5, 5)], name: "maxpool 3/2/1");
        GradCheck.Check(x => x[0].AvgPool2d(2), [R(34, 2, 3, 4, 4)], name: "avgpool 2");
        GradCheck.Check(x => x[0].AvgPool2d(3, 2, 1), [R(35, 1, 2, 5, 5)], name: "avgpool 3/2/1");
    }

    [Theory]
    [InlineData(new[] { 6, 3 })]
    [InlineData(new[] { 4, 3, 5 })]
    [InlineData(new[] { 3, 2, 4, 4 })]
    [InlineData(new[] { 2, 2, 6, 7 })]
    public void BatchNormTraining(int[] shape)
    {
        int c = shape[1];
        GradCheck.Check(x => Tensor.BatchNormTrain(x[0], x[1], x[2], 1e-5, out _, out _), [R(36, shape), R(37, c), R(38, c)], name: "affine");
        GradCheck.Check(x => Tensor.BatchNormTrain(x[0], null, null, 1e-3, out _, out _), [R(39, shape)], name: "no affine");
    }

    [Fact]
    public void BatchNormEval()
    {
        double[] mean = [0.3, -1.2, 2.0], variance = [0.5, 2.0, 1.3];
        GradCheck.Check(x => Tensor.BatchNormEval(x[0], x[1], x[2], mean, variance, 1e-5), [R(40, 4, 3, 3, 2), R(41, 3), R(42, 3)]);
    }

    [Fact]
    public void Layers()
    {
        var rng = new Rng(46);
        var linear = (Linear)new Linear(4, 3, rng: rng).To(DType.Float64);
        GradCheck.Check(x => linear.Forward(x[0]), [R(47, 5, 4), linear.Weight, linear.Bias!], name: "Linear");
        var conv = (Conv2d)new Conv2d(2, 3, 3, stride: 2, padding: 1, rng: rng).To(DType.Float64);
        GradCheck.Check(x => conv.Forward(x[0]), [R(48, 2, 2, 5, 5), conv.Weight, conv.Bias!], name: "Conv2d");
        var bn1 = (BatchNorm1d)new BatchNorm1d(3).To(DType.Float64);
        bn1.Weight!.CopyFrom(R(49, 3));
        GradCheck.Check(x => bn1.Forward(x[0]), [R(50, 6, 3, 2), bn1.Weight!, bn1.Bias!], name: "BatchNorm1d train");
        bn1.Eval();
        GradCheck.Check(x => bn1.Forward(x[0]), [R(51, 6, 3), bn1.Weight!, bn1.Bias!], name: "BatchNorm1d eval");
        var bn2 = (BatchNorm2d)new BatchNorm2d(2, momentum: null).To(DType.Float64);
        GradCheck.Check(x => bn2.Forward(x[0]), [R(52, 3, 2, 3, 3), bn2.Weight!, bn2.Bias!], name: "BatchNorm2d train");
        var seq = new Sequential(new Sigmoid(), new Tanh(), new ReLU(), new Flatten(), new Dropout(0));
        GradCheck.Check(x => seq.Forward(x[0]), [R(53, 2, 3, 2)], name: "activations");
    }

    [Fact]
    public void Losses()
    {
        int[] targets = [2, 0, 4, 4, 1];
        GradCheck.Check(x => x[0].CrossEntropy(targets), [R(43, 5, 5) * 3.0], name: "cross-entropy");
        GradCheck.Check(x => x[0].MseLoss(x[1]), [R(44, 4, 3), R(45, 4, 3)], name: "mse");
    }
}
