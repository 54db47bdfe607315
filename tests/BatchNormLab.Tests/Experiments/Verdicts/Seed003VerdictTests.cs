using BatchNormLab.Experiments;

namespace BatchNormLab.Tests;

/// <summary>The verdict logic of seed 003's practical experiments, fed with synthetic per-seed numbers: each verdict can come out each way.</summary>
public sealed class Seed003VerdictTests
{
    static SeedValues S(string label, params double[] v) => new(label, v);

    /// <summary>Three seeds around <paramref name="v"/>, ±0.2 points.</summary>
    static SeedValues Near(string label, double v) => S(label, v, v + 0.002, v - 0.002);

    [Fact]
    public void Placement()
    {
        var before = Near("before", 0.85);
        var agrees = Experiments.Placement.Judge(before, Near("after", 0.86), Near("before, fixed", 0.84), Near("after, fixed", 0.845));
        Assert.Equal(VerdictKind.Agrees, agrees.Kind);
        Assert.Equal(8, agrees.Parts.Count);
        // after ReLU 3 points behind without γ, β
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.Placement.Judge(before, Near("after", 0.86), Near("before, fixed", 0.84), Near("after, fixed", 0.81)).Kind);
        // after ReLU far ahead: the placement is not a small matter
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.Placement.Judge(before, Near("after", 0.92), Near("before, fixed", 0.84), Near("after, fixed", 0.845)).Kind);
        // the seeds scatter over 8 points
        Assert.Equal(VerdictKind.Inconclusive, Experiments.Placement.Judge(before, S("after", 0.80, 0.88, 0.86), Near("before, fixed", 0.84), Near("after, fixed", 0.845)).Kind);
        // one configuration did not train
        Assert.Equal(VerdictKind.Inconclusive, Experiments.Placement.Judge(before, Near("after", 0.86), Near("before, fixed", 0.1), Near("after, fixed", 0.845)).Kind);
    }

    [Fact]
    public void Affine()
    {
        var (fixedBefore, fixedAfter) = (Near("fixed, before", 0.85), Near("fixed, after", 0.86));
        var agrees = Experiments.Affine.Judge(2e-7, Near("learned, before", 0.852), fixedBefore, Near("learned, after", 0.857), fixedAfter);
        Assert.Equal(VerdictKind.Agrees, agrees.Kind);
        Assert.Equal(7, agrees.Parts.Count);
        // the identity fails
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.Affine.Judge(1e-3, Near("learned, before", 0.852), fixedBefore, Near("learned, after", 0.857), fixedAfter).Kind);
        // learned γ, β cost 4 points after ReLU
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.Affine.Judge(2e-7, Near("learned, before", 0.852), fixedBefore, Near("learned, after", 0.82), fixedAfter).Kind);
        // noisy seeds
        Assert.Equal(VerdictKind.Inconclusive, Experiments.Affine.Judge(2e-7, S("learned, before", 0.80, 0.86, 0.85), fixedBefore, Near("learned, after", 0.857), fixedAfter).Kind);
    }

    [Fact]
    public void InferenceStatistics()
    {
        var trained = Near("BN", 0.85);
        var (running, population, trainingSize) = (Near("running", 0.85), Near("population", 0.853), Near("batch 128", 0.848));
        var agrees = Experiments.InferenceStatistics.Judge(trained, running, population, Near("batch 8", 0.80), trainingSize);
        Assert.Equal(VerdictKind.Agrees, agrees.Kind);
        Assert.Equal(4, agrees.Parts.Count);
        // population statistics 3 points ahead: not about the same
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.InferenceStatistics.Judge(trained, running, Near("population", 0.88), Near("batch 8", 0.80), trainingSize).Kind);
        // small test batches as good as population statistics
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.InferenceStatistics.Judge(trained, running, population, Near("batch 8", 0.852), trainingSize).Kind);
        // a gap of 1 point ± 0.6 between population and running: neither within nor beyond the margin
        Assert.Equal(VerdictKind.Inconclusive, Experiments.InferenceStatistics.Judge(trained, running, S("population", 0.86, 0.87, 0.85), Near("batch 8", 0.80), trainingSize).Kind);
    }

    [Fact]
    public void BatchSizes()
    {
        BatchSizes.Accuracies A(double small, double large) => new(Near("small", small), Near("large", large));
        var agrees = Experiments.BatchSizes.Judge(A(0.70, 0.80), A(0.79, 0.80), A(0.78, 0.79));
        Assert.Equal(VerdictKind.Agrees, agrees.Kind);
        Assert.Equal(6, agrees.Parts.Count);
        // BN holds up at the smallest batch
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.BatchSizes.Judge(A(0.795, 0.80), A(0.79, 0.80), A(0.78, 0.79)).Kind);
        // GroupNorm degrades as much as BN
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.BatchSizes.Judge(A(0.70, 0.80), A(0.71, 0.80), A(0.78, 0.79)).Kind);
        // BN's seeds scatter
        Assert.Equal(VerdictKind.Inconclusive, Experiments.BatchSizes.Judge(new(S("small", 0.6, 0.8, 0.78), Near("large", 0.80)), A(0.79, 0.80), A(0.78, 0.79)).Kind);
        // LayerNorm does not train even at the largest batch: "does not degrade" would be empty
        Assert.Equal(VerdictKind.Inconclusive, Experiments.BatchSizes.Judge(A(0.70, 0.80), A(0.79, 0.80), A(0.1, 0.1)).Kind);
    }

    [Fact]
    public void SigmoidSaturation()
    {
        var accuracy = Near("BN", 0.85);
        var (lossPlain, lossBn) = (Near("loss without BN", 0.8), Near("loss BN", 0.5));
        var agrees = Experiments.SigmoidSaturation.Judge(accuracy, Near("without BN", 0.20), Near("BN", 0.003), lossPlain, lossBn);
        Assert.Equal(VerdictKind.Agrees, agrees.Kind);
        Assert.Equal(4, agrees.Parts.Count);
        // without BN hardly more units saturate
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.SigmoidSaturation.Judge(accuracy, Near("without BN", 0.01), Near("BN", 0.003), lossPlain, lossBn).Kind);
        // BN trains no faster
        Assert.Equal(VerdictKind.DoesNotAgree, Experiments.SigmoidSaturation.Judge(accuracy, Near("without BN", 0.20), Near("BN", 0.003), lossPlain, Near("loss BN", 0.79)).Kind);
        // with BN, 2% ± 1 saturate: neither few nor clearly many
        Assert.Equal(VerdictKind.Inconclusive, Experiments.SigmoidSaturation.Judge(accuracy, Near("without BN", 0.20), S("BN", 0.01, 0.03, 0.02), lossPlain, lossBn).Kind);
    }
}
