using System.Globalization;
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
    public override string Claim => "Normalising by the ℓ1, ℓ2 or ℓ∞ average of the centred activations instead of their standard deviation trains about as well as BN (Fig. 13; Fig. 14's observation that their distributions shift more than even the standard network's is reported beside the verdict).";

    protected override IReadOnlyList<Norm> Networks { get; } = [Norm.None, Norm.BatchNorm, Norm.L1, Norm.L2, Norm.LInf];

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; LR 0.1; the standard and BN networks, and ℓ1, ℓ2, ℓ∞ normalisation in BN's place: y = γ·(x − μ)/D + β with D = mean|x − μ| (ℓ1), √(mean (x − μ)² + ε) (ℓ2), max|x − μ| (ℓ∞), per channel over the batch and the image.",
         Presets.Deviations(preset, dataset) + " The paper does not give the ℓp formula; ours is the natural one (PAPERS.md §2). ℓ2 is BN with a biased running estimate.");

    /// <summary>Training loss, test accuracy, and the deepest recorded layer's distribution.</summary>
    protected override IEnumerable<FigureData> Figures(IReadOnlyList<TrainedRun> runs) =>
        [RunFigures.TrainingLoss(runs), RunFigures.TestAccuracy(runs), RunFigures.ActivationBands(runs, runs[0].Activations!.Layers[^1])];

    /// <summary>
    /// Judged on training: agrees when every ℓp network's test accuracy is within 5 points of BN's (or
    /// better); does not agree when one is more than 10 points behind; inconclusive in between. The
    /// shift comparison with the standard network is reported beside it.
    /// </summary>
    protected override Verdict Judge(IReadOnlyList<TrainedRun> runs)
    {
        var (standard, bn, lp) = (runs[0], runs[1], runs.Skip(2).ToList());
        double accBn = RunFigures.AccuracyOrChance(bn), shiftStandard = RunFigures.Shift(standard).Mean;
        string n(double v) => v.ToString("G3", CultureInfo.InvariantCulture);
        int shiftsMore = lp.Count(r => RunFigures.Shift(r).Mean > shiftStandard);
        string shift = shiftsMore * 2 > lp.Count ? "holds here" : "does not hold here";
        string numbers = $"BN {RunFigures.Summary(bn)}; " + string.Join("; ", lp.Select(r => $"{r.Label} {RunFigures.Summary(r)}")) +
                         $". Fig. 14's observation, more distributional shift than the standard network, {shift}: {shiftsMore} of {lp.Count} ℓp networks shift more " +
                         $"(standard {n(shiftStandard)}, " + string.Join(", ", lp.Select(r => $"{r.Label} {n(RunFigures.Shift(r).Mean)}")) + ")";
        if (bn.Outcome.Diverged || accBn < RunFigures.Chance + 0.1) return new(VerdictKind.Inconclusive, $"BN itself did not train ({numbers})");
        double worst = lp.Min(RunFigures.AccuracyOrChance);
        if (worst >= accBn - 0.05) return new(VerdictKind.Agrees, $"every ℓp normalisation trains within 5 points of BN ({numbers})");
        if (worst < accBn - 0.10) return new(VerdictKind.DoesNotAgree, $"an ℓp normalisation trains more than 10 points worse than BN ({numbers})");
        return new(VerdictKind.Inconclusive, $"an ℓp normalisation is 5–10 points behind BN ({numbers})");
    }
}
