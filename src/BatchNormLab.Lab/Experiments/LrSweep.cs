namespace BatchNormLab.Experiments;

/// <summary>
/// Santurkar et al. 2018, Fig. 1: VGG with and without BN trained at several learning rates, each with the
/// context's seeds. The claim: BN trains faster, reaches a better test accuracy, and tolerates larger rates;
/// at LR 0.5 the standard network does not train.
/// </summary>
public sealed class LrSweep : Experiment
{
    /// <inheritdoc/>
    public override string Name => "lr-sweep";
    /// <inheritdoc/>
    public override string Figure => "Santurkar et al. 2018, Fig. 1 (a, b)";
    /// <inheritdoc/>
    public override string Source => "Santurkar et al. 2018 §2, Fig. 1 (a, b); seed 003 (BN converges faster, tolerates larger learning rates, and tests better)";
    /// <inheritdoc/>
    public override string Claim => "With BatchNorm, VGG trains faster (lower training loss along the way), reaches a higher test accuracy, and trains at larger learning rates: at LR 0.5 the network with BN trains, the standard one does not (or is clearly worse).";

    /// <summary>The learning rates swept; the largest is the one the "larger rates" sub-claim is about, the smallest the one "faster" and "better" are judged at.</summary>
    public IReadOnlyList<double> LearningRates { get; init; } = [0.1, 0.5];

    /// <summary>"Faster": BN's mean training loss over the run at least 10% lower.</summary>
    public static readonly Rule Faster = Rule.Factor(Claimed.Less, 1.1);

    /// <summary>"Better test accuracy" at the paper's rate: ahead by more than half a point.</summary>
    public static readonly Rule Better = Rule.Accuracy(Claimed.Greater, 0.5);

    /// <summary>"Trains where the standard net does not, or is clearly worse": ahead by more than 5 points.</summary>
    public static readonly Rule ClearlyBetter = Rule.Accuracy(Claimed.Greater, 5);

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; learning rates {string.Join(", ", LearningRates.Select(F))}, each with and without BN. " +
         $"Rules, paired by seed: faster at LR {F(LearningRates.Min())} (mean training loss over all steps, a diverged run's steps after divergence at the chance loss): {Faster.Describe("loss(BN)", "loss(standard)")}; " +
         $"better at LR {F(LearningRates.Min())}: {Better.Describe("acc(BN)", "acc(standard)")}; larger rates, at LR {F(LearningRates.Max())}: {ClearlyBetter.Describe("acc(BN)", "acc(standard)")} (a diverged run's accuracy is chance).",
         Presets.Deviations(preset, dataset));

    static string F(double v) => RunFigures.F(v);

    static string Label(Norm norm, double lr) => $"{(norm == Norm.BatchNorm ? "BN" : "standard")}, lr {F(lr)}";

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var groups = SeededRuns.TrainAll(context, Name, LearningRates.SelectMany(lr => ((Norm[])[Norm.BatchNorm, Norm.None]).Select(norm => (norm, lr))),
            k => Label(k.norm, k.lr), (k, seed) => Presets.Vgg(context.Preset, k.norm, k.lr, seed, context.Dataset));
        var ordered = groups.Values.ToList();
        var runs = ordered.SelectMany(g => g.Runs).ToList();

        var figures = new List<FigureData> { SeededRuns.TrainingLoss(ordered), SeededRuns.TestAccuracy(ordered) };
        var numbers = new Dictionary<ResultKey, double>();
        foreach (var g in ordered) g.AddNumbers(numbers);
        double low = LearningRates.Min(), top = LearningRates.Max();
        var verdict = Judge(groups[(Norm.BatchNorm, low)].Values(MeanTrainingLoss), groups[(Norm.None, low)].Values(MeanTrainingLoss),
            groups[(Norm.BatchNorm, low)].TestAccuracyPerSeed, groups[(Norm.None, low)].TestAccuracyPerSeed,
            groups[(Norm.BatchNorm, top)].TestAccuracyPerSeed, groups[(Norm.None, top)].TestAccuracyPerSeed);
        string csv = WriteCsv(context, "lr-sweep.csv", ordered.SelectMany(g => g.CsvLines($"{(g.Runs[0].Config.Model.Options.Norm == Norm.BatchNorm ? "bn" : "standard")},{g.Runs[0].Config.LearningRate}"))
            .Prepend("network,learning_rate," + SeededRuns.CsvColumns));
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict, figures, [SeededRuns.Table(ordered), RunFigures.Table(runs)], numbers,
            [csv, .. runs.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv")], clock.Elapsed.TotalSeconds);
    }

    /// <summary>The training loss averaged over every planned step, the diverging step and those after it counted at the chance loss: how fast a run trains.</summary>
    public static double MeanTrainingLoss(TrainedRun run)
    {
        var before = run.Steps.Where(s => run.Outcome.DivergedAtStep is not int at || s.Step < at).ToList();
        return (before.Sum(s => s.Loss) + (run.Config.Steps - before.Count) * SeededRuns.ChanceLoss) / run.Config.Steps;
    }

    /// <summary>BN trains at both rates (preconditions); faster and better at the low rate; clearly better at the top rate.</summary>
    public static Verdict Judge(SeedValues lossBn, SeedValues lossStandard, SeedValues accBn, SeedValues accStandard, SeedValues accBnTop, SeedValues accStandardTop) => Verdict.Of(
    [
        SeededRuns.Trains(accBn),
        SeededRuns.Trains(accBnTop),
        Faster.Judge("BN trains faster (mean training loss over the run)", lossBn, lossStandard),
        Better.Judge("BN reaches a higher test accuracy", accBn, accStandard),
        ClearlyBetter.Judge("at the larger rate BN trains where the standard network does not, or is clearly worse", accBnTop, accStandardTop),
    ]);
}
