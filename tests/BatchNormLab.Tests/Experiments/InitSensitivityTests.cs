using BatchNormLab.Experiments;
using BatchNormLab.Models;

namespace BatchNormLab.Tests;

public sealed class InitSensitivityTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-exp-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void TinyPresetTrainsEverySchemeAndJudgesTheSpread()
    {
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1);
        var result = new InitSensitivity().Run(context);
        Assert.Equal(3, result.Verdict.Parts.Count);
        Assert.Equal(4, result.Tables[0].Rows.Count); // 2 networks × 2 seeds
        Assert.Equal(6, result.Tables[1].Rows.Count); // 2 networks × 3 schemes
        Assert.Equal(12, result.Tables[2].Rows.Count);
        var spread = result.Verdict.Parts[2];
        Assert.Equal(2, spread.Values.Count);
        Assert.All(spread.Values.SelectMany(v => v.Values), s => Assert.InRange(s, 0, 1));
        Assert.Equal(spread.Values[0].Values.Average(), result.Numbers[InitSensitivity.SpreadKey(Norm.BatchNorm)], 12);
        Assert.True(result.Numbers[SeededRuns.TestAccuracyKey("BN, glorot init")] > 0.3);
        Assert.All(result.Files, f => Assert.True(File.Exists(Path.Combine(dir, "init-sensitivity", f))));
    }
}
