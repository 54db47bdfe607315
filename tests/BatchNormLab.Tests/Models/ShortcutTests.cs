using BatchNormLab.Models;
using BatchNormLab.Nn;

namespace BatchNormLab.Tests;

/// <summary>The "-noshort" nets (Li et al. 2018) are their ResNet's layers without the skip connections.</summary>
public sealed class ShortcutTests
{
    static readonly Tensor Input = Tensor.RandomNormal(new Rng(5), [4, 1, 8, 8]);

    /// <summary>Zeroes every block's second layer (and its bias), so each block's branch adds nothing.</summary>
    static Module WithSilentBranches(Module model)
    {
        using var _ = Autograd.NoGrad();
        foreach (var (name, p) in model.NamedParameters())
            if (name.Contains(".conv2.") || name.Contains(".fc2.")) p.Fill(0);
        return model;
    }

    static double[] Logits(Module model)
    {
        model.Eval();
        return model.Forward(Input).ToDoubleArray();
    }

    [Theory]
    [InlineData(Norm.None)]
    [InlineData(Norm.BatchNorm)]
    public void ResidualMlpWithoutShortcutsHasTheSameInitialWeightsAndDropsOnlyTheSkips(Norm norm)
    {
        var options = new ModelOptions(norm, Init: InitScheme.Kaiming);
        var skip = new ModelSpec("resmlp8", options, Width: 6).Build([1, 8, 8], 3, new Rng(2));
        var plain = new ModelSpec("resmlp8-noshort", options, Width: 6).Build([1, 8, 8], 3, new Rng(2));
        var (a, b) = (skip.StateDict(), plain.StateDict());
        Assert.Equal(a.Select(e => e.Name), b.Select(e => e.Name));
        Assert.Contains("blocks.2.fc2.weight", a.Select(e => e.Name)); // depth 8: stem, 3 blocks of 2, head
        Assert.All(a.Zip(b), p => Assert.Equal(p.First.Tensor?.ToDoubleArray(), p.Second.Tensor?.ToDoubleArray()));

        // With every branch silent, a block passes x through with the skip (ReLU(0 + x) = x, x ≥ 0 already) and outputs ReLU(0) = 0 without it:
        // the plain net's logits are the head's bias whatever the input, the residual net's are the head applied to the stem.
        var headBias = plain.NamedParameters().Single(p => p.Name == "head.bias").Tensor.ToDoubleArray();
        var plainLogits = Logits(WithSilentBranches(plain));
        for (int i = 0; i < 4; i++) Assert.Equal(headBias, plainLogits[(3 * i)..(3 * i + 3)]);
        Assert.NotEqual(plainLogits, Logits(WithSilentBranches(skip)));
    }

    [Fact]
    public void ResNetWithoutShortcutsDropsTheProjectionsAndTheSkips()
    {
        var options = new ModelOptions(Norm.None, Init: InitScheme.Kaiming);
        var skip = new ModelSpec("resnet8", options).Build([1, 8, 8], 3, new Rng(2));
        var plain = new ModelSpec("resnet8-noshort", options).Build([1, 8, 8], 3, new Rng(2));
        Assert.Equal(skip.StateDict().Select(e => e.Name).Where(n => !n.Contains("shortcut")), plain.StateDict().Select(e => e.Name));
        Assert.Contains(skip.StateDict(), e => e.Name.Contains("shortcut"));
        var headBias = plain.NamedParameters().Single(p => p.Name == "linear.bias").Tensor.ToDoubleArray();
        var plainLogits = Logits(WithSilentBranches(plain));
        for (int i = 0; i < 4; i++) Assert.Equal(headBias, plainLogits[(3 * i)..(3 * i + 3)], new ToleranceComparer(1e-6));
        Assert.NotEqual(plainLogits, Logits(WithSilentBranches(skip)));
        Assert.True(ModelSpec.IsKnown("resnet56-noshort") && ModelSpec.IsKnown("resmlp20-noshort") && !ModelSpec.IsKnown("resmlp7"));
    }

    sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(double obj) => 0;
    }
}
