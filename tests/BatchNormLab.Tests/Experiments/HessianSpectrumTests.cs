using BatchNormLab.Analysis;
using BatchNormLab.Experiments;
using BatchNormLab.Models;

namespace BatchNormLab.Tests;

public sealed class HessianSpectrumTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-hessian-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void BulkEdgeIsTheWeightedQuantileOfMagnitudes()
    {
        // Two draws; |θ| sorted with weights (each draw counts ½): 0.1 (0.45), 0.5 (0.3), 2 (0.245), 40 (0.005).
        var density = new SpectralDensity(HessianMode.Training, "all", [0, 1], [1, 1],
            Nodes: [[-0.1, 2, 40], [0.5, -2]], Weights: [[0.9, 0.09, 0.01], [0.6, 0.4]], KernelVariance: 1, Products: 0);
        Assert.Equal(2, HessianSpectrum.BulkEdge(density)); // 0.45 + 0.3 + 0.245 = 0.995 ≥ 0.99
    }

    [Fact]
    public void OutliersAreTheValuesAboveTheWidestGapAtTheTop()
    {
        Assert.Equal(2, HessianSpectrum.Outliers([-1, 0.1, 0.5, 0.9, 1, 30, 50])); // 30/1 is the widest gap
        Assert.Equal(0, HessianSpectrum.Outliers([0.5, 0.7, 0.9, 1, 1.5])); // no gap of 2× or more
        Assert.Equal(3, HessianSpectrum.Outliers([-3, 0.2, 1, 2, 9]));      // 1/0.2 = 5 is wider than 9/2: the three above 0.2
    }

    [Fact]
    public void RunsKeepCopiesOfTheirModelDuringTraining()
    {
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 3);
        var run = TrainedRun.Train(context, "test", "BN", Presets.Vgg(Preset.Tiny, Norm.BatchNorm, 0.1, 3));
        Assert.Equal([4, 20], run.Snapshots.Keys.Order());
        // The final copy is the trained model; an early one differs from it; the step-0 model is not kept.
        var final = run.ModelAt(40).StateDict();
        var trained = run.Model.StateDict();
        for (int i = 0; i < final.Count; i++)
            if (final[i].Tensor is { } t) Assert.Equal(trained[i].Tensor!.ToFloatArray(), t.ToFloatArray());
            else Assert.Equal(trained[i].Int64, final[i].Int64);
        Assert.Equal(4, run.ModelAt(4).StateDict().Single(e => e.Name.EndsWith("num_batches_tracked", StringComparison.Ordinal) && e.Name.StartsWith("2.", StringComparison.Ordinal)).Int64);
        Assert.Throws<ArgumentException>(() => run.ModelAt(7));
    }

    [Fact]
    public void TinyPresetAnalysesEverySeedNetworkModeAndPoint()
    {
        var result = new HessianSpectrum().Run(new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1));
        var rows = result.Tables.Single().Rows;
        Assert.Equal(20, rows.Count); // 2 seeds × 2 networks × (no BN and BN batch at step 4, and population statistics too at step 40)
        Assert.Equal(4, result.Figures.Count); // the first seed's densities per network and step
        Assert.Equal(20, result.Files.Count);
        Assert.All(result.Files, f => Assert.True(File.Exists(Path.Combine(dir, "hessian", f)), f));
        foreach (var (key, value) in result.Numbers) Assert.True(double.IsFinite(value), key.ToString());
        foreach (var row in rows)
        {
            Assert.Equal("12", row[^2]); // one draw of 12 Lanczos steps; the top eigenpairs cost none of their own
            double energy = double.Parse(row[10].TrimEnd('%'), System.Globalization.CultureInfo.InvariantCulture) / 100;
            Assert.InRange(energy, 0, 1);
        }
        // Without BN, batch and population statistics are the same Hessian; with BN they differ.
        Assert.NotEqual(result.Numbers[HessianSpectrum.LambdaMaxKey("VGG", HessianSpectrum.BatchStatistics, 40)], result.Numbers[HessianSpectrum.LambdaMaxKey("VGG", HessianSpectrum.PopulationStatistics, 40)]);
        Assert.Equal(26, result.Verdict.Parts.Count); // 13 per network
        Assert.Equal([1UL, 2UL], result.Seeds);
        Assert.All(result.Verdict.Parts.Where(p => !p.Precondition), p => Assert.Equal(2, p.Values[0].Values.Count));
    }

    [Fact]
    public void PopulationStatisticsAreRecomputedNotTheRunningAverages()
    {
        // The population statistics' Hessian is not the one of the running averages the run ended with (eval mode as trained).
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 5, seeds: 1);
        var result = new HessianSpectrum().Run(context);
        var run = TrainedRun.Train(context, "test", "BN", Presets.Vgg(Preset.Tiny, Norm.BatchNorm, 0.1, 5));
        var (train, _) = context.Data(run.Config.Dataset);
        var op = HessianOperator.OnDataset(run.ModelAt(40), train.Take(128), BatchNormLab.Training.LossKind.CrossEntropy, 64, HessianMode.Eval);
        double runningAverages = SpectralDensity.Estimate(op, new Rng(5 + 40), 12, 1).Nodes[0][^1];
        double population = result.Numbers[HessianSpectrum.LambdaMaxKey("VGG", HessianSpectrum.PopulationStatistics, 40)];
        Assert.True(double.IsFinite(population));
        Assert.NotEqual(runningAverages, population);
    }
}
