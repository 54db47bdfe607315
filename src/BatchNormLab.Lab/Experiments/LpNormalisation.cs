using BatchNormLab.Models;

namespace BatchNormLab.Experiments;

/// <summary>
/// Santurkar et al. 2018 §3.3, Figs. 13–14: BN with the standard deviation replaced by an ℓp average
/// (<see cref="Nn.LpNorm"/>, p = 1, 2, ∞). The claim judged: all train about as well as BN (Fig. 13).
/// The paper's further observation (Fig. 14), that their distributions shift more than even the
/// standard network's, is measured and reported beside the verdict with whether it holds.
/// </summary>
public sealed class LpNormalisation : NormComparison
{
    public override string Name => "lp-norm";
    public override string Figure => "Santurkar et al. 2018, Figs. 13–14";
    public override string Source => "Santurkar et al. 2018 §3.3, Figs. 13–14; seed 000 and seed 002 (ℓp normalisations train about as well although ICS is larger)";
    public override string Claim => "Normalising by the ℓ1, ℓ2 or ℓ∞ average of the centred activations instead of their standard deviation trains about as well as BN (Fig. 13; Fig. 14's observation that their distributions shift more than even the standard network's is reported beside the verdict).";

    protected override IReadOnlyList<Norm> Networks { get; } = [Norm.None, Norm.BatchNorm, Norm.L1, Norm.L2, Norm.LInf];

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; LR 0.1; the standard and BN networks, and ℓ1, ℓ2, ℓ∞ normalisation in BN's place: y = γ·(x − μ)/D + β with D = mean|x − μ| (ℓ1), √(mean (x − μ)² + ε) (ℓ2), max|x − μ| (ℓ∞), per channel over the batch and the image. " +
         $"Rule per ℓp network: {AboutAsWell.Describe("acc(ℓp)", "acc(BN)")}.",
         Presets.Deviations(preset, dataset) + " The paper does not give the ℓp formula; ours is the natural one (PAPERS.md §2). ℓ2 is BN with a biased running estimate.");

    /// <summary>"About as well as BN": test accuracy within 5 points of BN's (an equivalence margin).</summary>
    public static readonly Rule AboutAsWell = Rule.Accuracy(Claimed.Same, 5);

    /// <summary>Training loss and test accuracy averaged over seeds, and the deepest recorded layer's distribution (first seed).</summary>
    protected override IEnumerable<FigureData> Figures(IReadOnlyList<SeededRuns> groups) =>
        [SeededRuns.TrainingLoss(groups), SeededRuns.TestAccuracy(groups), RunFigures.ActivationBands(FirstSeed(groups), groups[0].Runs[0].Activations!.Layers[^1])];

    protected override Verdict Judge(IReadOnlyList<SeededRuns> groups) => Judge(groups[1].TestAccuracyPerSeed, groups.Skip(2).Select(g => g.TestAccuracyPerSeed).ToList());

    /// <summary>BN trains (precondition), and each ℓp network's test accuracy is within ±5 points of BN's.</summary>
    public static Verdict Judge(SeedValues bn, IReadOnlyList<SeedValues> lp) => Verdict.Of(
    [
        SeededRuns.Trains(bn),
        .. lp.Select(l => AboutAsWell.Judge($"{l.Label} trains about as well as BN (test accuracy)", l, bn)),
    ]);
}
