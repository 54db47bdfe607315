using BatchNormLab.Experiments;

namespace BatchNormLab.Tests;

public sealed class LrSweepTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-exp-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void TinyPresetRunsEveryCombinationAndJudges()
    {
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1);
        var result = new LrSweep().Run(context);
        Assert.Equal(4, result.Tables[0].Rows.Count); // one row per configuration, over its 2 seeds
        Assert.Equal(8, result.Tables[1].Rows.Count);
        Assert.Equal(9, result.Files.Count);
        Assert.All(result.Files, f => Assert.True(File.Exists(Path.Combine(dir, "lr-sweep", f))));
        Assert.Equal(2, result.Figures.Count);
        Assert.All(result.Figures[0].Series, s => Assert.Equal(s.X.Length, s.Y.Length));
        Assert.Contains("larger rate", result.Verdict.Reason);
        Assert.Equal(5, result.Verdict.Parts.Count);
        Assert.True(result.Numbers[SeededRuns.TestAccuracyKey("BN, lr 0.1")] > 0.3);
    }
}
