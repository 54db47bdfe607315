using System.Globalization;
using BatchNormLab.Experiments;
using BatchNormLab.Models;

namespace BatchNormLab.Tests;

public sealed class BatchSizesTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-batch-size-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void TinyPresetTrainsEveryNormAtEverySizeOnTheSameSampleBudgetOverTheSeeds()
    {
        var result = new BatchSizes().Run(new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1));
        var lines = File.ReadAllLines(Path.Combine(dir, "batch-size", "batch-size.csv"));
        Assert.Equal(1 + 3 * 3 * 2, lines.Length); // BN, GN, LN at batch 2, 8, 32, two seeds each
        var accuracies = new Dictionary<(string, int), List<double>>();
        foreach (var line in lines.Skip(1))
        {
            var f = line.Split(',');
            int batch = int.Parse(f[1]), steps = int.Parse(f[4]);
            Assert.Equal(640 / batch, steps); // the same 640 samples at every size
            Assert.Equal(0.1 * batch / 128, double.Parse(f[2], CultureInfo.InvariantCulture), 12); // linear scaling
            accuracies.TryAdd((f[0], batch), []);
            accuracies[(f[0], batch)].Add(double.Parse(f[5], CultureInfo.InvariantCulture));
        }
        foreach (var norm in new[] { Norm.BatchNorm, Norm.GroupNorm, Norm.LayerNorm })
        {
            Assert.Equal(accuracies[(Presets.Label(norm), 32)].Average(), result.Numbers[BatchSizes.TestAccuracyKey(norm, 32)], 12);
            Assert.Equal(result.Numbers[BatchSizes.TestAccuracyKey(norm, 32)] - result.Numbers[BatchSizes.TestAccuracyKey(norm, 2)],
                result.Numbers[BatchSizes.DegradationKey(norm)], 12);
        }
        // The verdict compares each network's accuracy at batch 2 with its own at batch 32, per seed.
        var bn = result.Verdict.Parts.Single(p => p.Claim == "BN's accuracy degrades at the smallest batch");
        Assert.Equal(accuracies[("BN", 2)], bn.Values[0].Values);
        Assert.Equal(accuracies[("BN", 32)], bn.Values[1].Values);
        Assert.Equal(6, result.Verdict.Parts.Count);
        Assert.Equal(3, result.Tables[0].Rows.Count);
        Assert.Equal(3, result.Figures[0].Series.Count);
        Assert.All(result.Files, f => Assert.True(File.Exists(Path.Combine(dir, "batch-size", f)), f));
    }
}
