using BatchNormLab.Experiments;

namespace BatchNormLab.Tests;

/// <summary>The verdict logic of <c>hessian</c> (Ghorbani et al.), fed with synthetic per-seed numbers: it can come out each way.</summary>
public sealed class HessianVerdictTests
{
    static SeedValues S(string label, params double[] v) => new(label, v);

    /// <summary>Three seeds close to <paramref name="v"/> (±2%).</summary>
    static SeedValues Near(string label, double v) => S(label, v, v * 1.02, v * 0.98);

    /// <summary>Ghorbani's picture: separation 80 without BN, 3 with BN, 60 with population statistics; λmax/|λmin| 50 vs 5; energy 0.9 vs 0.2.</summary>
    static SpectraAtStep Paper(int step, double separationNone = 80, double separationBatch = 3, double energyNone = 0.9, double energyBatch = 0.2) => new(step,
        new(Near("no BN", separationNone), Near("BN", separationBatch)),
        new(Near("no BN", 50), Near("BN", 5)),
        new(Near("no BN", energyNone), Near("BN", energyBatch)));

    static NetworkSpectra Network(SpectraAtStep? early = null, SpectraAtStep? end = null, SeedValues? population = null, SeedValues? accuracyNone = null) =>
        new("VGG", accuracyNone ?? Near("standard", 0.8), Near("BN", 0.85), early ?? Paper(50), end ?? Paper(500), population ?? Near("population", 60));

    [Fact]
    public void AgreesWhenEverySubClaimHolds()
    {
        var verdict = HessianSpectrum.Judge([Network()]);
        Assert.Equal(VerdictKind.Agrees, verdict.Kind);
        Assert.Equal(13, verdict.Parts.Count); // 2 preconditions, 5 about outliers, 2 × (dominance, concentration, less with BN)
    }

    [Fact]
    public void DoesNotAgreeWhenBnKeepsLargeOutliers()
    {
        // With BN λmax still stands 44× out of its bulk edge: not "nearly vanish" by the stated threshold, nor 10× below no BN's 80.
        var verdict = HessianSpectrum.Judge([Network(end: Paper(500, separationBatch: 44))]);
        Assert.Equal(VerdictKind.DoesNotAgree, verdict.Kind);
        Assert.Contains("nearly vanish: λmax/bulk edge below 10 at step 500: does not agree", verdict.Reason);
    }

    [Fact]
    public void DoesNotAgreeWhenTheGradientIsNotConcentratedWithoutBn()
    {
        var verdict = HessianSpectrum.Judge([Network(early: Paper(50, energyNone: 0.2, energyBatch: 0.1))]);
        Assert.Equal(VerdictKind.DoesNotAgree, verdict.Kind);
        Assert.Contains("mostly in the top-10 eigenspace at step 50 (Fig. 11): does not agree", verdict.Reason);
    }

    [Fact]
    public void DoesNotAgreeWhenPopulationStatisticsDoNotBringTheOutliersBack()
    {
        Assert.Equal(VerdictKind.DoesNotAgree, HessianSpectrum.Judge([Network(population: Near("population", 3))]).Kind);
    }

    [Fact]
    public void InconclusiveWhenTheSeedsScatterAcrossTheThreshold()
    {
        // Population statistics' separation 2, 30 and 100: the mean log ratio is above the threshold's but the band spans it.
        var verdict = HessianSpectrum.Judge([Network(population: S("population", 2, 30, 100))]);
        Assert.Equal(VerdictKind.Inconclusive, verdict.Kind);
    }

    [Fact]
    public void InconclusiveWhenTheNetworkWithoutBnDoesNotTrain()
    {
        // Even with a disagreeing sub-claim: a failed precondition leaves nothing to judge.
        var verdict = HessianSpectrum.Judge([Network(accuracyNone: Near("standard", 0.1), end: Paper(500, separationBatch: 44))]);
        Assert.Equal(VerdictKind.Inconclusive, verdict.Kind);
        Assert.StartsWith("precondition not met", verdict.Reason);
    }

    [Fact]
    public void InconclusiveWhenASpectrumIsMissing()
    {
        // A run diverged before the step: its values are NaN, and no seed comparison can be made.
        var end = Paper(500);
        var missing = end with { Separation = end.Separation with { None = S("no BN", double.NaN, 80, 81) } };
        Assert.Equal(VerdictKind.Inconclusive, HessianSpectrum.Judge([Network(end: missing)]).Kind);
    }
}
