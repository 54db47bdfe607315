namespace BatchNormLab.Experiments;

/// <summary>
/// Bjorck et al. 2018, Fig. 1, in the VGG setting of <see cref="Presets.Vgg"/>: BN at a small learning rate,
/// the standard network at the same rate, and BN at LR 0.1, each over the context's seeds. The claim: BN's
/// benefit comes from the larger learning rate it allows; at a small rate BN trains about like the
/// network without it, and only at the larger rate does it pull ahead.
/// </summary>
public sealed class SmallLr : Experiment
{
    /// <inheritdoc/>
    public override string Name => "small-lr";
    /// <inheritdoc/>
    public override string Figure => "Bjorck et al. 2018, Fig. 1";
    /// <inheritdoc/>
    public override string Source => "Bjorck et al. 2018 §2, Fig. 1 (ResNet-110 with BN at LR 0.1, 0.003, 0.0001 and without BN at 0.0001: BN's benefit comes from the larger learning rate); seed 003 (Understanding BN, first section)";
    /// <inheritdoc/>
    public override string Claim => "BN's benefit comes from the larger learning rate it allows: with BN at a small learning rate the network trains about like the network without BN at that rate; only at the larger rate does BN pull ahead.";

    /// <summary>The small rate, 10× below the VGG setting's 0.1 (see the deviations for why not Bjorck's 1000×).</summary>
    public double SmallRate { get; init; } = 0.01;

    /// <summary>The large rate: the VGG setting's, shared with lr-sweep and the other experiments on the VGG runs.</summary>
    public const double LargeRate = 0.1;

    /// <summary>"About like": BN's test accuracy at the small rate within ±5 points of the standard net's (the margin noisy-bn's "about as well" uses).</summary>
    public static readonly Rule AboutLike = Rule.Accuracy(Claimed.Same, 5);

    /// <summary>"Pulls ahead at the larger rate": BN's test accuracy at the large rate more than 2 points above its own at the small rate.</summary>
    public static readonly Rule PullsAhead = Rule.Accuracy(Claimed.Greater, 2);

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; BN and the standard network at LR {F(SmallRate)}, BN at LR {F(LargeRate)} (the runs at {F(LargeRate)} are shared with lr-sweep). " +
         $"Judged on test accuracy (a diverged run's is chance), BN at both rates training at all (above chance by 10 points) a precondition. " +
         $"Rules, paired by seed: at the small rate BN trains about like the standard net: {AboutLike.Describe($"acc(BN, lr {F(SmallRate)})", $"acc(standard, lr {F(SmallRate)})")}; " +
         $"at the larger rate BN pulls ahead: {PullsAhead.Describe($"acc(BN, lr {F(LargeRate)})", $"acc(BN, lr {F(SmallRate)})")}.",
         Presets.Deviations(preset, dataset) + $" Bjorck et al. train ResNet-110 with momentum, weight decay and a schedule, their small rate (0.0001) being the largest their network without BN trains at, 1000× below BN's 0.1. " +
         $"With plain SGD and no momentum (its effective step 10× smaller than with momentum 0.9) and a short run, we take {F(SmallRate)}, 10× below {F(LargeRate)}, chosen before any run: a clearly smaller rate, where Bjorck's 1000× would leave a {Presets.Vgg(preset, Norm.BatchNorm, SmallRate, 0, dataset).Steps}-step run with almost no progress. " +
         $"Unlike Bjorck's ResNet-110, the standard VGG of this setting also trains at {F(LargeRate)} (lr-sweep compares BN and the standard network there), so the claim's premise, that only BN can use the large rate, does not hold here; " +
         "what is judged is the part that does not depend on it: at a common small rate BN gives no advantage, and its accuracy rises with the rate.");

    static string F(double v) => RunFigures.F(v);

    static string Label(Norm norm, double lr) => $"{Presets.Label(norm)}, lr {F(lr)}";

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        List<SeededRuns> groups = [.. SeededRuns.TrainAll(context, Name, [(Norm.BatchNorm, SmallRate), (Norm.None, SmallRate), (Norm.BatchNorm, LargeRate)],
            k => Label(k.Item1, k.Item2), (k, seed) => Presets.Vgg(context.Preset, k.Item1, k.Item2, seed, context.Dataset)).Values];
        var (bnSmall, standardSmall, bnLarge) = (groups[0], groups[1], groups[2]);
        var runs = groups.SelectMany(g => g.Runs).ToList();
        var numbers = new Dictionary<ResultKey, double>();
        foreach (var g in groups) g.AddNumbers(numbers);
        var verdict = Judge(bnSmall.TestAccuracyPerSeed, standardSmall.TestAccuracyPerSeed, bnLarge.TestAccuracyPerSeed);
        string losses = string.Join("; ", groups.Select(g => $"{g.Label} {string.Join(", ", g.TrainLosses.Select(l => RunFigures.Cell(l, "0.###")))}"));
        verdict = verdict with { Reason = $"{verdict.Reason}. Training loss over the last 50 steps per seed (chance: {RunFigures.Cell(SeededRuns.ChanceLoss, "0.###")}): {losses}" };
        string csv = WriteCsv(context, "small-lr.csv", groups.SelectMany(g => g.CsvLines($"{(g.Runs[0].Config.Model.Options.Norm == Norm.BatchNorm ? "bn" : "standard")},{g.Runs[0].Config.LearningRate}"))
            .Prepend("network,learning_rate," + SeededRuns.CsvColumns));
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict, [SeededRuns.TrainingLoss(groups), SeededRuns.TestAccuracy(groups)], [SeededRuns.Table(groups), RunFigures.Table(runs)], numbers,
            [csv, .. runs.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv")], clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// From per-seed test accuracies: BN trains at both rates (preconditions); at the small rate BN is within
    /// ±5 points of the standard net; at the large rate BN is more than 2 points above its own small-rate accuracy.
    /// </summary>
    public static Verdict Judge(SeedValues bnSmall, SeedValues standardSmall, SeedValues bnLarge) => Verdict.Of(
    [
        SeededRuns.Trains(bnSmall),
        SeededRuns.Trains(bnLarge),
        AboutLike.Judge("at the small rate BN trains about like the network without BN (test accuracy)", bnSmall, standardSmall),
        PullsAhead.Judge("at the larger rate BN pulls ahead of itself at the small rate (test accuracy)", bnLarge, bnSmall),
    ]);
}
