using BatchNormLab.Data;
using BatchNormLab.Models;
using BatchNormLab.Nn;
using BatchNormLab.Training;

namespace BatchNormLab.Tests;

/// <summary>Every Norm choice builds the layers it names, and a noisy run resumed from a checkpoint continues with the same noise.</summary>
public sealed class NormVariantTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-norms-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData(Norm.None, new Type[0])]
    [InlineData(Norm.BatchNorm, new[] { typeof(BatchNorm1d) })]
    [InlineData(Norm.NoisyBatchNorm, new[] { typeof(BatchNorm1d), typeof(NoisyBatchNorm) })]
    [InlineData(Norm.Noise, new[] { typeof(NoisyBatchNorm) })]
    [InlineData(Norm.L1, new[] { typeof(LpNorm) })]
    [InlineData(Norm.LInf, new[] { typeof(LpNorm) })]
    public void MlpBlocksHoldTheNamedNormBetweenLayerAndActivation(Norm norm, Type[] expected)
    {
        var mlp = Mlp.Create(4, [8], 2, new ModelOptions(norm), new Rng(0));
        var block = Enumerable.Range(2, mlp.Count - 2).Select(i => mlp[i]).TakeWhile(m => m is not ReLU).Select(m => m.GetType()).ToArray();
        Assert.Equal(expected, block);
        if (norm == Norm.LInf) Assert.Equal(double.PositiveInfinity, ((LpNorm)mlp[2]).P);
    }

    [Fact]
    public void EachNoisyLayerHasItsOwnGenerator()
    {
        var vgg = new Vgg(11, 1, 28, 10, 0.125, new ModelOptions(Norm.NoisyBatchNorm), new Rng(3));
        var generators = vgg.NamedModules().Select(m => m.Module).OfType<NoisyBatchNorm>().Select(n => string.Join(",", n.Generator.GetState())).ToList();
        Assert.Equal(8, generators.Count);
        Assert.Equal(generators.Count, generators.Distinct().Count());
    }

    [Fact]
    public void ResNetRejectsNoisyNormsWithAClearMessage()
    {
        var e = Assert.Throws<ArgumentException>(() => new ResNetCifar(8, 1, 10, new ModelOptions(Norm.Noise), new Rng(0)));
        Assert.Contains("ResNet-CIFAR takes norm none, batch-norm, l1, l2 or linf", e.Message);
        var lp = new ResNetCifar(8, 1, 10, new ModelOptions(Norm.L2), new Rng(0));
        Assert.Contains(lp.StateDict(), s => s.Name == "layer1.0.bn2.running_scale");
    }

    [Fact]
    public void ResumedNoisyRunContinuesBitwise()
    {
        var config = new TrainConfig
        {
            Model = new ModelSpec("mlp", new ModelOptions(Norm.NoisyBatchNorm), [16, 16]),
            Dataset = "gaussian-mixture", Steps = 20, BatchSize = 32, LearningRate = 0.05, Momentum = 0.9, Seed = 4,
        };
        var (train, _) = DatasetCatalog.Load(config.Dataset, null, config.Seed);
        Trainer Make() => new(config, config.Model.Build(train.Inputs.Shape[1..], train.Classes, new Rng(config.Seed)), train, null);

        var whole = Make();
        whole.Run();
        var first = Make();
        first.Run(until: 9);
        Checkpoint.Save(dir, first);
        var resumed = Make();
        Checkpoint.Restore(resumed, Checkpoint.Read(dir), dir);
        resumed.Run();

        var expected = whole.Model.StateDict();
        var actual = resumed.Model.StateDict();
        for (int i = 0; i < expected.Count; i++)
            if (expected[i].Tensor is { } t) Assert.Equal(t.ToFloatArray(), actual[i].Tensor!.ToFloatArray());
    }
}
