using BatchNormLab.QuadraticTheory;
using BatchNormLab.Experiments;

namespace BatchNormLab.Tests;

/// <summary>The quadratic experiment's verdict (seed 004), fed with synthetic per-draw numbers: it can come out each way.</summary>
public sealed class QuadraticVerdictTests
{
    static SeedValues S(string label, params double[] v) => new(label, v);

    static readonly DescentTrace Converges = new(0.0198, 1e-6, [1, 0.5, 1e-7], 2, Diverged: false);
    static readonly DescentTrace Diverges = new(0.0202, 1e-6, [1, 2, 2000], null, Diverged: true);

    /// <summary>N = 100, m = v = 1: outlier 101, Marchenko–Pastur edges 0.4675 and 1.7325, 50 zeros for p = 50; raw GD needs 1,300 steps, standardised 100.</summary>
    static QuadraticSurface.Evidence Theory() => new(
        S("λmax", 101.2, 100.9, 101.1), 101, S("overlap", 0.999, 0.998, 0.999), S("low", 0.47, 0.46, 0.475), 0.4675, S("high", 1.72, 1.74, 1.73), 1.7325,
        [50, 50, 50], 50, 0.01, Converges, Diverges,
        S("raw", 1300, 1350, 1280), S("standardised", 100, 105, 98), S("BN", 101, 105, 98), S("rough rule", 1500, 1520, 1490));

    [Fact]
    public void AgreesWhenEverySubClaimHolds()
    {
        var verdict = QuadraticSurface.Judge(Theory());
        Assert.Equal(VerdictKind.Agrees, verdict.Kind);
        Assert.Equal(10, verdict.Parts.Count);
    }

    [Fact]
    public void DoesNotAgreeWhenAnOutlierOrTheSlowdownIsMissingOrACheckFails()
    {
        Assert.Equal(VerdictKind.DoesNotAgree, QuadraticSurface.Judge(Theory() with { Outliers = S("λmax", 50, 51, 49) }).Kind);
        Assert.Equal(VerdictKind.DoesNotAgree, QuadraticSurface.Judge(Theory() with { StandardisedSteps = S("standardised", 1000, 1100, 990) }).Kind);
        Assert.Equal(VerdictKind.DoesNotAgree, QuadraticSurface.Judge(Theory() with { FewZeros = [50, 49, 50] }).Kind);
        Assert.Equal(VerdictKind.DoesNotAgree, QuadraticSurface.Judge(Theory() with { AboveEdge = Converges }).Kind);
        Assert.Equal(VerdictKind.DoesNotAgree, QuadraticSurface.Judge(Theory() with { WorstStepsError = 0.3 }).Kind);
    }

    [Fact]
    public void InconclusiveWhenTheDrawsScatterAcrossTheMarginOrARunNeverConverges()
    {
        Assert.Equal(VerdictKind.Inconclusive, QuadraticSurface.Judge(Theory() with { CentredLow = S("low", 0.40, 0.50, 0.46) }).Kind);
        Assert.Equal(VerdictKind.Inconclusive, QuadraticSurface.Judge(Theory() with { RawSteps = S("raw", 1300, double.NaN, 1280) }).Kind);
    }
}
