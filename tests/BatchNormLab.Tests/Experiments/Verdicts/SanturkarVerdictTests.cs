using BatchNormLab.Experiments;

namespace BatchNormLab.Tests;

/// <summary>The verdict logic of the Santurkar et al. experiments on the shared VGG runs, fed with synthetic per-seed numbers: each verdict can come out each way.</summary>
public sealed class SanturkarVerdictTests
{
    static SeedValues S(string label, params double[] v) => new(label, v);

    [Fact]
    public void Activations()
    {
        var standard = S("standard", 0.05, 0.06, 0.055);
        Assert.Equal(VerdictKind.Agrees, Experiments.Activations.Judge(standard, S("BN", 0.04, 0.05, 0.045), S("noisy BN", 0.2, 0.22, 0.21)).Kind);
        // BN markedly steadier than the standard network: not marginal
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.Activations.Judge(standard, S("BN", 0.005, 0.006, 0.007), S("noisy BN", 0.2, 0.22, 0.21)).Kind);
        // noisy BN no less stable
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.Activations.Judge(standard, S("BN", 0.05, 0.05, 0.05), S("noisy BN", 0.05, 0.06, 0.055)).Kind);
        // seeds scattered over a factor of ten
        Assert.Equal(VerdictKind.Inconclusive, Experiments.Activations.Judge(standard, S("BN", 0.01, 0.1, 0.05), S("noisy BN", 0.2, 0.22, 0.21)).Kind);
    }

    [Fact]
    public void NoisyBn()
    {
        var bn = S("BN", 0.88, 0.89, 0.87);
        Assert.Equal(VerdictKind.Agrees, Experiments.NoisyBn.Judge(bn, S("noisy BN", 0.86, 0.87, 0.86), S("noise", 0.1, 0.1, 0.1)).Kind);
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.NoisyBn.Judge(bn, S("noisy BN", 0.7, 0.71, 0.69), S("noise", 0.1, 0.1, 0.1)).Kind);
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.NoisyBn.Judge(bn, S("noisy BN", 0.86, 0.87, 0.86), S("noise", 0.85, 0.86, 0.85)).Kind);
        Assert.Equal(VerdictKind.Inconclusive, Experiments.NoisyBn.Judge(bn, S("noisy BN", 0.80, 0.88, 0.86), S("noise", 0.1, 0.1, 0.1)).Kind);
        // BN did not train: nothing to compare with
        Assert.Equal(VerdictKind.Inconclusive, Experiments.NoisyBn.Judge(S("BN", 0.1, 0.1, 0.1), S("noisy BN", 0.1, 0.1, 0.1), S("noise", 0.1, 0.1, 0.1)).Kind);
    }

    [Fact]
    public void LpNormalisation()
    {
        var bn = S("BN", 0.86, 0.87, 0.86);
        var standardShift = S("standard", 0.05, 0.06, 0.05);
        Verdict Judge(SeedValues accuracy, SeedValues shift) => Experiments.LpNormalisation.Judge(bn, [S("L1", 0.87, 0.86, 0.87), accuracy], standardShift, [shift]);
        Assert.Equal(VerdictKind.Agrees, Judge(S("L2 uncentred", 0.86, 0.87, 0.86), S("L2 uncentred", 0.1, 0.12, 0.11)).Kind);
        Assert.Equal(VerdictKind.DoesNotAgree, Judge(S("L2 uncentred", 0.6, 0.62, 0.61), S("L2 uncentred", 0.1, 0.12, 0.11)).Kind);
        Assert.Equal(VerdictKind.DoesNotAgree, Judge(S("L2 uncentred", 0.86, 0.87, 0.86), S("L2 uncentred", 0.05, 0.055, 0.05)).Kind);
        Assert.Equal(VerdictKind.Inconclusive, Judge(S("L2 uncentred", 0.87, 0.76, 0.86), S("L2 uncentred", 0.1, 0.12, 0.11)).Kind);
    }

    [Fact]
    public void LrSweep()
    {
        SeedValues Same(string label, double v) => S(label, v, v + 0.005, v - 0.005);
        var agrees = Experiments.LrSweep.Judge(Same("loss BN", 0.5), Same("loss standard", 0.8), Same("BN", 0.85), Same("standard", 0.82), Same("BN", 0.84), Same("standard", 0.1));
        Assert.Equal(VerdictKind.Agrees, agrees.Kind);
        Assert.Equal(5, agrees.Parts.Count);
        // the standard network trains as well at the larger rate
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.LrSweep.Judge(Same("loss BN", 0.5), Same("loss standard", 0.8), Same("BN", 0.85), Same("standard", 0.82), Same("BN", 0.84), Same("standard", 0.84)).Kind);
        // at the larger rate the seeds disagree
        Assert.Equal(VerdictKind.Inconclusive, Experiments.LrSweep.Judge(Same("loss BN", 0.5), Same("loss standard", 0.8), Same("BN", 0.85), Same("standard", 0.82), S("BN", 0.84, 0.84, 0.84), S("standard", 0.1, 0.84, 0.84)).Kind);
    }
}
