using BatchNormLab.Experiments;

namespace BatchNormLab.Tests;

public sealed class LossSurfacePlotsTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-surface-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void TinyPresetDrawsCurvesAndSlicesAroundBothSharedRuns()
    {
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1);
        var result = new LossSurfacePlots().Run(context);
        foreach (var net in new[] { "BN", "standard" })
        {
            Assert.True(double.IsFinite(result.Numbers[$"{net}: loss at w"]));
            Assert.True(result.Numbers[$"{net}: sharpness at ±0.5"] > 0, net);
            Assert.True(result.Numbers[$"{net}: mean rise over the 2-D grid"] > 0, net);
            Assert.True(double.IsFinite(result.Numbers[$"{net}: sharpness at ±0.5, batch statistics"]), net);
        }
        Assert.Equal(3, result.Figures.Count);
        Assert.Equal(4, result.Figures[0].Series.Count); // eval mode and batch statistics, per net
        Assert.Equal(11, result.Figures[0].Series[0].X.Length);
        Assert.Equal(5, result.Figures[1].Series.Count);
        Assert.All(result.Files, f => Assert.True(File.Exists(Path.Combine(dir, "loss-surface", f)), f));
        Assert.Equal(1 + 2 * (11 + 5 * 5), File.ReadAllLines(Path.Combine(dir, "loss-surface", "loss-surface.csv")).Length);
        Assert.Contains("sharpness (mean of L(w ± 0.5·d₁) − L(w)) BN", result.Verdict.Reason);
        // The matched-loss copy is one of the kept steps (tiny: 40 steps → 4, 20, 40), and the one nearest the standard net's loss.
        Assert.Contains((int)result.Numbers["BN at matched loss: step"], new[] { 4, 20, 40 });
        Assert.True(result.Numbers["BN at matched loss: sharpness at ±0.5"] > 0);
        if (result.Numbers["BN at matched loss: step"] == 40) Assert.Equal(result.Numbers["BN: loss at w"], result.Numbers["BN at matched loss: loss"]);
    }
}
