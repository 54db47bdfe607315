using System.Globalization;
using BatchNormLab.Analysis;
using BatchNormLab.Experiments;

namespace BatchNormLab.Tests;

public sealed class LossSurfacePlotsTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-surface-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void TinyPresetReadsThreeNetsAtMatchedLossAndAtTheirTrainedWeights()
    {
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1);
        var result = new LossSurfacePlots().Run(context);
        Assert.Equal(9, result.Verdict.Parts.Count);
        Assert.All(result.Verdict.Parts.Where(p => !p.Precondition), p => Assert.Equal(2, p.Values[0].Values.Count));
        foreach (var (network, mode) in new[] { (LossSurfacePlots.Plain, BnMode.Train), (LossSurfacePlots.Bn, BnMode.Train), (LossSurfacePlots.Bn, BnMode.Eval), (LossSurfacePlots.Skip, BnMode.Train) })
            foreach (bool matched in new[] { true, false })
            {
                var key = LossSurfacePlots.ConvexityRatioKey(network, mode, matched);
                double ratio = result.Numbers[key];
                Assert.True(ratio >= 0 && double.IsFinite(ratio), key.ToString());
                Assert.True(double.IsFinite(result.Numbers[LossSurfacePlots.CurvatureKey(network, mode, matched)]), key.ToString());
            }
        Assert.Contains(new ResultKey("BN, running statistics at matched loss", "convexity ratio (mean over seeds)"), result.Numbers.Keys); // the text the report shows

        var rows = File.ReadAllLines(Path.Combine(dir, "loss-surface", "loss-surface.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        foreach (ulong seed in new ulong[] { 1, 2 })
        {
            string s = seed.ToString(CultureInfo.InvariantCulture);
            // Kept copies every 4 steps of 40; the level is the worst net's final loss, and each net is read at its first copy at or below it.
            var kept = rows.Where(r => r[3] == s && r[5] == "loss").GroupBy(r => r[0]).ToDictionary(g => g.Key, g => g.Select(r => (Step: int.Parse(r[4]), Loss: double.Parse(r[9], CultureInfo.InvariantCulture))).ToList());
            Assert.All(kept.Values, k => Assert.Equal(Enumerable.Range(1, 10).Select(i => 4 * i), k.Select(c => c.Step)));
            double level = kept.Values.Max(k => k[^1].Loss);
            foreach (var (network, copies) in kept)
            {
                int matched = copies.First(c => c.Loss <= level).Step;
                var read = rows.Where(r => r[0] == network && r[1] == "batch statistics" && r[2] == "matched" && r[3] == s && r[5] == "curvature").ToList();
                Assert.Equal(2, read.Count); // one curvature per direction
                Assert.All(read, r => Assert.Equal(matched, int.Parse(r[4])));
            }
            // The 3×3 convexity map: |λmin/λmax| ≥ 0 at every point; the 5×5 surface passes through the 1-D curve's loss at the centre.
            var map = rows.Where(r => r[0] == "skip connections" && r[2] == "trained" && r[3] == s && r[5] == "convexity").ToList();
            Assert.Equal(9, map.Count);
            Assert.All(map, r => Assert.True(double.Parse(r[9], CultureInfo.InvariantCulture) >= 0));
            double centre = double.Parse(rows.Single(r => r[0] == "plain" && r[2] == "trained" && r[3] == s && r[5] == "surface" && r[7] == "0" && r[8] == "0")[9], CultureInfo.InvariantCulture);
            double curve = double.Parse(rows.Single(r => r[0] == "plain" && r[2] == "trained" && r[3] == s && r[5] == "curve" && r[6] == "0" && r[7] == "0")[9], CultureInfo.InvariantCulture);
            Assert.Equal(curve, centre, 12);
        }
        Assert.Equal(1 + 2 + 3 * 2, result.Figures.Count); // training loss, 1-D curves twice, per net a surface and a map
        Assert.All(result.Files, f => Assert.True(File.Exists(Path.Combine(dir, "loss-surface", f)), f));
    }

    [Fact]
    public void ConvexityRatioOfAKnownSpectrum()
    {
        Assert.Equal(0.25, BatchNormLab.Analysis.LossSurfaceCurvature.ConvexityRatio(-1, 4));
        Assert.True(double.IsNaN(BatchNormLab.Analysis.LossSurfaceCurvature.ConvexityRatio(-1, 0)));
    }
}
