namespace BatchNormLab.Experiments;

/// <summary>
/// Santurkar et al. 2018 §3.3, Figs. 13–14: BN with the standard deviation replaced by an ℓp average
/// (<see cref="Nn.LpNorm"/>, p = 1, 2, ∞). The paper does not say whether the mean is subtracted first,
/// so both variants run: centred (ℓ2 centred is BN itself in training, so it is not trained again) and
/// uncentred (only the scale is normalised, so the mean can drift: Fig. 14's larger shift needs that).
/// Fig. 13 (trains about as well as BN) is judged on every variant, Fig. 14 (more distributional shift
/// than the standard network) on the uncentred ones.
/// </summary>
public sealed class LpNormalisation : NormComparison
{
    /// <inheritdoc/>
    public override string Name => "lp-norm";
    /// <inheritdoc/>
    public override string Figure => "Santurkar et al. 2018, Figs. 13–14";
    /// <inheritdoc/>
    public override string Source => "Santurkar et al. 2018 §3.3, Figs. 13–14; seed 000 and seed 002 (ℓp normalisations train about as well although their distributions shift more)";
    /// <inheritdoc/>
    public override string Claim => "Normalising by an ℓ1, ℓ2 or ℓ∞ average of the activations instead of their standard deviation trains about as well as BN (Fig. 13), although the layer distributions of these networks shift more than even the standard network's (Fig. 14).";

    static readonly Norm[] Centred = [Norm.L1, Norm.LInf];
    static readonly Norm[] Uncentred = [Norm.L1Uncentred, Norm.L2Uncentred, Norm.LInfUncentred];

    /// <inheritdoc/>
    protected override IReadOnlyList<Norm> Networks { get; } = [Norm.None, Norm.BatchNorm, .. Centred, .. Uncentred];

    /// <summary>"About as well as BN": test accuracy within 5 points of BN's (an equivalence margin).</summary>
    public static readonly Rule AboutAsWell = Rule.Accuracy(Claimed.Same, 5);

    /// <summary>"Shift more than the standard network": a distribution shift at least 25% larger.</summary>
    public static readonly Rule ShiftsMore = Rule.Factor(Claimed.Greater, 1.25);

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; LR 0.1; the standard and BN networks, and ℓp normalisation in BN's place, y = γ·(x − μ)/D + β per channel over the batch and the image, " +
         "centred (μ the batch mean; D = mean|x − μ| for ℓ1, max|x − μ| for ℓ∞; centred ℓ2 is BN in training and is not trained again) and uncentred (μ = 0; D = mean|x|, √(mean x² + ε), max|x|). " +
         $"Rules: per ℓp network, {AboutAsWell.Describe("acc(ℓp)", "acc(BN)")}; per uncentred network, {ShiftsMore.Describe("shift(ℓp)", "shift(standard)")} (shift as in activations).",
         Presets.Deviations(preset, dataset) + " The paper gives neither the ℓp formula nor whether the mean is subtracted: both variants run, and each number says which. “More shift” is not quantified in the paper: the 25% is ours.");

    /// <summary>Training loss and test accuracy averaged over seeds, and the deepest recorded layer's distribution (first seed).</summary>
    protected override IEnumerable<FigureData> Figures(IReadOnlyList<SeededRuns> groups) =>
        [SeededRuns.TrainingLoss(groups), SeededRuns.TestAccuracy(groups), RunFigures.ActivationBands(FirstSeed(groups), groups[0].Runs[0].Activations!.Layers[^1])];

    /// <inheritdoc/>
    protected override Verdict Judge(IReadOnlyList<SeededRuns> groups)
    {
        var lp = groups.Skip(2).ToList();
        return Judge(groups[1].TestAccuracyPerSeed, lp.Select(g => g.TestAccuracyPerSeed).ToList(), Shifts(groups[0]), lp.TakeLast(Uncentred.Length).Select(Shifts).ToList());
    }

    /// <summary>BN trains (precondition); each ℓp network's test accuracy within ±5 points of BN's; each uncentred network's shift at least 1.25× the standard network's.</summary>
    public static Verdict Judge(SeedValues bn, IReadOnlyList<SeedValues> lpAccuracies, SeedValues standardShift, IReadOnlyList<SeedValues> uncentredShifts) => Verdict.Of(
    [
        SeededRuns.Trains(bn),
        .. lpAccuracies.Select(l => AboutAsWell.Judge($"{l.Label} trains about as well as BN (test accuracy)", l, bn)),
        .. uncentredShifts.Select(s => ShiftsMore.Judge($"{s.Label}'s distributions shift more than the standard network's (Fig. 14)", s, standardShift)),
    ]);
}
