using BatchNormLab.Experiments;

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
            Assert.Equal(0.0, result.Numbers[$"{run}, layer #1: mean ‖G−G′‖"]); // nothing before layer 1 moves
            Assert.Equal(1.0, result.Numbers[$"{run}, layer #1: mean cos(G,G′)"], 12);
        }
        Assert.True(result.Numbers["DLN standard, layer #9: mean ‖G−G′‖"] > 0);
        Assert.Equal(4, result.Files.Count);
    }
}
