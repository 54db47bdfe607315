namespace BatchNormLab.Experiments;

/// <summary>
/// Santurkar et al. 2018, Fig. 2: BN followed by random per-step shifts and scales of every activation
/// (<see cref="Nn.NoisyBatchNorm"/>) against BN, the standard network and the same noise without BN.
/// The claim: noisy BN trains about as well as BN although its distributions move more than even the
/// standard network's; the noise without BN stops training.
/// </summary>
public sealed class NoisyBn : NormComparison
{
    /// <inheritdoc/>
    public override string Name => "noisy-bn";
    /// <inheritdoc/>
    public override string Figure => "Santurkar et al. 2018, Fig. 2";
    /// <inheritdoc/>
    public override string Source => "Santurkar et al. 2018 §2.1, Fig. 2; seed 000 and seed 002 (noisy BN trains about as well as BN)";
    /// <inheritdoc/>
    public override string Claim => "Noisy BN (after each BN, a ← s·a + m with random per-step means and scales) trains about as well as BN, although its layer distributions are less stable (judged in activations); the same noise without BN stops training.";

    /// <inheritdoc/>
    protected override IReadOnlyList<Norm> Networks { get; } = [Norm.None, Norm.BatchNorm, Norm.NoisyBatchNorm, Norm.Noise];

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; LR 0.1; the standard, BN, noisy-BN and noise-without-BN networks. Noise per layer and step: μ ~ U(−0.5, 0.5), σ ~ U(1, 1.25); per element m ~ U(μ − 0.1, μ + 0.1), s ~ N(σ, 0.1²). " +
         $"Judged on training accuracy over the last 50 steps (noise on). Rules: noisy BN vs BN: {AboutAsWell.Describe("acc(noisy BN)", "acc(BN)")}. Noise without BN vs noisy BN: {StopsTraining.Describe("acc(noise without BN)", "acc(noisy BN)")}.",
         Presets.Deviations(preset, dataset) + " The paper does not say whether 0.1 is the standard deviation or the variance of s; we take the standard deviation.");

    /// <summary>"About as well": noisy BN's training accuracy within 5 points of BN's (an equivalence margin).</summary>
    public static readonly Rule AboutAsWell = Rule.Accuracy(Claimed.Same, 5);

    /// <summary>"Stops training": the noise without BN at least 10 points of training accuracy behind noisy BN.</summary>
    public static readonly Rule StopsTraining = Rule.Accuracy(Claimed.Less, 10);

    /// <summary>Training loss and test accuracy averaged over seeds, and the middle recorded layer's distribution (first seed).</summary>
    protected override IEnumerable<FigureData> Figures(IReadOnlyList<SeededRuns> groups)
    {
        var layers = groups[0].Runs[0].Activations!.Layers;
        return [SeededRuns.TrainingLoss(groups), SeededRuns.TestAccuracy(groups), RunFigures.ActivationBands(FirstSeed(groups), layers[layers.Count / 2])];
    }

    /// <inheritdoc/>
    protected override Verdict Judge(IReadOnlyList<SeededRuns> groups) => Judge(groups[1].TrainAccuracyPerSeed, groups[2].TrainAccuracyPerSeed, groups[3].TrainAccuracyPerSeed);

    /// <summary>
    /// Judged on training, as the claim is ("trains about as well"), on training accuracy over the last 50
    /// steps with the noise on (a diverged run counts as chance): BN trains at all (precondition: above chance
    /// by 10 points); noisy BN within ±5 points of BN (equivalence); the noise without BN at least 10 points
    /// behind noisy BN. That noisy BN's distributions are less stable is judged in <c>activations</c>.
    /// </summary>
    public static Verdict Judge(SeedValues bn, SeedValues noisy, SeedValues noise) => Verdict.Of(
    [
        SeededRuns.Trains(bn),
        AboutAsWell.Judge("noisy BN trains about as well as BN (training accuracy)", noisy, bn),
        StopsTraining.Judge("the same noise without BN stops training", noise, noisy),
    ]);
}
