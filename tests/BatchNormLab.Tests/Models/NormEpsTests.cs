using BatchNormLab.Models;
using BatchNormLab.Nn;
using BatchNormLab.Training;

namespace BatchNormLab.Tests;

/// <summary>ModelOptions.NormEps sets BatchNorm's ε, and scaling the weights that feed a BN by a is dividing that ε by a².</summary>
public sealed class NormEpsTests
{
    static IEnumerable<BatchNorm> BatchNorms(Module model) => model.NamedModules().Select(m => m.Module).OfType<BatchNorm>();

    [Fact]
    public void DefaultsToPyTorchsEpsAndSetsEveryBatchNorm()
    {
        var vgg = new Vgg(11, 1, 28, 10, 0.125, new ModelOptions(Norm.BatchNorm), new Rng(0));
        Assert.All(BatchNorms(vgg), bn => Assert.Equal(1e-5, bn.Eps));
        var noisy = Mlp.Create(4, [8, 8], 2, new ModelOptions(Norm.NoisyBatchNorm) { NormEps = 1e-3 }, new Rng(0));
        Assert.Equal([1e-3, 1e-3], BatchNorms(noisy).Select(bn => bn.Eps));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ModelOptions() { NormEps = 0 }.Validate());
    }

    [Fact]
    public void LeftUnsetItStaysOutOfTheConfigJson()
    {
        var config = new TrainConfig { Model = new ModelSpec("mlp", new ModelOptions(Norm.BatchNorm), [8]), Dataset = "gaussian-mixture", Steps = 1 };
        Assert.DoesNotContain("norm_eps", config.ToJson());
        var set = config with { Model = config.Model with { Options = config.Model.Options with { NormEps = 1e-3 } } };
        Assert.Equal(1e-3, TrainConfig.FromJson(set.ToJson(), "test").Model.Options.NormEps);
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(10.0)]
    public void ScalingTheWeightsFeedingABatchNormIsDividingItsEpsBySquaredScale(double a)
    {
        var input = Tensor.RandomNormal(new Rng(5), [32, 6]);
        var scaled = Mlp.Create(6, [16], 3, new ModelOptions(Norm.BatchNorm), new Rng(1));
        var reference = Mlp.Create(6, [16], 3, new ModelOptions(Norm.BatchNorm) { NormEps = 1e-5 / (a * a) }, new Rng(1));
        var weight = ((Linear)scaled[1]).Weight;
        weight.CopyFrom(Tensor.FromArray(weight.ToDoubleArray().Select(w => a * w).ToArray(), weight.Shape));
        var expected = reference.Forward(input).ToDoubleArray();
        var actual = scaled.Forward(input).ToDoubleArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-5);
    }
}
