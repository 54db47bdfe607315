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
    public void TinyPresetsRunWithFiniteNumbersFilesAndVerdicts()
    {
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1);
        foreach (var (experiment, figures, reason) in new (Experiment, int, string)[]
                 { (new RelativeLoss(), 2, "relative loss first above 1000"), (new GradientHistogram(), 2, "99th percentile of |g|"), (new Explosion(), 4, "mean channel std, last block over first") })
        {
            var result = experiment.Run(context);
            Assert.Contains(reason, result.Verdict.Reason);
            Assert.Equal(figures, result.Figures.Count);
            Assert.All(result.Figures.SelectMany(f => f.Series), s => Assert.Equal(s.X.Length, s.Y.Length));
            Assert.All(result.Files, f => Assert.True(File.Exists(Path.Combine(dir, experiment.Name, f)), f));
            // A diverging η is +∞ where none diverged; every other number is finite.
            Assert.All(result.Numbers, n => Assert.True(double.IsFinite(n.Value) || n.Key.EndsWith("first diverging η", StringComparison.Ordinal), n.Key));
            Assert.NotEmpty(result.Tables[0].Rows);
        }
        int after = Experiment.All.ToList().FindIndex(e => e is HessianSpectrum);
        Assert.Equal(["relative-loss", "grad-hist", "explosion", "loss-surface"], Experiment.All.Skip(after + 1).Take(4).Select(e => e.Name));
    }
}
