namespace BatchNormLab.Experiments;

/// <summary>
/// Santurkar et al. 2018, Figs. 1c and 2: the distributions of chosen layers' activations over training
/// for the standard, BN and noisy-BN networks. The paper's finding, which both seeds repeat: the
/// difference in distributional stability between the networks with and without BN is marginal, so BN's
/// benefit does not come from steadier distributions; noisy BN's distributions are markedly less stable.
/// The activations are read in the same place in every network, the weight layer's output before any
/// normalisation, where γ and β do not pin the distribution by construction.
/// </summary>
public sealed class Activations : NormComparison
{
    /// <inheritdoc/>
    public override string Name => "activations";
    /// <inheritdoc/>
    public override string Figure => "Santurkar et al. 2018, Fig. 1c and Fig. 2 (layer distributions)";
    /// <inheritdoc/>
    public override string Source => "Santurkar et al. 2018 §2.1, Fig. 1c (the difference in distributional stability is marginal) and Fig. 2 (noisy BN's distributions are less stable); seed 002 (“相差甚微”), seed 003 (“区别并不明显”)";
    /// <inheritdoc/>
    public override string Claim => "The difference in distributional stability of a layer's activations between the networks with and without BN is marginal (Fig. 1c): BN's benefit does not come from steadier distributions. With noisy BN the distributions are markedly less stable than both (Fig. 2).";

    /// <summary>"Marginal": the shifts of BN and the standard network within a factor of 2 of each other.</summary>
    public static readonly Rule Marginal = Rule.Factor(Claimed.Same, 2);

    /// <summary>"Markedly less stable": noisy BN's shift at least twice the other network's.</summary>
    public static readonly Rule Markedly = Rule.Factor(Claimed.Greater, 2);

    /// <inheritdoc/>
    protected override IReadOnlyList<Norm> Networks { get; } = [Norm.None, Norm.BatchNorm, Norm.NoisyBatchNorm];

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; LR 0.1; the standard, BN and noisy-BN networks; the activations (each weight layer's output before any normalisation, the same place in every network) of the weight layers at the depths of the paper's #3, #9 and #13 (of 13 convs), " +
         $"recorded on the training batch every {Math.Max(1, Presets.Vgg(preset, Norm.None, 0.1, 0, dataset).Steps / 50)} steps. Shift: the mean change of the 5/25/50/75/95th percentiles between recordings, in units of the 5–95 spread, averaged over the layers. " +
         $"Rules: BN vs standard: {Marginal.Describe("shift(BN)", "shift(standard)")}. Noisy BN vs each: {Markedly.Describe("shift(noisy BN)", "shift(other)")}.",
         Presets.Deviations(preset, dataset) + " The paper draws histograms per step; we draw the median with its 5–95th percentile band, and summarise how much a distribution moves as a scale-free shift. “Marginal” and “markedly” are not quantified in the paper: the factor 2 is ours.");

    /// <inheritdoc/>
    protected override IEnumerable<FigureData> Figures(IReadOnlyList<SeededRuns> groups) =>
        groups[0].Runs[0].Activations!.Layers.Select(l => RunFigures.ActivationBands(FirstSeed(groups), l));

    /// <inheritdoc/>
    protected override Verdict Judge(IReadOnlyList<SeededRuns> groups) => Judge(Shifts(groups[0]), Shifts(groups[1]), Shifts(groups[2]));

    /// <summary>The conjunction of: BN's shift within a factor 2 of the standard network's; noisy BN's at least twice BN's and twice the standard network's.</summary>
    public static Verdict Judge(SeedValues standard, SeedValues bn, SeedValues noisy) => Verdict.Of(
    [
        Marginal.Judge("BN's distributions are about as stable as the standard network's (marginal difference)", bn, standard),
        Markedly.Judge("noisy BN's distributions are markedly less stable than BN's", noisy, bn),
        Markedly.Judge("noisy BN's distributions are markedly less stable than the standard network's", noisy, standard),
    ]);
}
