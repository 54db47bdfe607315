using System.Globalization;
using BatchNormLab.Models;

namespace BatchNormLab.Experiments;

/// <summary>Counts of values in equal bins over [−limit, limit], limit = the largest |value| (a symmetric range, so 0 sits at the centre).</summary>
public sealed record ValueHistogram(double[] Edges, long[] Counts)
{
    public static ValueHistogram Of(IReadOnlyList<double> values, int bins)
    {
        double limit = values.Max(Math.Abs);
        if (limit == 0) limit = 1;
        var edges = Enumerable.Range(0, bins + 1).Select(i => -limit + 2 * limit * i / bins).ToArray();
        var counts = new long[bins];
        foreach (double v in values) counts[Math.Clamp((int)((v + limit) / (2 * limit) * bins), 0, bins - 1)]++;
        return new ValueHistogram(edges, counts);
    }

    /// <summary>The histogram as a step line (each bin a flat segment) with empty bins as gaps, for a log axis.</summary>
    public Series Steps(string label)
    {
        var x = new List<double>();
        var y = new List<double>();
        for (int i = 0; i < Counts.Length; i++)
        {
            double count = Counts[i] == 0 ? double.NaN : Counts[i];
            x.AddRange([Edges[i], Edges[i + 1]]);
            y.AddRange([count, count]);
        }
        return new Series(label, [.. x], [.. y]);
    }
}

/// <summary>
/// Bjorck et al. 2018, Fig. 2: the histogram of one mid-depth conv layer's gradient entries at
/// initialisation, with and without BN. The claim: without BN the gradients are orders of magnitude
/// larger and heavy tailed (≈ ±4 against ≈ ±0.04 with BN, on the paper's ResNet-110 layer #55).
/// </summary>
public sealed class GradientHistogram : Experiment
{
    public override string Name => "grad-hist";
    public override string Figure => "Bjorck et al. 2018, Fig. 2";
    public override string Source => "Bjorck et al. 2018 §3, Fig. 2 (gradients at initialisation, layer #55 of ResNet-110); seed 003 (Understanding BN)";
    public override string Claim => "At initialisation, the gradients of a mid-depth conv layer are far larger without BN than with it (≈ ±4 against ≈ ±0.04), and heavy tailed.";

    public int Bins { get; init; } = 60;

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{InitialResNet.Describe(preset, dataset)}. The gradient of the cross-entropy on mini-batch 1 with respect to the weights of the weight layer at the paper's relative depth (#55 of ResNet-110's 110), in a {Bins}-bin histogram over ± its largest entry.",
            InitialResNet.Deviations(preset, dataset));

    /// <summary>The weight layer at the relative depth of the paper's #55 of 110.</summary>
    static WeightLayer MidLayer(Nn.Module model)
    {
        var layers = WeightLayer.Of(model);
        return layers[WeightLayer.Scaled([55], 110, layers.Count)[0] - 1];
    }

    /// <summary>Standard deviation, 99th percentile of |g|, largest |g| and excess kurtosis (0 for a Gaussian; large for heavy tails).</summary>
    public static (double Std, double P99, double Max, double Kurtosis) Moments(IReadOnlyList<double> values)
    {
        double mean = values.Average();
        double m2 = values.Average(v => (v - mean) * (v - mean));
        double m4 = values.Average(v => Math.Pow(v - mean, 4));
        var magnitudes = values.Select(Math.Abs).Order().ToArray();
        return (Math.Sqrt(m2), magnitudes[(int)Math.Ceiling(0.99 * magnitudes.Length) - 1], magnitudes[^1], m4 / (m2 * m2) - 3);
    }

    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var figures = new List<FigureData>();
        var rows = new List<IReadOnlyList<string>>();
        var numbers = new Dictionary<string, double>();
        var csv = new List<string> { "network,bin_low,bin_high,count" };
        var moments = new Dictionary<Norm, (double Std, double P99, double Max, double Kurtosis)>();
        foreach (var norm in (Norm[])[Norm.BatchNorm, Norm.None])
        {
            string net = Presets.Label(norm);
            var (model, batches) = InitialResNet.Build(context, norm, [1]);
            var layer = MidLayer(model);
            Tensor gradient;
            using (Autograd.EnableGrad()) gradient = Autograd.Grad(Probes.LossOn(batches[0], Training.LossKind.CrossEntropy)(model), [layer.Weight])[0];
            var values = gradient.ToDoubleArray();
            var histogram = ValueHistogram.Of(values, Bins);
            csv.AddRange(histogram.Counts.Select((c, i) => string.Create(CultureInfo.InvariantCulture, $"{net},{histogram.Edges[i]:R},{histogram.Edges[i + 1]:R},{c}")));
            var m = moments[norm] = Moments(values);
            figures.Add(new FigureData($"{net}: gradients of layer #{layer.Number} ({layer.Name})", $"Histogram of the {values.Length} gradient entries of weight layer #{layer.Number} on mini-batch 1 at initialisation (log counts; empty bins left out).",
                "gradient entry", "count", [histogram.Steps(net)], LogY: true));
            numbers[$"{net}: gradient std"] = m.Std;
            numbers[$"{net}: gradient 99th percentile of |g|"] = m.P99;
            numbers[$"{net}: largest |g|"] = m.Max;
            numbers[$"{net}: excess kurtosis"] = m.Kurtosis;
            rows.Add([net, $"#{layer.Number} {layer.Name}", values.Length.ToString(CultureInfo.InvariantCulture), G(m.Std), G(m.P99), G(m.Max), G(m.Kurtosis)]);
        }
        string file = WriteCsv(context, "grad-hist.csv", csv);
        var table = new TableData("Gradient entries of the mid-depth layer at initialisation", ["network", "layer", "entries", "std", "99th percentile of |g|", "largest |g|", "excess kurtosis"], rows);
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, Judge(moments[Norm.BatchNorm], moments[Norm.None]), figures, [table], numbers, [file], clock.Elapsed.TotalSeconds);
    }

    static string G(double v) => RunFigures.Cell(v, "G3");

    /// <summary>
    /// From the standard net's std and 99th percentile of |g| over BN's: agrees when both ratios are at
    /// least 10 (an order of magnitude; the paper shows 100); does not agree when both are at most 2; inconclusive otherwise.
    /// </summary>
    static Verdict Judge((double Std, double P99, double Max, double Kurtosis) bn, (double Std, double P99, double Max, double Kurtosis) standard)
    {
        double stdRatio = standard.Std / bn.Std, p99Ratio = standard.P99 / bn.P99;
        string numbers = $"std standard {G(standard.Std)} vs BN {G(bn.Std)} (×{G(stdRatio)}), 99th percentile of |g| {G(standard.P99)} vs {G(bn.P99)} (×{G(p99Ratio)}), " +
                         $"excess kurtosis {G(standard.Kurtosis)} vs {G(bn.Kurtosis)}";
        if (!double.IsFinite(stdRatio) || !double.IsFinite(p99Ratio)) return new(VerdictKind.Inconclusive, $"a gradient was not finite or zero ({numbers})");
        if (stdRatio >= 10 && p99Ratio >= 10) return new(VerdictKind.Agrees, $"without BN the gradients are an order of magnitude larger or more ({numbers})");
        if (stdRatio <= 2 && p99Ratio <= 2) return new(VerdictKind.DoesNotAgree, $"the gradients are of similar size ({numbers})");
        return new(VerdictKind.Inconclusive, $"without BN the gradients are larger, by less than 10× ({numbers})");
    }
}
