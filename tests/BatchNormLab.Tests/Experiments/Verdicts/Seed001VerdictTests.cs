using BatchNormLab.Experiments;

namespace BatchNormLab.Tests;

/// <summary>The verdict logic of the seed 001 experiments (scale invariance, sensitivity to initialisation), fed with synthetic numbers: each verdict can come out each way.</summary>
public sealed class Seed001VerdictTests
{
    static SeedValues S(string label, params double[] v) => new(label, v);

    static readonly SeedValues BnTrains = S("BN", 0.86, 0.87, 0.85);

    static IReadOnlyList<ScaleInvariance.InvarianceCheck> Exact(double loss = 3e-7, double gradient = 5e-7) =>
        [new(0.1, 3e-7, loss, gradient, gradient), new(10, 3e-7, 3e-7, 5e-7, 5e-7)];

    [Fact]
    public void ScaleInvariance()
    {
        var falls = S("η_eff(T)/η_eff(0)", 0.5, 0.52, 0.48);
        var agrees = Experiments.ScaleInvariance.Judge(BnTrains, Exact(), 1e-5, falls);
        Assert.Equal(VerdictKind.Agrees, agrees.Kind);
        Assert.Equal(7, agrees.Parts.Count);
        // the loss moves when the weights are scaled: no invariance
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.ScaleInvariance.Judge(BnTrains, Exact(loss: 1e-2), 1e-5, falls).Kind);
        // the gradient does not follow 1/a
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.ScaleInvariance.Judge(BnTrains, Exact(gradient: 0.05), 1e-5, falls).Kind);
        // the gradient is not orthogonal to W
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.ScaleInvariance.Judge(BnTrains, Exact(), 0.2, falls).Kind);
        // the weight norm does not grow: the effective rate stays
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.ScaleInvariance.Judge(BnTrains, Exact(), 1e-5, S("η_eff(T)/η_eff(0)", 1.0, 0.99, 1.01)).Kind);
        // the seeds scatter around the margin
        Assert.Equal(VerdictKind.Inconclusive, Experiments.ScaleInvariance.Judge(BnTrains, Exact(), 1e-5, S("η_eff(T)/η_eff(0)", 0.3, 1.2, 0.9)).Kind);
        // BN did not train: nothing to say about a trained network
        Assert.Equal(VerdictKind.Inconclusive, Experiments.ScaleInvariance.Judge(S("BN", 0.1, 0.1, 0.1), Exact(), 1e-5, falls).Kind);
    }

    [Fact]
    public void InitSensitivity()
    {
        var standardBest = S("standard, best scheme", 0.84, 0.85, 0.83);
        var bnSpread = S("spread(BN)", 0.01, 0.012, 0.008);
        var agrees = Experiments.InitSensitivity.Judge(BnTrains, standardBest, bnSpread, S("spread(standard)", 0.1, 0.12, 0.09));
        Assert.Equal(VerdictKind.Agrees, agrees.Kind);
        Assert.Equal(3, agrees.Parts.Count);
        // the standard network is as insensitive as BN
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.InitSensitivity.Judge(BnTrains, standardBest, bnSpread, S("spread(standard)", 0.01, 0.015, 0.012)).Kind);
        // one seed's standard network is far more sensitive than the others'
        Assert.Equal(VerdictKind.Inconclusive, Experiments.InitSensitivity.Judge(BnTrains, standardBest, bnSpread, S("spread(standard)", 0.01, 0.3, 0.05)).Kind);
        // the standard network trains from no scheme: its zero spread says nothing
        Assert.Equal(VerdictKind.Inconclusive, Experiments.InitSensitivity.Judge(BnTrains, S("standard, best scheme", 0.1, 0.1, 0.1), bnSpread, S("spread(standard)", 0, 0, 0)).Kind);
    }
}
