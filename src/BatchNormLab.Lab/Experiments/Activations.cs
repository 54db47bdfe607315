using System.Globalization;
using BatchNormLab.Models;

namespace BatchNormLab.Experiments;

/// <summary>
/// Santurkar et al. 2018, Figs. 1c and 2: the distributions of chosen layers' pre-activations over
/// training, for the standard, BN and noisy-BN networks. The claim: with BN they are more stable than
/// without, while noisy BN makes them less stable than even the standard network's (and still trains:
/// see noisy-bn), so stable distributions are not what BN's benefit rests on.
/// </summary>
public sealed class Activations : NormComparison
{
    public override string Name => "activations";
    public override string Figure => "Santurkar et al. 2018, Fig. 1c and Fig. 2 (layer distributions)";
    public override string Claim => "With BN, a layer's input distribution is more stable over training than without; with noisy BN it is less stable than even the standard network's.";

    protected override IReadOnlyList<Norm> Networks { get; } = [Norm.None, Norm.BatchNorm, Norm.NoisyBatchNorm];

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; LR 0.1; the standard, BN and noisy-BN networks; the values entering the activation after the weight layers at the depths of the paper's #3, #9 and #13 (of 13 convs), recorded on the training batch every {Math.Max(1, Presets.Vgg(preset, Norm.None, 0.1, 0, dataset).Steps / 50)} steps.",
         Presets.Deviations(preset, dataset) + " The paper draws histograms per step; we draw the median with its 5–95th percentile band, and summarise how much a distribution moves as a scale-free shift (mean change of its percentiles between recordings, in units of its 5–95 spread).");

    protected override IEnumerable<FigureData> Figures(IReadOnlyList<TrainedRun> runs) =>
        runs[0].Activations!.Layers.Select(l => RunFigures.ActivationBands(runs, l));

    /// <summary>Agrees when BN's shift is below the standard network's and noisy BN's above it; does not agree when neither holds.</summary>
    protected override Verdict Judge(IReadOnlyList<TrainedRun> runs)
    {
        double standard = RunFigures.Shift(runs[0]).Mean, bn = RunFigures.Shift(runs[1]).Mean, noisy = RunFigures.Shift(runs[2]).Mean;
        string n(double v) => v.ToString("G3", CultureInfo.InvariantCulture);
        string numbers = $"mean distribution shift: standard {n(standard)}, BN {n(bn)}, noisy BN {n(noisy)}";
        if (!double.IsFinite(standard) || !double.IsFinite(bn) || !double.IsFinite(noisy)) return new(VerdictKind.Inconclusive, $"a run recorded too few distributions ({numbers})");
        bool bnSteadier = bn < standard, noisyLessSteady = noisy > standard;
        if (bnSteadier && noisyLessSteady) return new(VerdictKind.Agrees, $"BN steadies the distributions, noisy BN unsettles them beyond the standard network's ({numbers})");
        if (!bnSteadier && !noisyLessSteady) return new(VerdictKind.DoesNotAgree, $"BN does not steady the distributions and noisy BN does not unsettle them ({numbers})");
        return new(VerdictKind.Inconclusive, $"{(bnSteadier ? "BN steadies the distributions, but noisy BN's are not less stable than the standard network's" : "noisy BN unsettles the distributions, but BN does not steady them")} ({numbers})");
    }
}
