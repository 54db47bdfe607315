namespace BatchNormLab.Experiments;

/// <summary>
/// Bjorck et al. 2018, Fig. 3: the relative loss L(w − η·g)/L(w) on one mini-batch, g its gradient,
/// for log-spaced η, at initialisation, with and without BN, over seeds. The claim: without BN one step
/// of a small η (≈ 1e-3) already diverges (relative loss above 1e3); with BN it does not over the range.
/// </summary>
public sealed class RelativeLoss : Experiment
{
    /// <inheritdoc/>
    public override string Name => "relative-loss";
    /// <inheritdoc/>
    public override string Figure => "Bjorck et al. 2018, Fig. 3";
    /// <inheritdoc/>
    public override string Source => "Bjorck et al. 2018 §3, Fig. 3 (relative loss of one step on mini-batches 1, 4, 7); seed 003 (Understanding BN)";
    /// <inheritdoc/>
    public override string Claim => "At initialisation, without BN one gradient step on a mini-batch makes that mini-batch's loss explode (relative loss L(w − ηg)/L(w) above 1e3) from small step sizes (η ≈ 1e-3) on; with BN the relative loss stays small over η up to 1e-1.";

    /// <summary>log10 of the smallest step size; the grid runs from there to 1e-1, the paper's range.</summary>
    const int LowestDecade = -5;

    /// <summary>Grid points per decade of η.</summary>
    const int PerDecade = 3;

    /// <summary>Step sizes: three per decade from 1e-5 to 1e-1, the paper's range.</summary>
    public static IReadOnlyList<double> Etas { get; } = Enumerable.Range(0, 4 * PerDecade + 1).Select(i => Math.Pow(10, LowestDecade + (double)i / PerDecade)).ToArray();

    /// <summary>The paper's divergence threshold on the relative loss.</summary>
    public const double Divergence = 1e3;

    /// <summary>"Small steps diverge" without BN: the first divergence at η ≤ 1e-2 (the paper shows ≈ 1e-3).</summary>
    public const double StandardLimit = 1e-2;

    /// <summary>With BN, one step stays below the threshold up to this η (the paper's range)…</summary>
    public const double BnLimit = 1e-1;

    /// <summary>…or diverges at an η at least this many times the standard net's.</summary>
    public const double LaterFactor = 100;

    /// <summary>Half a grid step, in decades: the rules' thresholds sit halfway between grid points, so a seed exactly at a limit counts as meeting it.</summary>
    const double HalfStep = 0.5 / PerDecade;

    /// <summary>Without BN: log10 of the first diverging η (per seed) below log10 1e-2 + half a grid step.</summary>
    public static readonly Rule SmallStepsDiverge = new(Claimed.NotGreater, 0);

    /// <summary>With BN: <see cref="Headroom"/> (per seed) above minus half a grid step.</summary>
    public static readonly Rule LaterWithBn = new(Claimed.Greater, 0);

    static double StandardThreshold => Math.Log10(StandardLimit) + HalfStep;

    const string StandardName = "log10 η*(standard)";
    const string HeadroomName = "headroom(BN)";
    static readonly string StandardConstant = $"log10 {F(StandardLimit)} raised by half a grid step";
    const string HeadroomConstant = "half a grid step below 0";

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{InitialResNet.Describe(preset, dataset)}. Per seed, on mini-batch 1: g = ∇L(w), then L(w − η·g)/L(w) on the same mini-batch for {Etas.Count} log-spaced η ({PerDecade} per decade) from {F(Etas[0])} to {F(Etas[^1])}. " +
         $"η* is the first η whose relative loss is above {F(Divergence)} (or not finite); a curve that never diverges counts as diverging one grid step beyond the range ({F(Math.Pow(10, Censored))}, a lower bound). " +
         $"Headroom(BN) = log10 η*(BN) − min(log10 of that step beyond the range, log10({F(LaterFactor)}·η*(standard))): at least 0 when BN stays below the threshold over the whole range or diverges at a {F(LaterFactor)}× larger η than the standard net. " +
         $"Rules: without BN small steps diverge (η* ≤ {F(StandardLimit)} on the grid): {SmallStepsDiverge.Describe(StandardName, $"{StandardConstant} ({F(StandardThreshold)})")}; " +
         $"with BN they do not: {LaterWithBn.Describe(HeadroomName, $"{HeadroomConstant} ({F(-HalfStep)})")}.",
            InitialResNet.Deviations(preset, dataset) + " The paper shows mini-batches 1, 4 and 7 of one initialisation at the start of training; we measure mini-batch 1 of each seed at its initial weights (each seed a new initialisation and a new shuffle), so the replicates are the seeds the verdict is judged over. Each curve is evaluated up to its first divergence.");

    static string F(double v) => RunFigures.F(v);

    /// <summary>
    /// L(w − η·g)/L(w) for each η in order on <paramref name="batch"/>, with g = ∇L(w) there, in the model's
    /// mode, up to and including the first value not below <paramref name="stopAbove"/> (a NaN included); the model is left as it was.
    /// </summary>
    public static double[] Measure(Module model, Batch batch, IReadOnlyList<double> etas, double stopAbove = double.PositiveInfinity)
    {
        var loss = Probes.LossOn(batch, LossKind.CrossEntropy);
        var weights = ParameterVector.Flatten(model.Parameters());
        var (here, gradient) = ParameterVector.LossAndGradientAt(model, weights, loss);
        var (w, g) = (weights.ToDoubleArray(), gradient.ToDoubleArray());
        var relative = new List<double>();
        foreach (double eta in etas)
        {
            relative.Add(ParameterVector.LossAt(model, Probes.Stepped(w, g, eta), m => loss(m).Item()) / here);
            if (!(relative[^1] <= stopAbove)) break;
        }
        return [.. relative];
    }

    /// <summary>log10 of the step one grid point beyond the range: where a curve that never diverges is counted.</summary>
    static double Censored => LowestDecade + (double)Etas.Count / PerDecade;

    /// <summary>log10 of the first η of the grid whose relative loss is above the threshold or not finite; <see cref="Censored"/> when none is.</summary>
    public static double FirstDivergence(IReadOnlyList<double> relative)
    {
        int first = relative.ToList().FindIndex(r => !(r <= Divergence));
        return first < 0 ? Censored : LowestDecade + (double)first / PerDecade;
    }

    /// <summary>
    /// How many decades BN's first divergence lies beyond what the claim asks of it: beyond the range, or
    /// <see cref="LaterFactor"/>× the standard net's η*, whichever is smaller (both as log10 η*).
    /// </summary>
    public static double Headroom(double bn, double standard) => bn - Math.Min(Censored, standard + Math.Log10(LaterFactor));

    /// <summary>The key of log10 of the first diverging η (<see cref="Censored"/> when none in the range diverges): "BN, seed 1: log10 of the first diverging η (…: none in the range)".</summary>
    public static ResultKey FirstDivergenceKey(Norm network, ulong seed) => new(InitialResNet.Label(network, seed), $"log10 of the first diverging η ({F(Censored)}: none in the range)");

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var figures = new List<FigureData>();
        var rows = new List<IReadOnlyList<string>>();
        var numbers = new Dictionary<ResultKey, double>();
        var csv = new List<string> { "network,seed,eta,relative_loss" };
        var first = new Dictionary<Norm, List<double>>();
        foreach (var norm in (Norm[])[Norm.BatchNorm, Norm.None])
        {
            string net = Presets.Label(norm);
            var series = new List<Series>();
            first[norm] = [];
            foreach (ulong seed in context.SeedList)
            {
                context.Progress.Message(Name, $"{net}: seed {seed}");
                var (model, batches) = InitialResNet.Build(context, seed, norm, [1]);
                var relative = Measure(model, batches[0], Etas, Divergence);
                double diverges = FirstDivergence(relative);
                first[norm].Add(diverges);
                var etas = Etas.Take(relative.Length).ToArray();
                series.Add(new Series($"seed {seed}", etas, relative));
                csv.AddRange(etas.Select((eta, i) => string.Create(CultureInfo.InvariantCulture, $"{net},{seed},{eta:R},{relative[i]:R}")));
                numbers[FirstDivergenceKey(norm, seed)] = diverges;
                rows.Add([net, seed.ToString(CultureInfo.InvariantCulture), diverges < Censored ? F(Math.Pow(10, diverges)) : "none",
                    .. Decades().Select(i => i >= relative.Length ? "" : double.IsFinite(relative[i]) ? F(relative[i]) : "overflow")]);
            }
            figures.Add(new FigureData($"{net}: relative loss", $"L(w − η·g)/L(w) on mini-batch 1 of each seed, g its gradient there; above {F(Divergence)} counts as divergence, where each curve ends.",
                "step size η", "relative loss", series, LogX: true, LogY: true) { References = [new ReferenceLine(Divergence, "divergence", Horizontal: true)] });
        }
        string file = WriteCsv(context, "relative-loss.csv", csv);
        var table = new TableData($"Relative loss per seed (first diverging η: the smallest with relative loss above {F(Divergence)}; empty: not evaluated beyond the first divergence)",
            ["network", "seed", "first diverging η", .. Decades().Select(i => $"η = {F(Etas[i])}")], rows);
        var verdict = Judge(new SeedValues(StandardName, first[Norm.None]), new SeedValues("log10 η*(BN)", first[Norm.BatchNorm]));
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict, figures, [table], numbers, [file], clock.Elapsed.TotalSeconds);
    }

    /// <summary>Grid indices of whole decades of η, the table's columns.</summary>
    static IEnumerable<int> Decades() => Enumerable.Range(0, Etas.Count).Where(i => i % PerDecade == 0);

    /// <summary>
    /// From log10 of each seed's first diverging η (<see cref="FirstDivergence"/>) without and with BN:
    /// without BN small steps diverge (η* ≤ 1e-2); with BN one step diverges only beyond the range or at a
    /// 100× larger η (<see cref="Headroom"/> ≥ 0). Both thresholds sit half a grid step off the limit.
    /// </summary>
    public static Verdict Judge(SeedValues standard, SeedValues bn)
    {
        var headroom = new SeedValues(HeadroomName, bn.Values.Zip(standard.Values, Headroom));
        return Verdict.Of(
        [
            SmallStepsDiverge.Judge($"without BN one step diverges from small step sizes (η* ≤ {F(StandardLimit)})", standard, StandardThreshold, StandardConstant),
            LaterWithBn.Judge($"with BN it does not: below the threshold up to η = {F(BnLimit)}, or diverging at a {F(LaterFactor)}× larger η", headroom, -HalfStep, HeadroomConstant),
        ], $"η* per seed, log10: standard {standard.Format()}; BN {bn.Format()} ({F(Censored)}: none in the range)");
    }
}
