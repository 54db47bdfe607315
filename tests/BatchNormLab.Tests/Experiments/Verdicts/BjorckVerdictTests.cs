using BatchNormLab.Experiments;

namespace BatchNormLab.Tests;

/// <summary>The verdict logic of the Bjorck et al. experiments, fed with synthetic per-seed numbers: each verdict can come out each way.</summary>
public sealed class BjorckVerdictTests
{
    static SeedValues S(string label, params double[] v) => new(label, v);

    const double None = -2 / 3.0; // log10 η* of a curve that never diverges in 1e-5…1e-1

    [Fact]
    public void RelativeLoss()
    {
        // the paper's picture: the standard net diverges at ≈ 1e-3, BN nowhere in the range
        var agrees = Experiments.RelativeLoss.Judge(S("standard", -3, -3, -8 / 3.0), S("BN", None, None, None));
        Assert.Equal(VerdictKind.Agrees, agrees.Kind);
        Assert.Equal(2, agrees.Parts.Count);
        // exactly at the limits: η* = 1e-2 without BN, BN 100× later
        Assert.Equal(VerdictKind.Agrees, Experiments.RelativeLoss.Judge(S("standard", -2, -2, -2), S("BN", 0, 0, 0)).Kind);
        // the standard net does not diverge in the range
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.RelativeLoss.Judge(S("standard", None, None, None), S("BN", None, None, None)).Kind);
        // BN diverges only 10× later than the standard net, inside the range
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.RelativeLoss.Judge(S("standard", -3, -3, -3), S("BN", -2, -2, -2)).Kind);
        // one seed of the standard net does not diverge in the range
        Assert.Equal(VerdictKind.Inconclusive, Experiments.RelativeLoss.Judge(S("standard", -3, -3, None), S("BN", None, None, None)).Kind);
    }

    [Fact]
    public void GradientHistogram()
    {
        var p99Bn = S("p99(BN)", 0.02, 0.021, 0.019);
        var kurtosisBn = S("kurtosis(BN)", 0.4, 0.5, 0.3);
        var agrees = Experiments.GradientHistogram.Judge(S("p99(standard)", 25, 30, 20), p99Bn, S("kurtosis(standard)", 11, 9, 12), kurtosisBn);
        Assert.Equal(VerdictKind.Agrees, agrees.Kind);
        Assert.Equal(3, agrees.Parts.Count);
        // large, but not heavy tailed
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.GradientHistogram.Judge(S("p99(standard)", 25, 30, 20), p99Bn, S("kurtosis(standard)", 0.2, 0.1, 0.3), kurtosisBn).Kind);
        // of the same size
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.GradientHistogram.Judge(S("p99(standard)", 0.03, 0.02, 0.025), p99Bn, S("kurtosis(standard)", 11, 9, 12), kurtosisBn).Kind);
        // BN heavy tailed too
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.GradientHistogram.Judge(S("p99(standard)", 25, 30, 20), p99Bn, S("kurtosis(standard)", 11, 9, 12), S("kurtosis(BN)", 5, 6, 7)).Kind);
        // the standard net's kurtosis scattered around the threshold
        Assert.Equal(VerdictKind.Inconclusive, Experiments.GradientHistogram.Judge(S("p99(standard)", 25, 30, 20), p99Bn, S("kurtosis(standard)", 1, 8, 3), kurtosisBn).Kind);
    }

    [Fact]
    public void Explosion()
    {
        var growthBn = S("growth(BN)", 1.7, 1.8, 1.75);
        var riseBn = S("rise(BN)", 1.1, 1.2, 1.15);
        var agrees = Experiments.Explosion.Judge(S("growth(standard)", 120, 90, 150), growthBn, S("rise(standard)", 1e48, 1e40, 1e45), riseBn);
        Assert.Equal(VerdictKind.Agrees, agrees.Kind);
        Assert.Equal(2, agrees.Parts.Count);
        // grows with depth, but the step does not blow it up
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.Explosion.Judge(S("growth(standard)", 120, 90, 150), growthBn, S("rise(standard)", 2, 3, 2.5), riseBn).Kind);
        // the blow-up overflowed on one seed: no finite value to judge
        Assert.Equal(VerdictKind.Inconclusive, Experiments.Explosion.Judge(S("growth(standard)", 120, 90, 150), growthBn, S("rise(standard)", 1e48, double.PositiveInfinity, 1e45), riseBn).Kind);
        // growth with depth scattered across the margin
        Assert.Equal(VerdictKind.Inconclusive, Experiments.Explosion.Judge(S("growth(standard)", 2, 200, 20), growthBn, S("rise(standard)", 1e48, 1e40, 1e45), riseBn).Kind);
    }

    [Fact]
    public void SmallLr()
    {
        var bnSmall = S("BN, lr 0.01", 0.80, 0.81, 0.79);
        var agrees = Experiments.SmallLr.Judge(bnSmall, S("standard, lr 0.01", 0.79, 0.80, 0.795), S("BN, lr 0.1", 0.87, 0.88, 0.86));
        Assert.Equal(VerdictKind.Agrees, agrees.Kind);
        Assert.Equal(4, agrees.Parts.Count);
        // at the small rate BN is already far ahead
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.SmallLr.Judge(bnSmall, S("standard, lr 0.01", 0.60, 0.62, 0.58), S("BN, lr 0.1", 0.87, 0.88, 0.86)).Kind);
        // the larger rate does not help BN
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.SmallLr.Judge(bnSmall, S("standard, lr 0.01", 0.79, 0.80, 0.795), S("BN, lr 0.1", 0.80, 0.805, 0.795)).Kind);
        // BN at the small rate does not train: nothing to compare
        Assert.Equal(VerdictKind.Inconclusive, Experiments.SmallLr.Judge(S("BN, lr 0.01", 0.1, 0.12, 0.1), S("standard, lr 0.01", 0.1, 0.1, 0.1), S("BN, lr 0.1", 0.87, 0.88, 0.86)).Kind);
        // the seeds scatter across the equivalence margin
        Assert.Equal(VerdictKind.Inconclusive, Experiments.SmallLr.Judge(bnSmall, S("standard, lr 0.01", 0.70, 0.80, 0.76), S("BN, lr 0.1", 0.87, 0.88, 0.86)).Kind);
    }
}
