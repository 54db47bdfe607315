using BatchNormLab.Experiments;
using BatchNormLab.Models;
using BatchNormLab.Training;

namespace BatchNormLab.Tests;

/// <summary>The sequential seed rule of <see cref="Experiment.Run"/>: more seeds only where the verdict on the first ones is inconclusive, their runs reused.</summary>
public sealed class MoreSeedsTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-more-seeds-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>Trains one tiny shared configuration per seed, and returns the verdict <c>decide</c> gives for the number of seeds.</summary>
    sealed class Probe(Func<int, VerdictKind> decide) : Experiment
    {
        public List<IReadOnlyList<ulong>> Measured { get; } = [];
        public override string Name => "probe";
        public override string Figure => "none";
        public override string Claim => "none";
        public override string Source => "this test";
        public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) => ("tiny runs.", "none");

        protected override ExperimentResult Measure(ExperimentContext context)
        {
            Measured.Add(context.SeedList);
            var runs = SeededRuns.Train(context, Name, "mlp", seed => new TrainConfig
            {
                Model = new ModelSpec("mlp", new ModelOptions()), Dataset = "gaussian-mixture", Steps = 2, BatchSize = 16, LearningRate = 0.01, Seed = seed,
            });
            Assert.Equal(context.Seeds, runs.Runs.Count);
            var verdict = Verdict.Of([new Judgement("the claim", "the rule", decide(context.Seeds), "the numbers")]);
            return new ExperimentResult(Name, Figure, Claim, "tiny runs.", "none", verdict, [], [], new Dictionary<ResultKey, double>(), [], 1);
        }
    }

    sealed class Started(List<string> labels) : IExperimentProgress
    {
        public void RunStarted(string experiment, string run, int steps) => labels.Add(run);
    }

    [Fact]
    public void AnInconclusiveVerdictIsJudgedAgainOnMoreSeedsTrainingOnlyTheNewOnes()
    {
        var trained = new List<string>();
        var probe = new Probe(seeds => seeds < 5 ? VerdictKind.Inconclusive : VerdictKind.Agrees);
        var result = probe.Run(new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 7, new Started(trained), seeds: 3, moreSeeds: 2));

        Assert.Equal([[7UL, 8, 9], [7UL, 8, 9, 10, 11]], probe.Measured);
        Assert.Equal(VerdictKind.Agrees, result.Verdict.Kind);
        Assert.Equal([7UL, 8, 9, 10, 11], result.Seeds);
        // each run trained once (concurrent runs start in either order)
        Assert.Equal(["mlp, seed 10", "mlp, seed 11", "mlp, seed 7", "mlp, seed 8", "mlp, seed 9"], trained.Order(StringComparer.Ordinal));
        Assert.Contains("Seeds: 7–9, and 2 more where the verdict on them is inconclusive", result.Settings);
        Assert.Contains("so judged on 7–11", result.Settings);
        Assert.Equal(2, result.Seconds);
    }

    [Theory]
    [InlineData(VerdictKind.Agrees)]
    [InlineData(VerdictKind.DoesNotAgree)]
    public void ADecidedVerdictKeepsTheFirstSeeds(VerdictKind kind)
    {
        var probe = new Probe(_ => kind);
        var result = probe.Run(new ExperimentContext(dir, Preset.Tiny, null, threads: 1, seed: 0, seeds: 3, moreSeeds: 2));
        Assert.Single(probe.Measured);
        Assert.Equal(kind, result.Verdict.Kind);
        Assert.Equal([0UL, 1, 2], result.Seeds);
        Assert.DoesNotContain("judged on", result.Settings);
    }

    [Fact]
    public void WithoutMoreSeedsAnInconclusiveVerdictStands()
    {
        var probe = new Probe(_ => VerdictKind.Inconclusive);
        var result = probe.Run(new ExperimentContext(dir, Preset.Quick, null, threads: 1, seed: 0, seeds: 2, moreSeeds: 0));
        Assert.Single(probe.Measured);
        Assert.Equal(VerdictKind.Inconclusive, result.Verdict.Kind);
        Assert.Equal([0UL, 1], result.Seeds);
        Assert.Equal("tiny runs. Seeds: 0–1.", result.Settings);
    }

    [Fact]
    public void AnExperimentsOwnRunIsTrainedOncePerContextAndNotSharedWithOthers()
    {
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 1, seed: 0);
        var config = new TrainConfig { Model = new ModelSpec("mlp", new ModelOptions()), Dataset = "gaussian-mixture", Steps = 2, BatchSize = 16, LearningRate = 0.01 };
        int trainings = 0;
        TrainedRun Train(string experiment) => TrainedRun.Once(context, experiment, "mlp", config, _ =>
        {
            trainings++;
            return TrainedRun.Train(context, experiment, "mlp", config);
        });
        var first = Train("a");
        Assert.Same(first, Train("a"));
        Assert.Same(first, TrainedRun.Once(context.WithSeeds(3), "a", "mlp", config, _ => throw new InvalidOperationException("trained again")));
        Assert.NotSame(first, Train("b"));
        Assert.Equal(2, trainings);
    }

    [Fact]
    public void PresetsAddTwoSeedsExceptTiny()
    {
        Assert.Equal(2, new ExperimentContext(dir, Preset.Quick, null, 1, 0).MoreSeeds);
        Assert.Equal(2, new ExperimentContext(dir, Preset.Paper, null, 1, 0).MoreSeeds);
        Assert.Equal(0, new ExperimentContext(dir, Preset.Tiny, null, 1, 0).MoreSeeds);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ExperimentContext(dir, Preset.Quick, null, 1, 0, moreSeeds: -1));
    }
}
