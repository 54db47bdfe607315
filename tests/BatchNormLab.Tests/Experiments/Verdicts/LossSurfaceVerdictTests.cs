using BatchNormLab.Experiments;

namespace BatchNormLab.Tests;

/// <summary>The loss-surface verdict (plain vs BN vs skip connections) fed with synthetic per-seed numbers: each outcome is reachable.</summary>
public sealed class LossSurfaceVerdictTests
{
    static SeedValues S(string label, double v) => new(label, [v, v * 1.05, v * 0.95]);
    static readonly SeedValues Trained = S("acc", 0.8), Chance = S("acc", 0.1);

    static LossSurfacePlots.Measures M(string label, double ratio, double curvature) => new(S(label, ratio), S(label, curvature));

    static Verdict Judge(LossSurfacePlots.Measures bn, LossSurfacePlots.Measures skip, SeedValues? accBn = null) =>
        LossSurfacePlots.Judge(Trained, accBn ?? Trained, Trained, M("plain", 0.4, 2.0), bn, skip);

    [Fact]
    public void BnAndSkipsBothFlattenAndConvexifyAlike()
    {
        var verdict = Judge(M("BN", 0.1, 0.5), M("skip", 0.12, 0.6));
        Assert.Equal(VerdictKind.Agrees, verdict.Kind);
        Assert.Equal(9, verdict.Parts.Count);
        Assert.Equal(3, verdict.Parts.Count(p => p.Precondition));
    }

    [Fact]
    public void BnNoMoreConvexThanThePlainNetDoesNotAgree()
    {
        var verdict = Judge(M("BN", 0.41, 0.5), M("skip", 0.1, 0.6));
        Assert.Equal(VerdictKind.DoesNotAgree, verdict.Kind);
        Assert.Contains("with BN the surface is more convex than the plain net's: does not agree", verdict.Reason);
        Assert.Contains("BN's convexity is that of skip connections: does not agree", verdict.Reason);
    }

    [Fact]
    public void SkipsNotSmootherThanThePlainNetDoesNotAgree() =>
        Assert.Equal(VerdictKind.DoesNotAgree, Judge(M("BN", 0.1, 0.5), M("skip", 0.1, 2.5)).Kind);

    [Fact]
    public void ScatteredSeedsOrAnUntrainedNetAreInconclusive()
    {
        var scattered = new LossSurfacePlots.Measures(new("BN", [0.1, 0.5, 0.02]), S("BN", 0.5));
        Assert.Equal(VerdictKind.Inconclusive, Judge(scattered, M("skip", 0.12, 0.6)).Kind);
        Assert.Equal(VerdictKind.Inconclusive, Judge(M("BN", 0.1, 0.5), M("skip", 0.12, 0.6), accBn: Chance).Kind);
    }
}
