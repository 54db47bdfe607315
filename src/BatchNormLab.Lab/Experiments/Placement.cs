namespace BatchNormLab.Experiments;

/// <summary>
/// Seed 003's practical question: BN before or after the activation, with and without its own scale γ
/// and shift β. Its table (caffenet-benchmark on ImageNet) has BN after ReLU slightly ahead, and the
/// seed calls the difference small; [IS15] puts BN before the nonlinearity. Four configurations of the
/// BN VGG over the context's seeds, compared paired by seed, with γ, β and without.
/// </summary>
public sealed class Placement : Experiment
{
    /// <inheritdoc/>
    public override string Name => "placement";
    /// <inheritdoc/>
    public override string Figure => "Seed 003 Q&A (caffenet-benchmark on ImageNet); Ioffe & Szegedy 2015 §3.2";
    /// <inheritdoc/>
    public override string Source => "seed 003 Q&A (caffenet-benchmark on ImageNet: BN after ReLU 49.9% vs before 47.4%, with scale & bias 49.3% vs 47.8%; \"the difference seems small, after ReLU even a little better\"); Ioffe & Szegedy 2015 §3.2 (BN before the nonlinearity)";
    /// <inheritdoc/>
    public override string Claim => "Where BN sits matters little: BN after the ReLU does at least as well as before it, where Ioffe & Szegedy put it (caffenet on ImageNet: accuracy 49.9% vs 47.4%; with BN's own scale and bias 49.3% vs 47.8%).";

    /// <summary>"At least as well": after-ReLU test accuracy not more than 1 point below before-ReLU's (the seed hedges "even a little better" with "seems", so not worse is what it claims).</summary>
    public static readonly Rule AtLeastAsWell = Rule.Accuracy(Claimed.NotLess, 1);

    /// <summary>"Matters little": the placements within ±3 points of each other (the table's 2.5 and 1.5 points are what the seed calls small).</summary>
    public static readonly Rule MattersLittle = Rule.Accuracy(Claimed.Same, 3);

    /// <summary>The preset's BN VGG at LR 0.1 with BN at <paramref name="placement"/>, with or without γ, β.</summary>
    internal static TrainConfig BnVgg(ExperimentContext context, NormPlacement placement, bool affine, ulong seed)
    {
        var config = Presets.Vgg(context.Preset, Norm.BatchNorm, 0.1, seed, context.Dataset);
        return config with { Model = config.Model with { Options = config.Model.Options with { Placement = placement, NormAffine = affine } } };
    }

    /// <summary>The four configurations, over the context's seeds (the before-ReLU one with γ, β is the BN run the other experiments share).</summary>
    internal static Dictionary<(NormPlacement Placement, bool Affine), SeededRuns> Train(ExperimentContext context, string experiment)
    {
        var keys = ((NormPlacement[])[NormPlacement.BeforeActivation, NormPlacement.AfterActivation]).SelectMany(p => ((bool[])[true, false]).Select(affine => (p, affine)));
        return SeededRuns.TrainAll(context, experiment, keys, k => Label(k.p, k.affine), (k, seed) => BnVgg(context, k.p, k.affine, seed));
    }

    /// <summary>"BN before ReLU" / "BN after ReLU, no γ/β".</summary>
    internal static string Label(NormPlacement placement, bool affine) =>
        $"BN {(placement == NormPlacement.BeforeActivation ? "before" : "after")} ReLU{(affine ? "" : ", no γ/β")}";

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; LR 0.1; BN before and after each ReLU, each with its own γ, β (PyTorch's affine) and without (γ = 1, β = 0 fixed), over the seeds (initialisation and data order). " +
         "BN before ReLU with γ, β is the BN run the other experiments share; affine shares all four. " +
         $"Rules on test accuracy, paired by seed, with γ, β and without: at least as well: {AtLeastAsWell.Describe("acc(after)", "acc(before)")}; matters little: {MattersLittle.Describe("acc(after)", "acc(before)")}. " +
         "Every configuration must train (precondition: above chance by 10 points).",
         "The claim's numbers are CaffeNet on ImageNet (seed 003's table); these are the VGG runs of the Santurkar et al. experiments, whose setting differs from that paper's thus: " + Presets.Deviations(preset, dataset));

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var groups = Train(context, Name);
        var ordered = groups.Values.ToList();
        var runs = ordered.SelectMany(g => g.Runs).ToList();

        var numbers = new Dictionary<ResultKey, double>();
        foreach (var g in ordered) g.AddNumbers(numbers);
        SeedValues Accuracy(NormPlacement placement, bool affine) => groups[(placement, affine)].TestAccuracyPerSeed;
        var verdict = Judge(Accuracy(NormPlacement.BeforeActivation, true), Accuracy(NormPlacement.AfterActivation, true),
            Accuracy(NormPlacement.BeforeActivation, false), Accuracy(NormPlacement.AfterActivation, false));
        string csv = WriteCsv(context, "placement.csv", groups.SelectMany(g => g.Value.CsvLines(
            $"{(g.Key.Placement == NormPlacement.BeforeActivation ? "before" : "after")},{g.Key.Affine.ToString().ToLowerInvariant()}"))
            .Prepend("placement,affine," + SeededRuns.CsvColumns));
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict,
            [SeededRuns.TrainingLoss(ordered), SeededRuns.TestAccuracy(ordered)], [SeededRuns.Table(ordered), RunFigures.Table(runs)], numbers,
            [csv, .. runs.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv")], clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Test accuracies per seed: every configuration trains (preconditions); with γ, β and without, BN
    /// after ReLU does at least as well as before it (not more than 1 point behind) and the two are within ±3 points.
    /// </summary>
    public static Verdict Judge(SeedValues before, SeedValues after, SeedValues beforeFixed, SeedValues afterFixed) => Verdict.Of(
    [
        SeededRuns.Trains(before),
        SeededRuns.Trains(after),
        SeededRuns.Trains(beforeFixed),
        SeededRuns.Trains(afterFixed),
        AtLeastAsWell.Judge("with γ, β: BN after ReLU does at least as well as before it", after, before),
        AtLeastAsWell.Judge("without γ, β: BN after ReLU does at least as well as before it", afterFixed, beforeFixed),
        MattersLittle.Judge("with γ, β: the placement changes accuracy little", after, before),
        MattersLittle.Judge("without γ, β: the placement changes accuracy little", afterFixed, beforeFixed),
    ]);
}
