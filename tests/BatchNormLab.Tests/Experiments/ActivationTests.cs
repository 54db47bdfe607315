using BatchNormLab.Data;
using BatchNormLab.Experiments;
using BatchNormLab.Models;
using BatchNormLab.Nn;
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
        // the first linear layer's output on the first batch, before BN: the batch times its initial weights plus bias
        var batch = new DataLoader(train, config.BatchSize, shuffle: true, dropLast: true, config.Seed).Epoch(0).First();
        var fresh = config.Model.Build(train.Inputs.Shape[1..], train.Classes, new Rng(config.Seed));
        var first = (Linear)fresh.NamedModules().Select(m => m.Module).First(m => m is Linear);
        Tensor output;
        using (Autograd.NoGrad()) output = first.Forward(batch.Inputs.Flatten());
        Assert.Equal(ActivationProbe.Summarise(0, 1, output.ToFloatArray()), probe.Snapshots[0]);
        Assert.Throws<ArgumentException>(() => new ActivationProbe(model, [4], 1)); // the MLP has three weight layers
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
        // each configuration once per seed (1 and 2): standard, BN, noisy BN; noise; the ℓp ones; BN and standard at LR 0.5 (LR 0.1 ones reused)
        string[] configurations = ["standard", "BN", "noisy BN", "noise without BN", "L1", "L∞", "L1 uncentred", "L2 uncentred", "L∞ uncentred", "BN, lr 0.5", "standard, lr 0.5"];
        // Runs train side by side, so which ones started is fixed, not in what order.
        Assert.Equal(configurations.SelectMany(c => new[] { $"{c}, seed 1", $"{c}, seed 2" }).Order(), trained.Order());
        Assert.Equal([1UL, 2UL], activations.Seeds);
        Assert.StartsWith("Santurkar", activations.Source);
        foreach (var (result, name) in new[] { (activations, "activations"), (noisy, "noisy-bn"), (lp, "lp-norm"), (sweep, "lr-sweep") })
        {
            Assert.All(result.Files, f => Assert.True(File.Exists(Path.Combine(dir, name, f)), f));
            Assert.NotEmpty(result.Verdict.Parts);
            Assert.All(result.Verdict.Parts, p => Assert.All(p.Values, v => Assert.Equal(2, v.Values.Count)));
        }
        Assert.Equal(6, TrainedRunCount(activations));
        Assert.All(activations.Figures, f => Assert.All(f.Series, s => Assert.True(s.Lower!.Zip(s.Upper!).All(b => b.First <= b.Second))));
        Assert.Equal(3, activations.Verdict.Parts.Count);
        Assert.Equal(1 + 5 + 3, lp.Verdict.Parts.Count); // BN trains; five ℓp networks train about as well; three uncentred ones shift more
    }

    [Fact]
    public void TheProbeReadsTheWeightLayersOutputBeforeTheActivation()
    {
        var config = new TrainConfig
        {
            Model = new ModelSpec("mlp", new ModelOptions(Norm.None), [16]),
            Dataset = "gaussian-mixture", Steps = 1, BatchSize = 32, LearningRate = 0.05, Seed = 3, EvalEvery = 1,
        };
        var (train, test) = DatasetCatalog.Load(config.Dataset, null, config.Seed);
        var model = config.Model.Build(train.Inputs.Shape[1..], train.Classes, new Rng(config.Seed));
        var trainer = new Trainer(config, model, train, test);
        var probe = new ActivationProbe(model, [1], every: 1);
        trainer.Callbacks.Add(probe);
        trainer.Run();
        // a linear layer's output, not a ReLU's: negative values too
        Assert.True(probe.Snapshots[0].P05 < 0);
        Assert.True(probe.Snapshots[0].P95 > 0);
    }

    static int TrainedRunCount(ExperimentResult r) => r.Tables.Single(t => t.Title.StartsWith("Runs", StringComparison.Ordinal)).Rows.Count;

    sealed class Started(List<string> labels) : IExperimentProgress
    {
        public void RunStarted(string experiment, string run, int steps) => labels.Add(run);
    }
}
