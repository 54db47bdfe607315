namespace BatchNormLab.Experiments;

/// <summary>Counts of values in equal bins over [−limit, limit], limit = the largest |value| (a symmetric range, so 0 sits at the centre).</summary>
public sealed record ValueHistogram(double[] Edges, long[] Counts)
{
    /// <summary>The histogram of <paramref name="values"/> in <paramref name="bins"/> equal bins over ± their largest |value| (± 1 when all are 0).</summary>
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
/// initialisation, with and without BN, over seeds. The claim: without BN the gradients are orders of
/// magnitude larger (≈ ±4 against ≈ ±0.04 with BN, on the paper's ResNet-110 layer #55) and heavy
/// tailed; with BN they are concentrated around the mean.
/// </summary>
public sealed class GradientHistogram : Experiment
{
    /// <inheritdoc/>
    public override string Name => "grad-hist";
    /// <inheritdoc/>
    public override string Figure => "Bjorck et al. 2018, Fig. 2";
    /// <inheritdoc/>
    public override string Source => "Bjorck et al. 2018 §3, Fig. 2 (gradients at initialisation, layer #55 of ResNet-110: \"heavy tails\" without BN, \"concentrated around the mean\" with it); seed 003 (Understanding BN)";
    /// <inheritdoc/>
    public override string Claim => "At initialisation, the gradients of a mid-depth conv layer are far larger without BN than with it (≈ ±4 against ≈ ±0.04) and heavy tailed; with BN they are concentrated around the mean.";

    /// <summary>The number of equal bins the first mini-batch's gradient entries are counted in.</summary>
    public int Bins { get; init; } = 60;

    /// <summary>Mini-batches each seed's moments are averaged over: one batch's kurtosis swings with the few largest entries, so one batch per seed would leave the verdict to a handful of values.</summary>
    public const int Batches = 8;

    /// <summary>"Far larger": the standard net's 99th percentile of |g| at least 10× BN's (an order of magnitude; the paper shows 100×).</summary>
    public static readonly Rule FarLarger = Rule.Factor(Claimed.Greater, 10);

    /// <summary>"Heavy tails" without BN: excess kurtosis above 3, the Laplace distribution's (a Gaussian's is 0).</summary>
    public static readonly Rule HeavyTails = new(Claimed.Greater, 3);

    /// <summary>"Concentrated around the mean" with BN: excess kurtosis not above 1 (Student's t with 10 degrees of freedom, close to a Gaussian; heavier tails are above).</summary>
    public static readonly Rule Concentrated = new(Claimed.NotGreater, 1);

    const string Gaussian = "a Gaussian's excess kurtosis";

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{InitialResNet.Describe(preset, dataset)}. Per seed, the gradient of the cross-entropy on a mini-batch with respect to the weights of the weight layer at the paper's relative depth (#55 of ResNet-110's 110); mini-batch 1's in a {Bins}-bin histogram over ± its largest entry. " +
         $"Its size is the 99th percentile of |g| (the histogram's visible extent, steadier than the largest entry), its tails the excess kurtosis (0 for a Gaussian), each the mean over mini-batches 1–{Batches} of the seed. " +
         $"Rules: far larger without BN: {FarLarger.Describe("p99(standard)", "p99(BN)")}; heavy tailed without BN: {HeavyTails.Describe("kurtosis(standard)", Gaussian)}; " +
         $"concentrated with BN: {Concentrated.Describe("kurtosis(BN)", Gaussian)}.",
            InitialResNet.Deviations(preset, dataset) + " The paper judges the tails by eye; excess kurtosis and its thresholds are this project's reading of \"heavy tails\" and \"concentrated around the mean\".");

    /// <summary>The weight layer at the relative depth of the paper's #55 of 110.</summary>
    static WeightLayer MidLayer(Module model)
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

    /// <summary>The key of the standard deviation of the mid-depth layer's gradient entries (mean over mini-batches): "BN, seed 1: gradient std".</summary>
    public static ResultKey StdKey(Norm network, ulong seed) => new(InitialResNet.Label(network, seed), "gradient std");

    /// <summary>The key of the 99th percentile of |g| over the mid-depth layer's gradient entries (mean over mini-batches): "BN, seed 1: 99th percentile of |g|".</summary>
    public static ResultKey P99Key(Norm network, ulong seed) => new(InitialResNet.Label(network, seed), "99th percentile of |g|");

    /// <summary>The key of the largest |g| of the mid-depth layer's gradient entries (mean over mini-batches): "BN, seed 1: largest |g|".</summary>
    public static ResultKey MaxKey(Norm network, ulong seed) => new(InitialResNet.Label(network, seed), "largest |g|");

    /// <summary>The key of the excess kurtosis of the mid-depth layer's gradient entries (mean over mini-batches): "BN, seed 1: excess kurtosis".</summary>
    public static ResultKey KurtosisKey(Norm network, ulong seed) => new(InitialResNet.Label(network, seed), "excess kurtosis");

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var figures = new List<FigureData>();
        var rows = new List<IReadOnlyList<string>>();
        var numbers = new Dictionary<ResultKey, double>();
        var csv = new List<string> { "network,seed,bin_low,bin_high,count" };
        var moments = new Dictionary<Norm, List<(double Std, double P99, double Max, double Kurtosis)>>();
        foreach (var norm in (Norm[])[Norm.BatchNorm, Norm.None])
        {
            string net = Presets.Label(norm);
            var histograms = new List<Series>();
            moments[norm] = [];
            WeightLayer? layer = null;
            int entries = 0;
            foreach (ulong seed in context.SeedList)
            {
                var (model, batches) = InitialResNet.Build(context, seed, norm, [.. Enumerable.Range(1, Batches)]);
                layer = MidLayer(model);
                var gradients = batches.Select(batch =>
                {
                    using (Autograd.EnableGrad()) return Autograd.Grad(Probes.LossOn(batch, LossKind.CrossEntropy)(model), [layer.Weight])[0].ToDoubleArray();
                }).ToList();
                var values = gradients[0];
                entries = values.Length;
                var histogram = ValueHistogram.Of(values, Bins);
                csv.AddRange(histogram.Counts.Select((c, i) => string.Create(CultureInfo.InvariantCulture, $"{net},{seed},{histogram.Edges[i]:R},{histogram.Edges[i + 1]:R},{c}")));
                histograms.Add(histogram.Steps($"seed {seed}"));
                var each = gradients.Select(Moments).ToList();
                (double Std, double P99, double Max, double Kurtosis) m = (each.Average(e => e.Std), each.Average(e => e.P99), each.Average(e => e.Max), each.Average(e => e.Kurtosis));
                moments[norm].Add(m);
                numbers[StdKey(norm, seed)] = m.Std;
                numbers[P99Key(norm, seed)] = m.P99;
                numbers[MaxKey(norm, seed)] = m.Max;
                numbers[KurtosisKey(norm, seed)] = m.Kurtosis;
                rows.Add([net, seed.ToString(CultureInfo.InvariantCulture), $"#{layer.Number} {layer.Name}", values.Length.ToString(CultureInfo.InvariantCulture), G(m.Std), G(m.P99), G(m.Max), G(m.Kurtosis)]);
            }
            figures.Add(new FigureData($"{net}: gradients of layer #{layer!.Number} ({layer.Name})", $"Histogram of the {entries} gradient entries of weight layer #{layer.Number} on mini-batch 1 at initialisation, one line per seed (log counts; empty bins left out).",
                "gradient entry", "count", histograms, LogY: true));
        }
        string file = WriteCsv(context, "grad-hist.csv", csv);
        var table = new TableData($"Gradient entries of the mid-depth layer at initialisation, per seed (means over mini-batches 1–{Batches})", ["network", "seed", "layer", "entries", "std", "99th percentile of |g|", "largest |g|", "excess kurtosis"], rows);
        SeedValues Of(Norm norm, string measure, Func<(double Std, double P99, double Max, double Kurtosis), double> value) => new($"{measure}({Presets.Label(norm)})", moments[norm].Select(value));
        var verdict = Judge(Of(Norm.None, "p99", m => m.P99), Of(Norm.BatchNorm, "p99", m => m.P99), Of(Norm.None, "kurtosis", m => m.Kurtosis), Of(Norm.BatchNorm, "kurtosis", m => m.Kurtosis));
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict, figures, [table], numbers, [file], clock.Elapsed.TotalSeconds);
    }

    static string G(double v) => RunFigures.Cell(v, "G3");

    /// <summary>
    /// Per seed, from the 99th percentile of |g| and the excess kurtosis of each net's gradient entries: without
    /// BN the gradients are far larger (≥ 10×, paired by seed) and heavy tailed (kurtosis above 3); with BN
    /// they are concentrated (kurtosis not above 1).
    /// </summary>
    public static Verdict Judge(SeedValues p99Standard, SeedValues p99Bn, SeedValues kurtosisStandard, SeedValues kurtosisBn) => Verdict.Of(
    [
        FarLarger.Judge("without BN the gradients are far larger (99th percentile of |g|)", p99Standard, p99Bn),
        HeavyTails.Judge("without BN they are heavy tailed (excess kurtosis)", kurtosisStandard, 0, Gaussian),
        Concentrated.Judge("with BN they are concentrated around the mean (excess kurtosis)", kurtosisBn, 0, Gaussian),
    ]);
}
