using BatchNormLab.Experiments;

namespace BatchNormLab.Tests;

/// <summary>The verdict logic of ics, landscape and theory (Santurkar et al. Figs. 3, 4, 9 and §4), fed with synthetic per-seed numbers: each verdict can come out each way.</summary>
public sealed class ProbesVerdictTests
{
    static SeedValues S(string label, params double[] v) => new(label, v);

    static readonly SeedValues Trained = S("acc", 0.85, 0.86, 0.84);

    /// <summary>BN's values about <paramref name="ratio"/> × the standard network's, with a little seed noise.</summary>
    static BnVsStandard Ratio(double ratio, double level = 0.2) =>
        new(S("BN", ratio * level, ratio * level * 1.02, ratio * level * 0.98), S("standard", level, level * 1.01, level * 0.99));

    [Fact]
    public void Ics()
    {
        Assert.Equal(VerdictKind.Agrees, Experiments.Ics.Judge(Trained, Trained, Ratio(1.0), Ratio(1.6)).Kind);
        // VGG: BN's ICS half the standard network's: reduced
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.Ics.Judge(Trained, Trained, Ratio(0.5), Ratio(1.6)).Kind);
        // DLN: BN's ICS about the same: not increased
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.Ics.Judge(Trained, Trained, Ratio(1.0), Ratio(1.05)).Kind);
        // DLN: the seeds scatter from ×0.5 to ×4
        Assert.Equal(VerdictKind.Inconclusive, Experiments.Ics.Judge(Trained, Trained, Ratio(1.0), new BnVsStandard(S("BN", 0.1, 0.8, 0.4), S("standard", 0.2, 0.2, 0.2))).Kind);
        // the standard VGG did not train
        Assert.Equal(VerdictKind.Inconclusive, Experiments.Ics.Judge(Trained, S("acc", 0.1, 0.1, 0.1), Ratio(1.0), Ratio(1.6)).Kind);
    }

    [Fact]
    public void Landscape()
    {
        var smooth = new LandscapeMeasures(Ratio(0.1), Ratio(0.2), Ratio(0.3));
        var agrees = Experiments.Landscape.Judge(Trained, Trained, smooth, smooth);
        Assert.Equal(VerdictKind.Agrees, agrees.Kind);
        Assert.Equal(8, agrees.Parts.Count);
        // VGG's β-smoothness only 20% smaller: not "much smaller"
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.Landscape.Judge(Trained, Trained, smooth with { BetaSmoothness = Ratio(0.8) }, smooth).Kind);
        // the DLN's gradient predictiveness: one seed without a finite probe
        var missing = new BnVsStandard(S("BN", 0.01, double.NaN, 0.01), S("standard", 0.2, 0.2, 0.2));
        Assert.Equal(VerdictKind.Inconclusive, Experiments.Landscape.Judge(Trained, Trained, smooth, smooth with { GradientPredictiveness = missing }).Kind);
    }

    [Fact]
    public void Theory()
    {
        var smaller = Ratio(0.3);
        Assert.Equal(VerdictKind.Agrees, Experiments.Theory.Judge(Trained, Trained, smaller, smaller, smaller, smaller).Kind);
        // BN's weights travel farther from their initial values
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.Theory.Judge(Trained, Trained, smaller, smaller, smaller, Ratio(2)).Kind);
        // the second-order term: seeds on both sides of the margin
        var scattered = new BnVsStandard(S("BN", 0.05, 0.4, 0.15), S("standard", 0.2, 0.2, 0.2));
        Assert.Equal(VerdictKind.Inconclusive, Experiments.Theory.Judge(Trained, Trained, smaller, scattered, smaller, smaller).Kind);
        // a single seed: no noise estimate
        var one = new BnVsStandard(S("BN", 0.05), S("standard", 0.2));
        Assert.Equal(VerdictKind.Inconclusive, Experiments.Theory.Judge(S("acc", 0.85), S("acc", 0.85), one, one, one, one).Kind);
    }
}
