using BatchNormLab;
using BatchNormLab.Nn;

namespace BatchNormLab.Tests;

public class ModuleTests
{
    static Sequential SmallNet(Rng rng) => new(
        new Conv2d(1, 2, 3, padding: 1, rng: rng), new BatchNorm2d(2), new ReLU(), new MaxPool2d(2),
        new Flatten(), new Linear(2 * 2 * 2, 3, rng: rng));

    [Fact]
    public void StateDictUsesPyTorchKeyNames()
    {
        var names = SmallNet(new Rng(1)).StateDict().Select(e => e.Name).ToArray();
        Assert.Equal(new[]
        {
            "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
            "5.weight", "5.bias",
        }, names);
        var noTracking = new BatchNorm1d(4, affine: false, trackRunningStats: false);
        Assert.Empty(noTracking.StateDict());
        Assert.Null(noTracking.Weight);
        Assert.Null(noTracking.RunningMean);
    }

    [Fact]
    public void LoadStateDictRestoresValuesAndCounters()
    {
        var a = SmallNet(new Rng(1));
        a.Forward(Tensor.RandomNormal(new Rng(2), [4, 1, 4, 4]));
        var b = SmallNet(new Rng(3));
        b.LoadStateDict(a.StateDict());
        Assert.Equal(a.StateDict().Select(e => e.Tensor?.ToFloatArray()), b.StateDict().Select(e => e.Tensor?.ToFloatArray()));
        Assert.Equal(1, ((BatchNorm2d)b[1]).NumBatchesTracked);
        var bad = a.StateDict().Where(e => e.Name != "1.running_var").ToList();
        var error = Assert.Throws<ArgumentException>(() => b.LoadStateDict(bad));
        Assert.Contains("1.running_var", error.Message);
    }

    [Fact]
    public void TrainAndEvalReachEveryModuleAndToConvertsInPlace()
    {
        var net = SmallNet(new Rng(1));
        net.Eval();
        Assert.All(net.NamedModules(), m => Assert.False(m.Module.Training));
        net.Train();
        Assert.All(net.NamedModules(), m => Assert.True(m.Module.Training));
        net.To(DType.Float64);
        Assert.All(net.StateDict().Where(e => e.Tensor is not null), e => Assert.Equal(DType.Float64, e.Tensor!.DType));
        Assert.All(net.Parameters(), p => Assert.True(p.RequiresGrad));
        var y = net.Forward(Tensor.RandomNormal(new Rng(2), [2, 1, 4, 4], dtype: DType.Float64));
        Assert.Equal(DType.Float64, y.DType);
    }

    [Fact]
    public void HooksReadAndReplaceActivations()
    {
        var net = SmallNet(new Rng(1));
        Tensor? seen = null;
        using (net[2].RegisterForwardHook((_, _, output) => { seen = output; return null; }))
            net.Forward(Tensor.RandomNormal(new Rng(2), [2, 1, 4, 4]));
        Assert.NotNull(seen);
        Assert.True(seen!.ToFloatArray().All(v => v >= 0));
        seen = null;
        net.Forward(Tensor.RandomNormal(new Rng(2), [2, 1, 4, 4]));
        Assert.Null(seen); // removed

        // A transform after a layer: zeroing the ReLU output makes the logits equal the last bias.
        using (net[2].RegisterForwardHook((_, _, output) => output * 0.0))
        {
            var logits = net.Forward(Tensor.RandomNormal(new Rng(2), [2, 1, 4, 4])).ToFloatArray();
            var bias = ((Linear)net[5]).Bias!.ToFloatArray();
            Assert.Equal(bias.Concat(bias), logits);
        }
    }

    [Fact]
    public void LinearComputesXWTransposePlusBias()
    {
        var linear = new Linear(2, 3);
        linear.Weight.CopyFrom(Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 3, 2));
        linear.Bias!.CopyFrom(Tensor.FromArray(new float[] { 0.5f, 0, -1 }, 3));
        var y = linear.Forward(Tensor.FromArray(new float[] { 1, 1, 2, 0 }, 2, 2));
        Assert.Equal(new float[] { 3.5f, 7, 10, 2.5f, 6, 9 }, y.ToFloatArray());
        Assert.Throws<ArgumentException>(() => linear.Forward(Tensor.Zeros(2, 3)));
    }

    [Fact]
    public void InitialisersFollowTheirDefinitions()
    {
        var w = Tensor.Zeros(DType.Float64, 400, 300);
        Init.XavierUniform(w, rng: new Rng(1));
        double bound = Math.Sqrt(6.0 / 700);
        var values = w.ToDoubleArray();
        Assert.True(values.Max() <= bound && values.Min() >= -bound && values.Max() > 0.95 * bound);
        Init.KaimingNormal(w, rng: new Rng(2));
        values = w.ToDoubleArray();
        Assert.Equal(Math.Sqrt(2.0 / 300), Math.Sqrt(values.Select(v => v * v).Average()), 0.002);
        var linear = new Linear(50, 10, rng: new Rng(3));
        Assert.True(linear.Weight.ToFloatArray().All(v => Math.Abs(v) <= 1 / Math.Sqrt(50)));
    }

    [Fact]
    public void DropoutScalesKeptValuesAndIsIdentityInEval()
    {
        var dropout = new Dropout(0.25, new Rng(5));
        var y = dropout.Forward(Tensor.Ones(10_000)).ToFloatArray();
        Assert.All(y, v => Assert.True(v == 0 || Math.Abs(v - 1 / 0.75) < 1e-6));
        Assert.Equal(0.25, y.Count(v => v == 0) / 10_000.0, 0.02);
        dropout.Eval();
        Assert.All(dropout.Forward(Tensor.Ones(100)).ToFloatArray(), v => Assert.Equal(1, v));
    }

    [Fact]
    public void ParameterVectorRoundTripsAndEvaluatesWithoutDisturbing()
    {
        var rng = new Rng(4);
        var net = SmallNet(rng).To(DType.Float64);
        var x = Tensor.RandomNormal(rng, [4, 1, 4, 4], dtype: DType.Float64);
        int[] targets = [0, 1, 2, 0];
        var parameters = net.Parameters();
        var before = net.StateDict().Select(e => e.Tensor?.ToDoubleArray() ?? [e.Int64!.Value]).ToList();
        var vector = ParameterVector.Flatten(parameters);
        Assert.Equal(parameters.Sum(p => p.Length), vector.Length);
        var parts = ParameterVector.Split(vector, parameters);
        Assert.Equal(parameters.Select(p => p.ToDoubleArray()), parts.Select(p => p.ToDoubleArray()));
        Assert.Equal(parameters.Select(p => p.Shape), parts.Select(p => p.Shape));

        var shifted = vector + 0.01;
        var (loss, gradient) = ParameterVector.LossAndGradientAt(net, shifted, m => m.Forward(x).CrossEntropy(targets));
        var after = net.StateDict().Select(e => e.Tensor?.ToDoubleArray() ?? [e.Int64!.Value]).ToList();
        Assert.Equal(before, after);

        // The same numbers as moving the model there by hand.
        ParameterVector.Unflatten(shifted, parameters);
        var direct = net.Forward(x).CrossEntropy(targets);
        direct.Backward();
        Assert.Equal(direct.Item(), loss);
        Assert.Equal(ParameterVector.Flatten(parameters.Select(p => p.Grad!).ToList()).ToDoubleArray(), gradient.ToDoubleArray());
    }

    [Fact]
    public void BadConstructorArgumentsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchNorm2d(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchNorm1d(3, eps: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchNorm1d(3, momentum: 1.5));
        Assert.Throws<ArgumentException>(() => new Conv2d(3, 4, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout(1));
    }
}
