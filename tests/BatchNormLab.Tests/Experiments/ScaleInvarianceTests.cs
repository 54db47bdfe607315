using BatchNormLab.Experiments;
using BatchNormLab.Models;
using BatchNormLab.Nn;

namespace BatchNormLab.Tests;

public sealed class ScaleInvarianceTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-exp-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void TheLayersFeedingABatchNormAreTheConvsAndHiddenLinearsNotTheHead()
    {
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8], ScaleInvariance.FedLayers(new Vgg(11, 1, 28, 10, 0.125, new ModelOptions(Norm.BatchNorm), new Rng(0))));
        Assert.Equal([1, 2], ScaleInvariance.FedLayers(Mlp.Create(4, [8, 8], 2, new ModelOptions(Norm.BatchNorm), new Rng(0))));
        Assert.Empty(ScaleInvariance.FedLayers(Mlp.Create(4, [8, 8], 2, new ModelOptions(Norm.None), new Rng(0))));
    }

    [Fact]
    public void TinyPresetChecksTheIdentityToRoundingAndFollowsTheWeightNorms()
    {
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1);
        var result = new ScaleInvariance().Run(context);
        Assert.Equal(7, result.Verdict.Parts.Count);
        // the identity holds to float32 rounding: every check but the training-dynamics one agrees
        Assert.All(result.Verdict.Parts.Take(6), p => Assert.Equal(VerdictKind.Agrees, p.Kind));
        foreach (double a in new[] { 0.1, 10 })
        {
            Assert.True(result.Numbers[ScaleInvariance.LossKey(a)] <= ScaleInvariance.ForwardTolerance);
            Assert.True(result.Numbers[ScaleInvariance.ScaledGradientKey(a)] <= ScaleInvariance.GradientTolerance);
        }
        // without BN the same scaling moves the loss; with ε kept, BN's loss moves less than the standard network's
        Assert.True(result.Numbers[ScaleInvariance.StandardLossChangeKey(10)] > 0.1);
        Assert.True(result.Numbers[ScaleInvariance.LossChangeEpsKeptKey(0.1)] < result.Numbers[ScaleInvariance.StandardLossChangeKey(0.1)]);
        Assert.True(result.Numbers[ScaleInvariance.StandardCosineKey] > 1e-3);
        Assert.Equal(3, result.Figures.Count);
        Assert.Equal(3, result.Figures[0].Series.Count); // one per BN-fed layer of the tiny MLP (3 hidden layers)
        Assert.Equal(4, result.Tables[0].Rows.Count); // 2 seeds × 2 scale factors
        Assert.All(result.Files, f => Assert.True(File.Exists(Path.Combine(dir, "scale-invariance", f))));
    }
}
