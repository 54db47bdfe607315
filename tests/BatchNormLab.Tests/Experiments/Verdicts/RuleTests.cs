using BatchNormLab.Experiments;

namespace BatchNormLab.Tests;

public sealed class RuleTests
{
    static SeedValues S(string label, params double[] v) => new(label, v);

    [Theory]
    // Greater, margin 1: clearly above; clearly not (band below the margin); noisy in between.
    [InlineData(Claimed.Greater, new[] { 3.0, 3.1, 2.9 }, VerdictKind.Agrees)]
    [InlineData(Claimed.Greater, new[] { 0.2, 0.3, 0.1 }, VerdictKind.DoesNotAgree)]
    [InlineData(Claimed.Greater, new[] { 3.0, -2.0, 1.5 }, VerdictKind.Inconclusive)]
    [InlineData(Claimed.Less, new[] { -3.0, -3.1, -2.9 }, VerdictKind.Agrees)]
    [InlineData(Claimed.Less, new[] { 0.2, 0.3, 0.1 }, VerdictKind.DoesNotAgree)]
    [InlineData(Claimed.Less, new[] { -3.0, 2.0, -1.5 }, VerdictKind.Inconclusive)]
    [InlineData(Claimed.Same, new[] { 0.1, -0.1, 0.0 }, VerdictKind.Agrees)]
    [InlineData(Claimed.Same, new[] { 3.0, 3.2, 2.8 }, VerdictKind.DoesNotAgree)]
    [InlineData(Claimed.Same, new[] { 0.5, 2.0, -0.5 }, VerdictKind.Inconclusive)]
    [InlineData(Claimed.NotLess, new[] { -0.5, -0.4, -0.6 }, VerdictKind.Agrees)]
    [InlineData(Claimed.NotLess, new[] { -3.0, -3.2, -2.8 }, VerdictKind.DoesNotAgree)]
    [InlineData(Claimed.NotLess, new[] { -1.0, 1.0, -3.0 }, VerdictKind.Inconclusive)]
    [InlineData(Claimed.NotGreater, new[] { 0.5, 0.4, 0.6 }, VerdictKind.Agrees)]
    [InlineData(Claimed.NotGreater, new[] { 3.0, 3.2, 2.8 }, VerdictKind.DoesNotAgree)]
    [InlineData(Claimed.NotGreater, new[] { 1.0, -1.0, 3.0 }, VerdictKind.Inconclusive)]
    public void EveryClaimCanComeOutEachWay(Claimed claimed, double[] differences, VerdictKind expected)
    {
        var rule = new Rule(claimed, 1);
        var judged = rule.Judge("claim", S("a", differences), S("b", 0, 0, 0));
        Assert.Equal(expected, judged.Kind);
        Assert.Equal(differences.Average(), judged.Mean, 12);
    }

    [Fact]
    public void PairsBySeedAndReportsTheStandardErrorOfTheMeanDifference()
    {
        // a − b = 1, 2, 3 per seed although a and b each vary far more than that
        var judged = new Rule(Claimed.Greater, 0.5).Judge("claim", S("a", 11, 102, 1003), S("b", 10, 100, 1000));
        Assert.Equal(2, judged.Mean, 12);
        Assert.Equal(1 / Math.Sqrt(3), judged.StandardError, 12);
        Assert.Equal(VerdictKind.Agrees, judged.Kind);
        Assert.Equal(2, judged.Values.Count);
        Assert.Throws<ArgumentException>(() => new Rule(Claimed.Greater, 0).Judge("claim", S("a", 1, 2), S("b", 1, 2, 3)));
    }

    [Fact]
    public void RatioScaleComparesLogsAndTheMarginIsAFactor()
    {
        var twice = Rule.Factor(Claimed.Greater, 2);
        Assert.Equal(VerdictKind.Agrees, twice.Judge("c", S("a", 30, 40, 50), S("b", 10, 10, 10)).Kind);
        Assert.Equal(VerdictKind.DoesNotAgree, twice.Judge("c", S("a", 12, 13, 11), S("b", 10, 10, 10)).Kind);
        var judged = twice.Judge("c", S("a", 20, 20, 20), S("b", 10, 10, 10));
        Assert.Equal(Math.Log(2), judged.Mean, 12);
        // not positive: no ratio
        Assert.Equal(VerdictKind.Inconclusive, twice.Judge("c", S("a", 20, 0, 20), S("b", 10, 10, 10)).Kind);
    }

    [Fact]
    public void OneSeedOrANonFiniteValueIsInconclusive()
    {
        var rule = new Rule(Claimed.Greater, 0);
        var one = rule.Judge("c", S("a", 100), S("b", 0));
        Assert.Equal(VerdictKind.Inconclusive, one.Kind);
        Assert.Contains("one value: no noise estimate", one.Result);
        Assert.Equal(VerdictKind.Inconclusive, rule.Judge("c", S("a", 5, double.NaN, 5), S("b", 0, 0, 0)).Kind);
    }

    [Fact]
    public void AgainstAConstantUsesTheOneSampleError()
    {
        var rule = Rule.Accuracy(Claimed.Greater, 10);
        Assert.Equal(VerdictKind.Agrees, rule.Judge("trains", S("BN", 0.85, 0.86, 0.84), 0.1, "chance").Kind);
        Assert.Equal(VerdictKind.DoesNotAgree, rule.Judge("trains", S("BN", 0.1, 0.1, 0.1), 0.1, "chance").Kind);
        Assert.Contains("points", rule.Judge("trains", S("BN", 0.85, 0.86, 0.84), 0.1, "chance").Result);
    }

    [Fact]
    public void TheRuleInWordsNamesTheQuantitiesAndTheMargin()
    {
        string text = Rule.Factor(Claimed.Less, 1.5).Describe("β(BN)", "β(standard)");
        Assert.Contains("ln(β(BN) / β(standard))", text);
        Assert.Contains("ln 1.5", text);
        Assert.Contains("2 SE", Rule.Accuracy(Claimed.Same, 5).Describe("a", "b"));
        Assert.Contains("5 points", Rule.Accuracy(Claimed.Same, 5).Describe("a", "b"));
    }

    static Judgement J(VerdictKind kind, bool precondition = false) => new("c", "r", kind, "x") { Precondition = precondition };

    [Fact]
    public void AVerdictIsTheConjunctionOfItsSubClaims()
    {
        Assert.Equal(VerdictKind.Agrees, Verdict.Of([J(VerdictKind.Agrees), J(VerdictKind.Agrees)]).Kind);
        Assert.Equal(VerdictKind.DoesNotAgree, Verdict.Of([J(VerdictKind.Agrees), J(VerdictKind.DoesNotAgree), J(VerdictKind.Inconclusive)]).Kind);
        Assert.Equal(VerdictKind.Inconclusive, Verdict.Of([J(VerdictKind.Agrees), J(VerdictKind.Inconclusive)]).Kind);
        // a precondition that does not hold makes it inconclusive, whatever the rest says
        Assert.Equal(VerdictKind.Inconclusive, Verdict.Of([J(VerdictKind.DoesNotAgree, precondition: true), J(VerdictKind.DoesNotAgree)]).Kind);
        var verdict = Verdict.Of([J(VerdictKind.Agrees, precondition: true), J(VerdictKind.Agrees)]);
        Assert.Equal(VerdictKind.Agrees, verdict.Kind);
        Assert.Equal(2, verdict.Parts.Count);
        Assert.StartsWith("1 of 1 sub-claims agree", verdict.Reason);
        Assert.Throws<ArgumentException>(() => Verdict.Of([]));
    }

    [Fact]
    public void SubClaimsSurviveTheResultJson()
    {
        var verdict = Verdict.Of([Rule.Factor(Claimed.Less, 2).Judge("smaller", S("BN", 1, 2, 1.5), S("standard", 10, 30, 20)),
            new Rule(Claimed.Greater, 0).Judge("one seed", S("a", 1), S("b", 0)).AsPrecondition()]);
        var result = new ExperimentResult("x", "Fig. 1", "claim", "s", "d", verdict, [], [], new Dictionary<ResultKey, double>(), [], 1) { Source = "Paper §1", Seeds = [7, 8, 9] };
        var back = ResultJson.Deserialize(ResultJson.Serialize(result));
        Assert.Equal(result.Source, back.Source);
        Assert.Equal(result.Seeds, back.Seeds);
        Assert.Equal(verdict.Kind, back.Verdict.Kind);
        Assert.Equal(verdict.Parts.Select(p => (p.Claim, p.Kind, p.Rule, p.Result, p.Precondition)), back.Verdict.Parts.Select(p => (p.Claim, p.Kind, p.Rule, p.Result, p.Precondition)));
        Assert.Equal(verdict.Parts[0].Values.SelectMany(v => v.Values), back.Verdict.Parts[0].Values.SelectMany(v => v.Values));
        Assert.Equal(verdict.Parts[0].Mean, back.Verdict.Parts[0].Mean);
        Assert.True(double.IsNaN(back.Verdict.Parts[1].StandardError));
    }
}
