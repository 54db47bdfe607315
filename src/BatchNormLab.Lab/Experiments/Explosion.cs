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

    /// <summary>
    /// The largest channel variance; where one is not finite (the output overflowed double precision), the
    /// largest double, a lower bound of what it would have been.
    /// </summary>
    public double LargestVariance => Variances.All(double.IsFinite) ? Variances.Max() : double.MaxValue;

    /// <summary>The mean over channels of |mean|, and of the standard deviation.</summary>
    public (double Mean, double Std) Magnitudes => (Means.Average(Math.Abs), Variances.Average(Math.Sqrt));
}

/// <summary>The loss and every block's channel statistics at one point of the interpolation w → w − η·g.</summary>
public sealed record InterpolationPoint(double Fraction, double Loss, ChannelStatistics[] Blocks);

/// <summary>
/// Bjorck et al. 2018, Fig. 4 and the depth figure beside it: at initialisation, the per-channel means and
/// variances of residual blocks' outputs as a fraction of one large gradient step is applied, and their
/// size against depth, with and without BN, over seeds. The claim: without BN they grow by orders of
/// magnitude with depth and explode as the step is applied; with BN they do not.
/// </summary>
public sealed class Explosion : Experiment
{
    /// <inheritdoc/>
    public override string Name => "explosion";
    /// <inheritdoc/>
    public override string Figure => "Bjorck et al. 2018, Fig. 4 and the channel-statistics-against-depth figure";
    /// <inheritdoc/>
    public override string Source => "Bjorck et al. 2018 §3, Fig. 4 (channel statistics explode with depth and as a diverging step is applied); seed 003 (Understanding BN)";
    /// <inheritdoc/>
    public override string Claim => "At initialisation, without BN the channel means and variances of the activations grow by orders of magnitude with depth and explode as a large gradient step is applied; with BN they stay of the same order.";

    /// <summary>The step applied, a rate BN trains at (Fig. 1) and far beyond the standard net's divergence (Fig. 3).</summary>
    public double StepSize { get; init; } = 0.1;

    /// <summary>Fractions of the step, 0 (the initial weights) to 1.</summary>
    public IReadOnlyList<double> Fractions { get; init; } = Enumerable.Range(0, 11).Select(i => i / 10.0).ToArray();

    /// <summary>"Grow by orders of magnitude with depth", without BN against with: the growth of the mean channel std from the first to the last block at least 10× BN's.</summary>
    public static readonly Rule GrowsWithDepth = Rule.Factor(Claimed.Greater, 10);

    /// <summary>"Explode as the step is applied", without BN against with: the deep block's largest channel variance, full step over start, at least 100× BN's rise (two orders of magnitude).</summary>
    public static readonly Rule ExplodesUnderStep = Rule.Factor(Claimed.Greater, 100);

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{InitialResNet.Describe(preset, dataset)}. Per seed, on mini-batch 1, g = ∇L(w); at w − f·η·g for η = {RunFigures.F(StepSize)} and f = {string.Join(", ", Fractions.Select(RunFigures.F))}, the per-channel mean and variance of every residual block's output; " +
         "the step figures show the blocks at the relative depths of the paper's layers 8, 44 and 80 of 110, the depth figures every block at f = 0 (both for the first seed; the table has every seed). " +
         "Computed in double precision: without BN the full step takes the deep blocks' values beyond single precision's range (a variance that overflows even double precision counts as the largest double, a lower bound). " +
         "Growth with depth: the mean over channels of the channel std at the last block over that at the first, at f = 0. Rise under the step: the largest channel variance of the block at the paper's layer 80 at f = 1 over f = 0. " +
         $"Rules: growth with depth: {GrowsWithDepth.Describe("growth(standard)", "growth(BN)")}; explosion under the step: {ExplodesUnderStep.Describe("rise(standard)", "rise(BN)")}.",
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

    /// <summary>The measure of <see cref="VarianceRiseKey"/>: the largest channel variance at the full step over that at the start.</summary>
    public const string VarianceRise = "largest channel variance, full step over start";

    /// <summary>The measure of <see cref="LossRatioKey"/>: the loss at the full step over the initial loss, NaN where it overflows.</summary>
    public const string LossRatio = "loss at the full step over the initial loss (NaN: overflow)";

    /// <summary>The key of a block's largest channel variance at the full step over that at the start: "BN, seed 1, block 2: largest channel variance, full step over start".</summary>
    public static ResultKey VarianceRiseKey(Norm network, ulong seed, int block) => new($"{InitialResNet.Label(network, seed)}, block {block}", VarianceRise);

    /// <summary>The key of the growth of the channel std from the first block to the last at initialisation: "BN, seed 1: channel std growth, last block over first".</summary>
    public static ResultKey StdGrowthKey(Norm network, ulong seed) => new(InitialResNet.Label(network, seed), "channel std growth, last block over first");

    /// <summary>The key of the growth of the channel |mean| from the first block to the last at initialisation: "BN, seed 1: channel |mean| growth, last block over first".</summary>
    public static ResultKey MeanGrowthKey(Norm network, ulong seed) => new(InitialResNet.Label(network, seed), "channel |mean| growth, last block over first");

    /// <summary>The key of the loss at the full step over the initial loss: "BN, seed 1: loss at the full step over the initial loss (NaN: overflow)".</summary>
    public static ResultKey LossRatioKey(Norm network, ulong seed) => new(InitialResNet.Label(network, seed), LossRatio);

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var numbers = new Dictionary<ResultKey, double>();
        var rows = new List<IReadOnlyList<string>>();
        var csv = new List<string> { "network,seed,fraction,block,channel,mean,variance" };
        var (meanSteps, varianceSteps, meanDepth, stdDepth) = (new List<Series>(), new List<Series>(), new List<Series>(), new List<Series>());
        var (growth, rise) = (new Dictionary<Norm, List<double>>(), new Dictionary<Norm, List<double>>());
        ulong shown = context.SeedList[0];
        foreach (var norm in (Norm[])[Norm.BatchNorm, Norm.None])
        {
            string net = Presets.Label(norm);
            (growth[norm], rise[norm]) = ([], []);
            foreach (ulong seed in context.SeedList)
            {
                context.Progress.Message(Name, $"{net}: seed {seed}");
                var (model, batches) = InitialResNet.Build(context, seed, norm, [1]);
                var batch = batches[0] with { Inputs = batches[0].Inputs.To(DType.Float64) };
                var points = Interpolate((ResNetCifar)model.To(DType.Float64), batch, StepSize, Fractions);
                foreach (var p in points)
                    foreach (var b in p.Blocks)
                        csv.AddRange(b.Means.Select((m, k) => string.Create(CultureInfo.InvariantCulture, $"{net},{seed},{p.Fraction:R},{b.Block},{k},{m:R},{b.Variances[k]:R}")));

                var fractions = points.Select(p => p.Fraction).ToArray();
                var depths = Depths(points[0].Blocks.Length);
                foreach (int block in depths)
                {
                    var at = points.Select(p => p.Blocks[block - 1]).ToList();
                    if (seed == shown)
                    {
                        meanSteps.Add(Spread($"{net}, block {block}", fractions, at.Select(s => s.Means.Select(Math.Abs).ToArray()).ToList()));
                        varianceSteps.Add(Spread($"{net}, block {block}", fractions, at.Select(s => s.Variances).ToList()));
                    }
                    double blockRise = at[^1].LargestVariance / at[0].LargestVariance;
                    if (block == depths[^1]) rise[norm].Add(blockRise);
                    numbers[VarianceRiseKey(norm, seed, block)] = blockRise;
                    rows.Add([net, seed.ToString(CultureInfo.InvariantCulture), $"block {block}", G(at[0].Magnitudes.Mean), G(at[0].Magnitudes.Std), G(at[^1].Magnitudes.Mean), G(at[^1].Magnitudes.Std), G(blockRise)]);
                }
                var initial = points[0].Blocks;
                if (seed == shown)
                {
                    var depth = initial.Select(b => (double)b.Block).ToArray();
                    meanDepth.Add(Spread(net, depth, initial.Select(b => b.Means.Select(Math.Abs).ToArray()).ToList()));
                    stdDepth.Add(Spread(net, depth, initial.Select(b => b.Variances.Select(Math.Sqrt).ToArray()).ToList()));
                }
                growth[norm].Add(initial[^1].Magnitudes.Std / initial[0].Magnitudes.Std);
                numbers[StdGrowthKey(norm, seed)] = growth[norm][^1];
                numbers[MeanGrowthKey(norm, seed)] = initial[^1].Magnitudes.Mean / initial[0].Magnitudes.Mean;
                numbers[LossRatioKey(norm, seed)] = points[^1].Loss / points[0].Loss;
            }
        }
        string file = WriteCsv(context, "explosion.csv", csv);
        string step = $"w → w − f·{RunFigures.F(StepSize)}·g on mini-batch 1, seed {shown}";
        var figures = new List<FigureData>
        {
            new("Channel means as the step is applied", $"Median over channels of |channel mean| of the block's output as {step}; the band spans the smallest to the largest channel.", "fraction f of the step", "|channel mean|", meanSteps, LogY: true),
            new("Channel variances as the step is applied", $"Median over channels of the channel variance of the block's output as {step}; the band spans the smallest to the largest channel.", "fraction f of the step", "channel variance", varianceSteps, LogY: true),
            new("Channel means against depth", $"Median over channels of |channel mean| of each residual block's output at initialisation (seed {shown}); the band spans the smallest to the largest channel.", "residual block", "|channel mean|", meanDepth, LogY: true),
            new("Channel standard deviations against depth", $"Median over channels of the channel std of each residual block's output at initialisation (seed {shown}); the band spans the smallest to the largest channel.", "residual block", "channel std", stdDepth, LogY: true),
        };
        var table = new TableData("Channel statistics at the recorded depths per seed (means over channels), at the start and at the full step",
            ["network", "seed", "depth", "|mean| at f = 0", "std at f = 0", "|mean| at f = 1", "std at f = 1", "largest variance: f = 1 over f = 0"], rows);
        SeedValues Of(Dictionary<Norm, List<double>> measure, string name, Norm norm) => new($"{name}({Presets.Label(norm)})", measure[norm]);
        var verdict = Judge(Of(growth, "growth", Norm.None), Of(growth, "growth", Norm.BatchNorm), Of(rise, "rise", Norm.None), Of(rise, "rise", Norm.BatchNorm));
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict, figures, [table], numbers, [file], clock.Elapsed.TotalSeconds);
    }

    /// <summary>Per x, the median over channels with a band from the smallest to the largest channel.</summary>
    static Series Spread(string label, double[] x, IReadOnlyList<double[]> channels)
    {
        var sorted = channels.Select(c => c.Order().ToArray()).ToList();
        return new Series(label, x, sorted.Select(c => c[c.Length / 2]).ToArray()) { Lower = sorted.Select(c => c[0]).ToArray(), Upper = sorted.Select(c => c[^1]).ToArray() };
    }

    static string G(double v) => RunFigures.Cell(v, "G3");

    /// <summary>
    /// Per seed, paired: the growth of the mean channel std from the first to the last block at
    /// initialisation is at least 10× larger without BN; the deep block's largest channel variance rises
    /// under the full step at least 100× more without BN. A statistic that overflowed (not finite) leaves its sub-claim inconclusive.
    /// </summary>
    public static Verdict Judge(SeedValues growthStandard, SeedValues growthBn, SeedValues riseStandard, SeedValues riseBn) => Verdict.Of(
    [
        GrowsWithDepth.Judge("without BN the activations grow by orders of magnitude more with depth (channel std, last block over first)", growthStandard, growthBn),
        ExplodesUnderStep.Judge("without BN the channel variances explode as the step is applied (deep block, largest channel variance, full step over start)", riseStandard, riseBn),
    ]);
}
