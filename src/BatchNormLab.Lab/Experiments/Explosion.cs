using System.Globalization;
using BatchNormLab.Data;
using BatchNormLab.Models;
using BatchNormLab.Nn;
using BatchNormLab.Training;

namespace BatchNormLab.Experiments;

/// <summary>Per channel, the mean and (biased) variance over batch and plane of one residual block's output.</summary>
public sealed record ChannelStatistics(int Block, double[] Means, double[] Variances)
{
    /// <summary>The statistics of an [N, C, H, W] output.</summary>
    public static ChannelStatistics Of(int block, Tensor output)
    {
        int n = output.Size(0), c = output.Size(1), plane = output.Length / (n * c);
        var values = output.ToDoubleArray();
        var (means, variances) = (new double[c], new double[c]);
        for (int k = 0; k < c; k++)
        {
            double sum = 0, squares = 0;
            for (int i = 0; i < n; i++)
                foreach (double v in values.AsSpan((i * c + k) * plane, plane)) sum += v;
            means[k] = sum / (n * plane);
            for (int i = 0; i < n; i++)
                foreach (double v in values.AsSpan((i * c + k) * plane, plane)) squares += (v - means[k]) * (v - means[k]);
            variances[k] = squares / (n * plane);
        }
        return new ChannelStatistics(block, means, variances);
    }

    /// <summary>The mean over channels of |mean|, and of the standard deviation.</summary>
    public (double Mean, double Std) Magnitudes => (Means.Average(Math.Abs), Variances.Average(Math.Sqrt));
}

/// <summary>The loss and every block's channel statistics at one point of the interpolation w → w − η·g.</summary>
public sealed record InterpolationPoint(double Fraction, double Loss, ChannelStatistics[] Blocks);

/// <summary>
/// Bjorck et al. 2018, Fig. 4 and the depth figure beside it: at initialisation, the per-channel means and
/// variances of residual blocks' outputs as a fraction of one large gradient step is applied, and their
/// size against depth, with and without BN. The claim: without BN they grow by orders of magnitude with
/// depth (and explode under the step); with BN they do not.
/// </summary>
public sealed class Explosion : Experiment
{
    public override string Name => "explosion";
    public override string Figure => "Bjorck et al. 2018, Fig. 4 and the channel-statistics-against-depth figure";
    public override string Source => "Bjorck et al. 2018 §3, Fig. 4 (channel statistics explode with depth and as a diverging step is applied); seed 003 (Understanding BN)";
    public override string Claim => "At initialisation, without BN the channel means and variances of the activations grow by orders of magnitude with depth and explode as a large gradient step is applied; with BN they stay of the same order.";

    /// <summary>The step applied, a rate BN trains at (Fig. 1) and far beyond the standard net's divergence (Fig. 3).</summary>
    public double StepSize { get; init; } = 0.1;

    /// <summary>Fractions of the step, 0 (the initial weights) to 1.</summary>
    public IReadOnlyList<double> Fractions { get; init; } = Enumerable.Range(0, 11).Select(i => i / 10.0).ToArray();

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{InitialResNet.Describe(preset, dataset)}. On mini-batch 1, g = ∇L(w); at w − f·η·g for η = {RunFigures.F(StepSize)} and f = {string.Join(", ", Fractions.Select(RunFigures.F))}, the per-channel mean and variance of every residual block's output; " +
         "the step figures show the blocks at the relative depths of the paper's layers 8, 44 and 80 of 110, the depth figures every block at f = 0.",
            InitialResNet.Deviations(preset, dataset) + " We read the statistics at the residual blocks' outputs; the paper does not say exactly where it reads its layers' activations. The same η for both nets.");

    /// <summary>The blocks (1-based) at the relative depths of the paper's layers 8, 44, 80 of 110.</summary>
    static int[] Depths(int blocks) => new[] { 8, 44, 80 }.Select(l => Math.Clamp((int)Math.Ceiling((double)l * blocks / 110), 1, blocks)).Distinct().ToArray();

    /// <summary>The loss and block statistics on <paramref name="batch"/> at w − f·η·g for each fraction f, g = ∇L(w) there; the model is left as it was.</summary>
    public static List<InterpolationPoint> Interpolate(ResNetCifar model, Batch batch, double eta, IReadOnlyList<double> fractions)
    {
        var loss = Probes.LossOn(batch, LossKind.CrossEntropy);
        var weights = ParameterVector.Flatten(model.Parameters());
        var (w, g) = (weights.ToDoubleArray(), ParameterVector.LossAndGradientAt(model, weights, loss).Gradient.ToDoubleArray());
        var blocks = model.Blocks;
        var statistics = new ChannelStatistics[blocks.Count];
        var hooks = blocks.Select((b, i) => b.RegisterForwardHook((_, _, output) =>
        {
            statistics[i] = ChannelStatistics.Of(i + 1, output);
            return null;
        })).ToList();
        try
        {
            return fractions.Select(f => new InterpolationPoint(f, ParameterVector.LossAt(model, Probes.Stepped(w, g, f * eta), m => loss(m).Item()), [.. statistics])).ToList();
        }
        finally
        {
            foreach (var hook in hooks) hook.Dispose();
        }
    }

    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var numbers = new Dictionary<string, double>();
        var rows = new List<IReadOnlyList<string>>();
        var csv = new List<string> { "network,fraction,block,channel,mean,variance" };
        var (meanSteps, varianceSteps, meanDepth, stdDepth) = (new List<Series>(), new List<Series>(), new List<Series>(), new List<Series>());
        var growth = new Dictionary<Norm, double>();
        foreach (var norm in (Norm[])[Norm.BatchNorm, Norm.None])
        {
            string net = Presets.Label(norm);
            var (model, batches) = InitialResNet.Build(context, norm, [1]);
            var points = Interpolate((ResNetCifar)model, batches[0], StepSize, Fractions);
            foreach (var p in points)
                foreach (var b in p.Blocks)
                    csv.AddRange(b.Means.Select((m, k) => string.Create(CultureInfo.InvariantCulture, $"{net},{p.Fraction:R},{b.Block},{k},{m:R},{b.Variances[k]:R}")));

            var fractions = points.Select(p => p.Fraction).ToArray();
            foreach (int block in Depths(points[0].Blocks.Length))
            {
                var at = points.Select(p => p.Blocks[block - 1]).ToList();
                meanSteps.Add(Spread($"{net}, block {block}", fractions, at.Select(s => s.Means.Select(Math.Abs).ToArray()).ToList()));
                varianceSteps.Add(Spread($"{net}, block {block}", fractions, at.Select(s => s.Variances).ToList()));
                double rise = at[^1].Variances.Max() / at[0].Variances.Max();
                numbers[$"{net}, block {block}: largest channel variance, full step over start"] = rise;
                rows.Add([net, $"block {block}", G(at[0].Magnitudes.Mean), G(at[0].Magnitudes.Std), G(at[^1].Magnitudes.Mean), G(at[^1].Magnitudes.Std), G(rise)]);
            }
            var initial = points[0].Blocks;
            var depth = initial.Select(b => (double)b.Block).ToArray();
            meanDepth.Add(Spread(net, depth, initial.Select(b => b.Means.Select(Math.Abs).ToArray()).ToList()));
            stdDepth.Add(Spread(net, depth, initial.Select(b => b.Variances.Select(Math.Sqrt).ToArray()).ToList()));
            growth[norm] = initial[^1].Magnitudes.Std / initial[0].Magnitudes.Std;
            numbers[$"{net}: channel std growth, last block over first"] = growth[norm];
            numbers[$"{net}: channel |mean| growth, last block over first"] = initial[^1].Magnitudes.Mean / initial[0].Magnitudes.Mean;
            numbers[$"{net}: loss at the full step over the initial loss (NaN: overflow)"] = points[^1].Loss / points[0].Loss;
        }
        string file = WriteCsv(context, "explosion.csv", csv);
        string step = $"w → w − f·{RunFigures.F(StepSize)}·g on mini-batch 1";
        var figures = new List<FigureData>
        {
            new("Channel means as the step is applied", $"Median over channels of |channel mean| of the block's output as {step}; the band spans the smallest to the largest channel.", "fraction f of the step", "|channel mean|", meanSteps, LogY: true),
            new("Channel variances as the step is applied", $"Median over channels of the channel variance of the block's output as {step}; the band spans the smallest to the largest channel.", "fraction f of the step", "channel variance", varianceSteps, LogY: true),
            new("Channel means against depth", "Median over channels of |channel mean| of each residual block's output at initialisation; the band spans the smallest to the largest channel.", "residual block", "|channel mean|", meanDepth, LogY: true),
            new("Channel standard deviations against depth", "Median over channels of the channel std of each residual block's output at initialisation; the band spans the smallest to the largest channel.", "residual block", "channel std", stdDepth, LogY: true),
        };
        var table = new TableData("Channel statistics at the recorded depths (means over channels), at the start and at the full step",
            ["network", "depth", "|mean| at f = 0", "std at f = 0", "|mean| at f = 1", "std at f = 1", "largest variance: f = 1 over f = 0"], rows);
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, Judge(growth[Norm.BatchNorm], growth[Norm.None]), figures, [table], numbers, [file], clock.Elapsed.TotalSeconds);
    }

    /// <summary>Per x, the median over channels with a band from the smallest to the largest channel.</summary>
    static Series Spread(string label, double[] x, IReadOnlyList<double[]> channels)
    {
        var sorted = channels.Select(c => c.Order().ToArray()).ToList();
        return new Series(label, x, sorted.Select(c => c[c.Length / 2]).ToArray()) { Lower = sorted.Select(c => c[0]).ToArray(), Upper = sorted.Select(c => c[^1]).ToArray() };
    }

    static string G(double v) => RunFigures.Cell(v, "G3");

    /// <summary>
    /// From the growth of the mean channel std from the first to the last block at initialisation:
    /// agrees when the standard net's grows at least 10× and 10× more than BN's; does not agree when it
    /// grows at most 2× more than BN's; inconclusive otherwise.
    /// </summary>
    static Verdict Judge(double bn, double standard)
    {
        string numbers = $"mean channel std, last block over first: standard ×{G(standard)}, BN ×{G(bn)}";
        if (!double.IsFinite(bn) || !double.IsFinite(standard)) return new(VerdictKind.Inconclusive, $"a statistic was not finite ({numbers})");
        if (standard >= 10 && standard >= 10 * bn) return new(VerdictKind.Agrees, $"without BN the activations grow by orders of magnitude with depth, with BN they do not ({numbers})");
        if (standard <= 2 * bn) return new(VerdictKind.DoesNotAgree, $"the activations grow alike with and without BN ({numbers})");
        return new(VerdictKind.Inconclusive, $"without BN the activations grow more, by less than the margin ({numbers})");
    }
}
