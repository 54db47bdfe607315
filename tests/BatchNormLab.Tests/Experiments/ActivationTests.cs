using BatchNormLab.Data;
using BatchNormLab.Experiments;
using BatchNormLab.Models;
using BatchNormLab.Training;

namespace BatchNormLab.Tests;

public sealed class ActivationTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-act-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void SummaryHasNumPyPercentilesAndMoments()
    {
        var values = Enumerable.Range(0, 101).Select(i => (float)(100 - i)).ToArray(); // 0..100, reversed
        var s = ActivationProbe.Summarise(7, 2, values);
        Assert.Equal((7, 2), (s.Step, s.Layer));
        Assert.Equal([5.0, 25, 50, 75, 95], [s.P05, s.P25, s.P50, s.P75, s.P95]);
        Assert.Equal(50, s.Mean, 12);
        Assert.Equal(Math.Sqrt(850), s.Std, 12); // population variance of 0..100 is (101² − 1)/12
    }

    [Fact]
    public void ShiftIsZeroForAFixedDistributionAndScaleFree()
    {
        ActivationSnapshot At(int step, double scale, double offset) =>
            new(step, 1, offset, scale, offset - 2 * scale, offset - scale, offset, offset + scale, offset + 2 * scale);
        Assert.Equal(0, ActivationProbe.Shift([At(0, 1, 0), At(10, 1, 0), At(20, 1, 0)]));
        // Moving by one spread-quarter each time: |Δ| = 1 for every percentile, spread 4.
        Assert.Equal(0.25, ActivationProbe.Shift([At(0, 1, 0), At(10, 1, 1), At(20, 1, 2)]), 12);
        Assert.Equal(0.25, ActivationProbe.Shift([At(0, 100, 0), At(10, 100, 100), At(20, 100, 200)]), 12);
        Assert.True(double.IsNaN(ActivationProbe.Shift([At(0, 1, 0)])));
    }

    [Fact]
    public void ProbeRecordsOnlyTheTrainingForwardOfChosenSteps()
    {
        var config = new TrainConfig
        {
            Model = new ModelSpec("mlp", new ModelOptions(Norm.BatchNorm), [16, 16]),
            Dataset = "gaussian-mixture", Steps = 12, BatchSize = 32, LearningRate = 0.05, Seed = 2, EvalEvery = 3,
        };
        var (train, test) = DatasetCatalog.Load(config.Dataset, null, config.Seed);
        var model = config.Model.Build(train.Inputs.Shape[1..], train.Classes, new Rng(config.Seed));
        var trainer = new Trainer(config, model, train, test);
        var probe = new ActivationProbe(model, [1, 2], every: 5);
        trainer.Callbacks.Add(probe);
        trainer.Run();
        Assert.Equal([(0, 1), (0, 2), (5, 1), (5, 2), (10, 1), (10, 2)], probe.Snapshots.Select(s => (s.Step, s.Layer)));
        // After BN (γ = 1, β = 0 at the start) the first batch is standardised per feature.
        Assert.Equal(0, probe.Snapshots[0].Mean, 5);
        Assert.Equal(1, probe.Snapshots[0].Std, 3);
        Assert.Throws<ArgumentException>(() => new ActivationProbe(model, [3], 1)); // the head has no activation after it
    }

    [Fact]
    public void TinyPresetRunsEachVggConfigurationOnceAcrossExperiments()
    {
        var trained = new List<string>();
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1, new Started(trained));
        var activations = new Activations().Run(context);
        var noisy = new NoisyBn().Run(context);
        var lp = new LpNormalisation().Run(context);
        var sweep = new LrSweep().Run(context);
        // standard, BN, noisy BN; noise; L1, L2, L∞; BN and standard at LR 0.5 (LR 0.1 ones reused)
        Assert.Equal(["standard", "BN", "noisy BN", "noise without BN", "L1", "L2", "L∞", "BN, lr 0.5", "standard, lr 0.5"], trained);
        foreach (var (result, name) in new[] { (activations, "activations"), (noisy, "noisy-bn"), (lp, "lp-norm"), (sweep, "lr-sweep") })
            Assert.All(result.Files, f => Assert.True(File.Exists(Path.Combine(dir, name, f)), f));
        Assert.Equal(3, TrainedRunCount(activations));
        Assert.All(activations.Figures, f => Assert.All(f.Series, s => Assert.True(s.Lower!.Zip(s.Upper!).All(b => b.First <= b.Second))));
        Assert.True(noisy.Numbers["noisy BN: distribution shift"] > noisy.Numbers["BN: distribution shift"]);
        Assert.Equal(lp.Numbers["L2: test accuracy"], lp.Numbers["BN: test accuracy"], 2); // ℓ2 is BN up to its running estimate
    }

    static int TrainedRunCount(ExperimentResult r) => r.Tables.Single(t => t.Title.StartsWith("Runs", StringComparison.Ordinal)).Rows.Count;

    sealed class Started(List<string> labels) : IExperimentProgress
    {
        public void RunStarted(string experiment, string run, int steps) => labels.Add(run);
    }
}
