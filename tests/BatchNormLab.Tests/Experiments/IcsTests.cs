using BatchNormLab.Experiments;
using BatchNormLab.Models;

namespace BatchNormLab.Tests;

public sealed class IcsTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-ics-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void FirstLayerIcsIsExactlyZeroAndDeeperLayersShift()
    {
        var result = new Ics().Run(new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1));
        foreach (var run in new[] { "VGG BN", "VGG standard", "DLN BN", "DLN standard" })
        {
            Assert.Equal(0.0, result.Numbers[Ics.DistanceKey(run, 1)]); // nothing before layer 1 moves
            Assert.Equal(1.0, result.Numbers[Ics.CosineKey(run, 1)], 12);
            Assert.InRange(result.Numbers[Ics.JudgedKey(run)], 1e-12, 2);
        }
        Assert.True(result.Numbers[Ics.DistanceKey("DLN standard", 9)] > 0);
        Assert.Equal(4, result.Files.Count);

        // One file per network and norm, the seeds in it: 40 steps probed every 5 at 3 DLN layers, for seeds 1 and 2.
        var lines = File.ReadAllLines(Path.Combine(dir, "ics", "dln-bn.ics.csv"));
        Assert.Equal("seed,step,layer,l2_difference,cosine,gradient_norm", lines[0]);
        Assert.Equal(1 + 2 * 8 * 3, lines.Length);
        Assert.Equal(["1", "2"], lines.Skip(1).Select(l => l.Split(',')[0]).Distinct());

        // Two preconditions and the two sub-claims, each judged over both seeds.
        Assert.Equal(4, result.Verdict.Parts.Count);
        Assert.All(result.Verdict.Parts.Skip(2), p => Assert.All(p.Values, v => Assert.Equal(2, v.Values.Count)));
    }

    [Fact]
    public void TheDlnIsProbedAtATenthOfItsTrainingRate()
    {
        var training = Presets.Dln(Preset.Quick, Norm.BatchNorm, 3);
        var probed = ProbedRuns.IcsDln(Preset.Quick, Norm.BatchNorm, 3);
        Assert.Equal(training.LearningRate / 10, probed.LearningRate, 15);
        Assert.Equal(training with { LearningRate = probed.LearningRate }, probed);
    }
}
