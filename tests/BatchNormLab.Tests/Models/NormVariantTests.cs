using BatchNormLab.Data;
using BatchNormLab.IO;
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
    [InlineData(Norm.L2Uncentred, new[] { typeof(LpNorm) })]
    [InlineData(Norm.GroupNorm, new[] { typeof(GroupNorm) })]
    [InlineData(Norm.LayerNorm, new[] { typeof(LayerNorm) })]
    [InlineData(Norm.BatchRenorm, new[] { typeof(BatchRenorm1d) })]
    [InlineData(Norm.GhostBatchNorm, new[] { typeof(GhostBatchNorm1d) })]
    public void MlpBlocksHoldTheNamedNormBetweenLayerAndActivation(Norm norm, Type[] expected)
    {
        var mlp = Mlp.Create(4, [8], 2, new ModelOptions(norm), new Rng(0));
        var block = Enumerable.Range(2, mlp.Count - 2).Select(i => mlp[i]).TakeWhile(m => m is not ReLU).Select(m => m.GetType()).ToArray();
        Assert.Equal(expected, block);
        if (norm == Norm.LInf) Assert.Equal(double.PositiveInfinity, ((LpNorm)mlp[2]).P);
        if (expected.Contains(typeof(LpNorm))) Assert.Equal(norm != Norm.L2Uncentred, ((LpNorm)mlp[2]).Centred);
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
        Assert.Contains("ResNet-CIFAR takes one norm layer per slot (none, batch-norm, l1, l2, linf, group-norm, layer-norm, instance-norm, batch-renorm or ghost-batch-norm), not Noise", e.Message);
        var lp = new ResNetCifar(8, 1, 10, new ModelOptions(Norm.L2), new Rng(0));
        Assert.Contains(lp.StateDict(), s => s.Name == "layer1.0.bn2.running_scale");
    }

    [Fact]
    public void ConvLayersGetGroupNormLayerNormAsOneGroupAndAffineInstanceNorm()
    {
        var options = new ModelOptions(Norm.GroupNorm) { Groups = 16 };
        var vgg = new Vgg(11, 1, 28, 10, 0.125, options, new Rng(0));
        // Widths 8, 16, 32, 32, 64, 64, 64, 64: the largest divisor not above 16.
        Assert.Equal([8, 16, 16, 16, 16, 16, 16, 16], vgg.NamedModules().Select(m => m.Module).OfType<GroupNorm>().Select(g => g.NumGroups));
        Assert.Equal([8, 4, 6], new[] { 16, 8, 12 }.Select(c => new ModelOptions(Norm.GroupNorm).GroupCount(c, spatial: false)));
        Assert.Equal(24, new ModelOptions(Norm.GroupNorm).GroupCount(48, spatial: true));
        var ln = new Vgg(11, 1, 28, 10, 0.125, new ModelOptions(Norm.LayerNorm), new Rng(0));
        Assert.All(ln.NamedModules().Select(m => m.Module).OfType<GroupNorm>(), g => Assert.Equal(1, g.NumGroups));
        var inorm = new ResNetCifar(8, 1, 10, new ModelOptions(Norm.InstanceNorm), new Rng(0));
        Assert.All(inorm.NamedModules().Select(m => m.Module).OfType<InstanceNorm2d>(), l => Assert.True(l.Affine && !l.TrackRunningStats));
    }

    [Fact]
    public void InstanceNormWithoutPlanesIsAClearError()
    {
        var e = Assert.Throws<ArgumentException>(() => Mlp.Create(4, [8], 2, new ModelOptions(Norm.InstanceNorm), new Rng(0)));
        Assert.Contains("instance-norm normalises each channel over its own spatial plane", e.Message);
        e = Assert.Throws<ArgumentException>(() => new Vgg(11, 1, 28, 10, 0.125, new ModelOptions(Norm.InstanceNorm), new Rng(0)));
        Assert.Contains("reaches 1×1 planes", e.Message);
        Assert.NotNull(new Vgg(11, 3, 32, 10, 0.125, new ModelOptions(Norm.InstanceNorm), new Rng(0)));
    }

    public static TheoryData<Norm, string> EveryNormAndModel()
    {
        var data = new TheoryData<Norm, string>();
        foreach (var norm in Enum.GetValues<Norm>())
            foreach (var model in new[] { "mlp", "vgg11", "resnet8" })
                data.Add(norm, model);
        return data;
    }

    /// <summary>A training step and an evaluation, then the state dict through a safetensors file into a fresh model: the same eval outputs.</summary>
    [Theory]
    [MemberData(nameof(EveryNormAndModel))]
    public void EveryNormTrainsAndRoundTripsThroughACheckpointWhereItApplies(Norm norm, string name)
    {
        var options = new ModelOptions(norm) { Groups = 4, GhostBatchSize = 3, Renorm = new BatchRenormSchedule(RMax: 2, DMax: 1, FixedSteps: 0, RMaxSteps: 2, DMaxSteps: 2) };
        int[] sample = name == "mlp" ? [6] : [3, 32, 32];
        var spec = new ModelSpec(name, options, [8], Width: 0.125);
        bool applies = !(norm == Norm.InstanceNorm && name == "mlp") && !(name == "resnet8" && norm is Norm.NoisyBatchNorm or Norm.Noise);
        if (!applies)
        {
            Assert.Throws<ArgumentException>(() => spec.Build(sample, 4, new Rng(1)));
            return;
        }
        var model = spec.Build(sample, 4, new Rng(1));
        var rng = new Rng(2);
        var x = Tensor.RandomNormal(rng, [8, .. sample]); // Ghost BN: virtual batches of 3, 3 and 2
        for (int step = 0; step < 3; step++)
        {
            model.ZeroGrad();
            model.Forward(x).CrossEntropy([0, 1, 2, 3, 0, 1, 2, 3]).Backward();
            Assert.All(model.Parameters(), p => Assert.True(p.Grad is { } g && g.ToFloatArray().All(float.IsFinite)));
            using var _ = Autograd.NoGrad();
            foreach (var p in model.Parameters()) p.AddInPlace(p.Grad! * -0.1f);
        }
        model.Eval();
        var probe = Tensor.RandomNormal(rng, [2, .. sample]);
        var expected = model.Forward(probe).ToFloatArray();
        Assert.All(expected, v => Assert.True(float.IsFinite(v)));

        string path = Path.Combine(dir, $"{norm}-{name}.safetensors");
        Safetensors.Write(path, model.StateDict().Select(e => new NamedTensor(e.Name, e.Tensor, e.Int64)));
        var copy = spec.Build(sample, 4, new Rng(99));
        copy.LoadStateDict(Safetensors.Read(path).Entries.Select(e => new StateEntry(e.Name, e.Tensor, e.Int64)));
        copy.Eval();
        Assert.Equal(model.StateDict().Select(e => (e.Name, e.Int64)), copy.StateDict().Select(e => (e.Name, e.Int64)));
        Assert.Equal(expected, copy.Forward(probe).ToFloatArray());
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
