using System.Globalization;
using BatchNormLab.Models;

namespace BatchNormLab.Experiments;

/// <summary>
/// Santurkar et al. 2018, Fig. 2: BN followed by random per-step shifts and scales of every activation
/// (<see cref="Nn.NoisyBatchNorm"/>) against BN, the standard network and the same noise without BN.
/// The claim: noisy BN trains about as well as BN although its distributions move more than even the
/// standard network's; the noise without BN stops training.
/// </summary>
public sealed class NoisyBn : NormComparison
{
    public override string Name => "noisy-bn";
    public override string Figure => "Santurkar et al. 2018, Fig. 2";
    public override string Claim => "Noisy BN (after each BN, a ← s·a + m with random per-step means and scales) trains about as well as BN, although its layer distributions move more than even the standard network's; the same noise without BN stops training.";

    protected override IReadOnlyList<Norm> Networks { get; } = [Norm.None, Norm.BatchNorm, Norm.NoisyBatchNorm, Norm.Noise];

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; LR 0.1; the standard, BN, noisy-BN and noise-without-BN networks. Noise per layer and step: μ ~ U(−0.5, 0.5), σ ~ U(1, 1.25); per element m ~ U(μ − 0.1, μ + 0.1), s ~ N(σ, 0.1²).",
         Presets.Deviations(preset, dataset) + " The paper does not say whether 0.1 is the standard deviation or the variance of s; we take the standard deviation.");

    /// <summary>Training loss, test accuracy, and the middle recorded layer's distribution.</summary>
    protected override IEnumerable<FigureData> Figures(IReadOnlyList<TrainedRun> runs)
    {
        var layers = runs[0].Activations!.Layers;
        return [RunFigures.TrainingLoss(runs), RunFigures.TestAccuracy(runs), RunFigures.ActivationBands(runs, layers[layers.Count / 2])];
    }

    /// <summary>
    /// Judged on training, as the claim is ("trains about as well"): agrees when noisy BN's training
    /// accuracy (last 50 steps, noise on) is within 5 points of BN's or better, its distribution shift
    /// exceeds the standard network's, and the noise without BN trains at least 10 points worse than
    /// noisy BN (a diverged run counts as chance); does not agree when noisy BN falls more than 5
    /// points behind BN. Test accuracies (noise replaced by its expectation) are reported beside.
    /// </summary>
    protected override Verdict Judge(IReadOnlyList<TrainedRun> runs)
    {
        var (standard, bn, noisy, noise) = (runs[0], runs[1], runs[2], runs[3]);
        static double Trained(TrainedRun r) => r.Outcome.Diverged ? RunFigures.Chance : r.FinalTrainAccuracy();
        double accBn = Trained(bn), accNoisy = Trained(noisy), accNoise = Trained(noise);
        double shiftStandard = RunFigures.Shift(standard).Mean, shiftNoisy = RunFigures.Shift(noisy).Mean;
        string n(double v) => v.ToString("G3", CultureInfo.InvariantCulture);
        string numbers = $"BN {RunFigures.Summary(bn)}; noisy BN {RunFigures.Summary(noisy)}; noise without BN {RunFigures.Summary(noise)}; distribution shift noisy BN {n(shiftNoisy)} vs standard {n(shiftStandard)}";
        if (accBn < RunFigures.Chance + 0.1) return new(VerdictKind.Inconclusive, $"BN itself did not train ({numbers})");
        if (accNoisy < accBn - 0.05) return new(VerdictKind.DoesNotAgree, $"noisy BN trains clearly worse than BN ({numbers})");
        var failed = new List<string>();
        if (!(shiftNoisy > shiftStandard)) failed.Add("noisy BN's distributions do not move more than the standard network's");
        if (accNoise > accNoisy - 0.10) failed.Add("the noise without BN still trains");
        return failed.Count == 0
            ? new(VerdictKind.Agrees, $"noisy BN's training accuracy is within 5 points of BN's with less stable distributions, and the noise without BN fails ({numbers})")
            : new(VerdictKind.Inconclusive, $"noisy BN trains within 5 points of BN, but {string.Join(" and ", failed)} ({numbers})");
    }
}
