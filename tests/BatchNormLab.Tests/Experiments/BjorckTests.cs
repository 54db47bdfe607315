using BatchNormLab.Data;
using BatchNormLab.Experiments;
using BatchNormLab.Models;
using BatchNormLab.Nn;

namespace BatchNormLab.Tests;

/// <summary>The measurements of Bjorck et al.'s experiments at initialisation (relative-loss, grad-hist, explosion) and their tiny presets.</summary>
public sealed class BjorckTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-bjorck-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    static Batch RandomImages(Rng rng, int n, DType dtype = DType.Float32) =>
        new(Tensor.RandomNormal(rng, [n, 2, 4, 4], dtype: dtype), Enumerable.Range(0, n).Select(i => i % 3).ToArray(), null, 0, 0);

    static List<double[]> State(Module model) => model.StateDict().Select(e => e.Tensor?.ToDoubleArray() ?? [e.Int64!.Value]).ToList();

    [Fact]
    public void TheRelativeLossTendsToOneAsTheStepVanishes()
    {
        var rng = new Rng(4);
        var model = new ResNetCifar(8, 2, 3, new ModelOptions(Norm.BatchNorm, Init: InitScheme.Kaiming), rng).To(DType.Float64);
        var batch = RandomImages(rng, 8, DType.Float64);
        var before = State(model);
        double[] etas = [1e-5, 1e-7, 1e-9];
        var relative = RelativeLoss.Measure(model, batch, etas);
        Assert.Equal(before, State(model));
        // To first order L(w − ηg)/L(w) = 1 − η‖g‖²/L(w).
        var (loss, g) = ParameterVector.LossAndGradientAt(model, ParameterVector.Flatten(model.Parameters()), Probes.LossOn(batch, Training.LossKind.CrossEntropy));
        double slope = g.ToDoubleArray().Sum(v => v * v) / loss;
        for (int i = 1; i < etas.Length; i++) Assert.Equal(1, (1 - relative[i]) / (etas[i] * slope), 2e-2);
        Assert.Equal(1, relative[^1], 1e-6);
    }

    [Fact]
    public void HistogramCountsSumToTheEntriesAndCoverTheExtremes()
    {
        var rng = new Rng(2);
        var values = Enumerable.Range(0, 1001).Select(_ => rng.Normal()).Append(-7).ToList();
        var h = ValueHistogram.Of(values, 20);
        Assert.Equal(values.Count, h.Counts.Sum());
        Assert.Equal(-7, h.Edges[0]);
        Assert.Equal(7, h.Edges[^1]);
        Assert.Equal(1, h.Counts[0]);
        Assert.Equal(2 * 20, h.Steps("x").X.Length);
        var (std, p99, max, kurtosis) = GradientHistogram.Moments(Enumerable.Range(0, 20000).Select(_ => rng.Normal(0, 3)).ToList());
        Assert.InRange(std, 2.9, 3.1);
        Assert.InRange(p99, 2.5 * 3, 2.65 * 3); // |N(0, σ)|'s 99th percentile is 2.576σ
        Assert.True(max >= p99);
        Assert.InRange(kurtosis, -0.15, 0.15);
    }

    [Fact]
    public void ChannelStatisticsAreOverBatchAndPlane()
    {
        // [N=2, C=2, H=1, W=2]: channel 0 holds 1, 3, 5, 7; channel 1 holds 2, 2, 4, 4.
        var s = ChannelStatistics.Of(1, Tensor.FromArray(new double[] { 1, 3, 2, 2, 5, 7, 4, 4 }, 2, 2, 1, 2));
        Assert.Equal([4.0, 3.0], s.Means);
        Assert.Equal([5.0, 1.0], s.Variances);
        Assert.Equal(5, s.LargestVariance);
        // an overflowed channel: its variance is at least the largest double
        Assert.Equal(double.MaxValue, (s with { Variances = [1, double.NaN] }).LargestVariance);
    }

    [Fact]
    public void InterpolationAtFractionZeroGivesTheInitialStatistics()
    {
        var rng = new Rng(8);
        var model = new ResNetCifar(8, 2, 3, new ModelOptions(Norm.None, Init: InitScheme.Kaiming), rng);
        var batch = RandomImages(rng, 6);
        var before = State(model);
        var points = Explosion.Interpolate(model, batch, 0.1, [0, 1]);
        Assert.Equal(before, State(model));
        var seen = new List<ChannelStatistics>();
        foreach (var (block, i) in model.Blocks.Select((b, i) => (b, i)))
            block.RegisterForwardHook((_, _, output) => { seen.Add(ChannelStatistics.Of(i + 1, output)); return null; });
        using (Autograd.NoGrad()) model.Forward(batch.Inputs);
        Assert.Equal(3, points[0].Blocks.Length);
        for (int b = 0; b < seen.Count; b++)
        {
            Assert.Equal(seen[b].Means, points[0].Blocks[b].Means);
            Assert.Equal(seen[b].Variances, points[0].Blocks[b].Variances);
            Assert.NotEqual(seen[b].Means, points[1].Blocks[b].Means);
        }
    }

    [Fact]
    public void FirstDivergenceIsOnTheGridAndCensoredBeyondIt()
    {
        var etas = RelativeLoss.Etas;
        Assert.Equal(13, etas.Count);
        Assert.Equal(1e-5, etas[0], 1e-18);
        Assert.Equal(1e-1, etas[^1], 1e-15);
        Assert.Equal(-3, RelativeLoss.FirstDivergence([1, 0.9, 2, 10, 50, 500, 2e3, 1e5]), 12);
        Assert.Equal(-5 + 5 / 3.0, RelativeLoss.FirstDivergence([1, 0.9, 2, 10, 50, double.NaN]), 12);
        // none diverges: one grid step beyond 1e-1
        Assert.Equal(-2 / 3.0, RelativeLoss.FirstDivergence(Enumerable.Repeat(0.8, 13).ToList()), 12);
        // BN beyond the range, or 100× later than the standard net: headroom ≥ 0
        Assert.Equal(0, RelativeLoss.Headroom(-2 / 3.0, -1), 12); // beyond the range, however late the standard net diverges
        Assert.Equal(1 / 3.0, RelativeLoss.Headroom(-2 / 3.0, -3), 12);
        Assert.Equal(0, RelativeLoss.Headroom(-1, -3), 12);
        Assert.Equal(-1 / 3.0, RelativeLoss.Headroom(-4 / 3.0, -3), 12);
    }

    [Fact]
    public void MeasuringStopsAtTheFirstDivergence()
    {
        var rng = new Rng(5);
        var model = new ResNetCifar(8, 2, 3, new ModelOptions(Norm.None, Init: InitScheme.Kaiming), rng);
        var batch = RandomImages(rng, 8);
        double[] etas = [1e-6, 1e2, 1e4, 1e6];
        var all = RelativeLoss.Measure(model, batch, etas);
        var stopped = RelativeLoss.Measure(model, batch, etas, RelativeLoss.Divergence);
        int first = Array.FindIndex(all, r => !(r <= RelativeLoss.Divergence));
        Assert.True(first > 0, "a step of 1e2 diverges, one of 1e-6 does not");
        Assert.Equal(all[..(first + 1)], stopped);
    }

    [Fact]
    public void TinyPresetsJudgeEverySubClaimOverSeeds()
    {
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1);
        foreach (var (experiment, figures, parts) in new (Experiment, int, int)[] { (new RelativeLoss(), 2, 2), (new GradientHistogram(), 2, 3), (new Explosion(), 4, 2) })
        {
            var result = experiment.Run(context);
            Assert.Equal(parts, result.Verdict.Parts.Count);
            Assert.All(result.Verdict.Parts, p => Assert.All(p.Values, v => Assert.Equal(2, v.Values.Count)));
            Assert.Equal(figures, result.Figures.Count);
            Assert.All(result.Figures.SelectMany(f => f.Series), s => Assert.Equal(s.X.Length, s.Y.Length));
            Assert.All(result.Files, f => Assert.True(File.Exists(Path.Combine(dir, experiment.Name, f)), f));
            Assert.All(result.Numbers, n => Assert.True(double.IsFinite(n.Value) || n.Key.Measure == Explosion.LossRatio, n.Key.ToString()));
            Assert.NotEmpty(result.Tables[0].Rows);
            Assert.Equal(result.Verdict.Reason, experiment.Run(context).Verdict.Reason); // deterministic
        }
        int after = Experiment.All.ToList().FindIndex(e => e is HessianSpectrum);
        Assert.Equal(["relative-loss", "grad-hist", "explosion", "small-lr", "loss-surface"], Experiment.All.Skip(after + 1).Take(5).Select(e => e.Name));
    }

    [Fact]
    public void EachSeedIsANewInitialisationAndShuffle()
    {
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1);
        var result = new GradientHistogram().Run(context);
        // the two seeds' gradients differ; every number is a per-seed value of the seeds 1 and 2
        Assert.NotEqual(result.Numbers[GradientHistogram.StdKey(Norm.BatchNorm, 1)], result.Numbers[GradientHistogram.StdKey(Norm.BatchNorm, 2)]);
        Assert.NotEqual(result.Numbers[GradientHistogram.KurtosisKey(Norm.None, 1)], result.Numbers[GradientHistogram.KurtosisKey(Norm.None, 2)]);
        var judged = result.Verdict.Parts[0].Values;
        Assert.Equal(result.Numbers[GradientHistogram.P99Key(Norm.None, 2)], judged[0].Values[1]);
        Assert.Equal(result.Numbers[GradientHistogram.P99Key(Norm.BatchNorm, 1)], judged[1].Values[0]);
        Assert.Equal("BN, seed 1: 99th percentile of |g|", GradientHistogram.P99Key(Norm.BatchNorm, 1).ToString()); // the text result.json and the report show

        var explosion = new Explosion().Run(context);
        var growth = explosion.Verdict.Parts[0].Values;
        Assert.Equal(explosion.Numbers[Explosion.StdGrowthKey(Norm.None, 2)], growth[0].Values[1]);
        Assert.All(explosion.Numbers.Where(n => n.Key.Measure == Explosion.VarianceRise), n => Assert.True(n.Value > 0, n.Key.ToString()));
        Assert.Contains(Explosion.VarianceRiseKey(Norm.BatchNorm, 1, 1), explosion.Numbers.Keys);
    }

    [Fact]
    public void SmallLrTrainsThreeConfigurationsOverSeeds()
    {
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1);
        var result = new SmallLr().Run(context);
        Assert.Equal(4, result.Verdict.Parts.Count);
        Assert.Equal(["BN, lr 0.01", "standard, lr 0.01", "BN, lr 0.1"], result.Tables[0].Rows.Select(r => r[0]));
        Assert.Equal(3 * 2, result.Tables[1].Rows.Count);
        var accuracy = result.Verdict.Parts[2].Values;
        Assert.Equal(result.Numbers[SeededRuns.TestAccuracyKey("BN, lr 0.01")], accuracy[0].Values.Average(), 12);
        Assert.Equal(result.Numbers[SeededRuns.TestAccuracyKey("standard, lr 0.01")], accuracy[1].Values.Average(), 12);
        Assert.All(result.Files, f => Assert.True(File.Exists(Path.Combine(dir, "small-lr", f)), f));
        Assert.Contains("Training loss over the last 50 steps per seed", result.Verdict.Reason);
    }
}
