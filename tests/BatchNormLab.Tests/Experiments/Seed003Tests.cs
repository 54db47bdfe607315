using BatchNormLab.Data;
using BatchNormLab.Experiments;
using BatchNormLab.Models;
using BatchNormLab.Nn;
using BatchNormLab.Training;

namespace BatchNormLab.Tests;

/// <summary>Seed 003's practical questions: placement, affine, sigmoid, inference-stats.</summary>
public sealed class Seed003Tests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-seed003-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void TinyPresetRunsTheFourExperimentsSharingRuns()
    {
        var trained = new List<string>();
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1, new Started(trained));
        var placement = new Placement().Run(context);
        var affine = new Affine().Run(context);
        var sigmoid = new SigmoidSaturation().Run(context);
        var inference = new InferenceStatistics().Run(context);
        // Placement trains 4 configurations × 2 seeds; affine and inference-stats reuse them, sigmoid trains its two per seed.
        Assert.Equal(12, trained.Count);
        // Runs train side by side, so only which ones started is fixed, not in what order.
        Assert.Equal(["sigmoid with BN, seed 1", "sigmoid with BN, seed 2", "sigmoid without BN, seed 1", "sigmoid without BN, seed 2"], trained[^4..].Order());
        foreach (var (result, name) in new[] { (placement, "placement"), (affine, "affine"), (sigmoid, "sigmoid"), (inference, "inference-stats") })
        {
            Assert.Equal([1UL, 2UL], result.Seeds);
            Assert.Matches(@"\d", result.Verdict.Reason);
            Assert.NotEmpty(result.Verdict.Parts);
            Assert.All(result.Verdict.Parts.Where(p => p.Values.Count > 0), p => Assert.All(p.Values, v => Assert.Equal(2, v.Values.Count)));
            Assert.NotEmpty(result.Figures);
            Assert.All(result.Figures, f => Assert.All(f.Series, s => Assert.Equal(s.X.Length, s.Y.Length)));
            Assert.Contains(result.Files, f => f.EndsWith(".csv", StringComparison.Ordinal) && !f.EndsWith(".metrics.csv", StringComparison.Ordinal));
            Assert.All(result.Files, f => Assert.True(File.Exists(Path.Combine(dir, name, f)), f));
        }
        Assert.Equal(1 + 8, File.ReadAllLines(Path.Combine(dir, "placement", "placement.csv")).Length);
        Assert.Equal(8, placement.Verdict.Parts.Count);
        Assert.True(affine.Numbers[Affine.RelativeIdentityErrorKey] < Affine.IdentityTolerance);
        Assert.Equal(placement.Numbers[SeededRuns.TestAccuracyKey("BN before ReLU")], affine.Numbers[SeededRuns.TestAccuracyKey("BN before ReLU")]);
        Assert.InRange(sigmoid.Numbers[SigmoidSaturation.SaturationKey("sigmoid without BN")], 0, 1);
        // The tiny preset evaluates on the whole test set, so the running averages' accuracy is the shared BN run's own test accuracy, seed by seed.
        var beforeRelu = placement.Verdict.Parts.Single(p => p.Claim == "BN before ReLU trains").Values[0];
        var running = inference.Verdict.Parts.Single(p => p.Claim.StartsWith("population statistics", StringComparison.Ordinal)).Values[1];
        Assert.Equal("running averages", running.Label);
        Assert.Equal(beforeRelu.Values, running.Values);
        Assert.Contains(SeededRuns.TestAccuracyKey(InferenceStatistics.BatchLabel(8)), inference.Numbers.Keys);
        Assert.Contains(SeededRuns.TestAccuracyKey(InferenceStatistics.PopulationLabel(100)), inference.Numbers.Keys);
    }

    [Fact]
    public void TheFourAreRegisteredTogetherInOrder()
    {
        int first = Experiment.All.ToList().FindIndex(e => e is Placement);
        Assert.Equal(["placement", "affine", "sigmoid", "inference-stats"], Experiment.All.Skip(first).Take(4).Select(e => e.Name));
        Assert.IsType<InferenceStatistics>(Experiment.Find("inference-stats"));
    }

    [Fact]
    public void SameSeedGivesTheSameNumbers()
    {
        ExperimentResult Run(string sub) => new SigmoidSaturation().Run(new ExperimentContext(Path.Combine(dir, sub), Preset.Tiny, null, threads: 2, seed: 4));
        Assert.Equal(Run("a").Numbers, Run("b").Numbers);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void BatchNormWithGammaSigmaAndBetaMuIsTheIdentity(int rank)
    {
        // Far from zero mean, unequal scales per channel: the normalisation does real work before γ, β undo it.
        int[] shape = rank == 2 ? [32, 5] : [8, 5, 3, 3];
        var x = Tensor.RandomNormal(new Rng(9), shape, mean: 40, std: 3);
        double max = x.ToDoubleArray().Max(Math.Abs);
        double error = Affine.IdentityError(x);
        Assert.True(error <= Affine.IdentityTolerance * max, $"max |BN(x) − x| = {error} for max |x| = {max}");
        // Without γ, β set, BN moves the input far: the check is not vacuous.
        var plain = rank == 2 ? (BatchNorm)new BatchNorm1d(5) : new BatchNorm2d(5);
        Assert.True(plain.Forward(x).ToDoubleArray().Zip(x.ToDoubleArray()).Max(p => Math.Abs(p.First - p.Second)) > 10);
        var (mean, variance) = Affine.ChannelMoments(Tensor.FromArray([1f, 10f, 3f, 20f], 2, 2));
        Assert.Equal([2.0, 15], mean);
        Assert.Equal([1.0, 25], variance);
    }

    [Fact]
    public void SaturatedFractionCountsMagnitudesBeyondTheThreshold()
    {
        float[] values = [-5f, -4f, -3.9f, 0f, 4f, 4.01f, 10f, float.NaN];
        Assert.Equal(0.5, SaturationProbe.SaturatedFraction(values, 4)); // −5, 4.01, 10 and NaN; ±4 itself is not beyond
        Assert.Equal(0.25, SaturationProbe.SaturatedFraction(values, 5));
    }

    [Fact]
    public void SaturationProbeReadsEachSigmoidsInputOnTheTrainingBatch()
    {
        // One batch holding the whole set, so its order does not matter: x = (1, 0), (0, 1), (2, 2), (−1, 3).
        var inputs = Tensor.FromArray([1f, 0f, 0f, 1f, 2f, 2f, -1f, 3f], 4, 2);
        var data = new Dataset("hand-made", inputs, [0, 1, 0, 1], 2);
        var first = new Linear(2, 3);
        first.Weight.CopyFrom(Tensor.FromArray([3f, 0f, 0f, 5f, 1f, 1f], 3, 2)); // pre-activations 3x₁, 5x₂, x₁ + x₂
        first.Bias!.Fill(0);
        var model = new Sequential(first, new Sigmoid(), new Linear(3, 2));
        var config = new TrainConfig { Model = new ModelSpec("mlp", new ModelOptions()), Dataset = data.Name, Steps = 1, BatchSize = 4, LearningRate = 0.01 };
        var trainer = new Trainer(config, model, data, null);
        var probe = new SaturationProbe(model, threshold: 4, every: 1);
        trainer.Callbacks.Add(probe);
        trainer.Run();
        // |3x₁| > 4: 2 → 6; |5x₂| > 4: 1 → 5, 2 → 10, 3 → 15; |x₁ + x₂| > 4: none. 4 of 12.
        Assert.Equal([1], probe.Layers);
        Assert.Equal(new SaturationSnapshot(0, 1, 4.0 / 12), Assert.Single(probe.Snapshots));
    }

    [Fact]
    public void TestBatchesCoverEveryExampleAndNeverHoldOneAlone()
    {
        Assert.Equal([(0, 8), (8, 8), (16, 4)], InferenceStatistics.Batches(20, 8));
        Assert.Equal([(0, 8), (8, 9)], InferenceStatistics.Batches(17, 8));
        Assert.Equal([(0, 5)], InferenceStatistics.Batches(5, 8));
    }

    sealed class Started(List<string> labels) : IExperimentProgress
    {
        public void RunStarted(string experiment, string run, int steps) => labels.Add(run);
    }
}
