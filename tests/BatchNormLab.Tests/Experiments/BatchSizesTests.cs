using BatchNormLab.Experiments;

namespace BatchNormLab.Tests;

public sealed class BatchSizesTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-batch-size-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void TinyPresetTrainsEveryNormAtEverySizeOnTheSameSampleBudget()
    {
        var result = new BatchSizes().Run(new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1));
        var lines = File.ReadAllLines(Path.Combine(dir, "batch-size", "batch-size.csv"));
        Assert.Equal(1 + 3 * 3, lines.Length); // BN, GN, LN at batch 2, 8, 32
        foreach (var line in lines.Skip(1))
        {
            var f = line.Split(',');
            int batch = int.Parse(f[1]), steps = int.Parse(f[3]);
            Assert.Equal(640 / batch, steps); // the same 640 samples at every size
            Assert.Equal(0.1 * batch / 128, double.Parse(f[2], System.Globalization.CultureInfo.InvariantCulture), 12); // linear scaling
        }
        foreach (var net in new[] { "BN", "GN", "LN" })
            Assert.Equal(result.Numbers[$"{net}, batch 32: test accuracy"] - result.Numbers[$"{net}, batch 2: test accuracy"], result.Numbers[$"{net}: degradation"], 12);
        Assert.Equal(3, result.Tables[0].Rows.Count);
        Assert.Equal(3, result.Figures[0].Series.Count);
        Assert.Contains("test accuracy from batch 32 to batch 2: BN", result.Verdict.Reason);
        Assert.All(result.Files, f => Assert.True(File.Exists(Path.Combine(dir, "batch-size", f)), f));
    }
}
