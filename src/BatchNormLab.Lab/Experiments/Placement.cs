using System.Globalization;
using BatchNormLab.Models;
using BatchNormLab.Training;

namespace BatchNormLab.Experiments;

/// <summary>
/// Seed 003's practical question: BN before or after the activation, with and without its own scale γ
/// and shift β. Its table (caffenet-benchmark on ImageNet) has BN after ReLU slightly ahead; [IS15]
/// puts BN before the nonlinearity. Four configurations of the BN VGG, each trained with several seeds,
/// so the verdict can tell a difference from seed noise.
/// </summary>
public sealed class Placement : Experiment
{
    public override string Name => "placement";
    public override string Figure => "Seed 003 Q&A (caffenet-benchmark on ImageNet); Ioffe & Szegedy 2015 §3.2";
    public override string Claim => "BN after the ReLU does slightly better than BN before it, the placement Ioffe & Szegedy chose (caffenet on ImageNet: accuracy 49.9% vs 47.4%, log-loss 2.21 vs 2.35; with BN's own scale and bias 49.3% vs 47.8%).";

    /// <summary>Seeds per configuration (context.Seed, +1, …).</summary>
    public int Seeds { get; init; } = 3;

    /// <summary>A difference in mean test accuracy below this counts as noise even when the seeds agree closely: half a point.</summary>
    public const double AccuracyFloor = 0.005;

    /// <summary>The preset's BN VGG at LR 0.1 with BN at <paramref name="placement"/>, with or without γ, β.</summary>
    internal static TrainConfig BnVgg(ExperimentContext context, NormPlacement placement, bool affine, ulong seed)
    {
        var config = Presets.Vgg(context.Preset, Norm.BatchNorm, 0.1, seed, context.Dataset);
        return config with { Model = config.Model with { Options = config.Model.Options with { Placement = placement, NormAffine = affine } } };
    }

    /// <summary>"BN before ReLU" / "BN after ReLU, no γ/β".</summary>
    internal static string Label(NormPlacement placement, bool affine) =>
        $"BN {(placement == NormPlacement.BeforeActivation ? "before" : "after")} ReLU{(affine ? "" : ", no γ/β")}";

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; LR 0.1; BN before and after each ReLU, each with its own γ, β (PyTorch's affine) and without (γ = 1, β = 0 fixed); {Seeds} seeds per configuration (initialisation and data order). " +
         "The first seed's BN-before-ReLU run with γ, β is the BN run the other experiments share; affine shares the before-ReLU runs.",
         Presets.Deviations(preset, dataset) + " The claim's numbers are CaffeNet on ImageNet (seed 003's table), not a VGG on this dataset.");

    public override ExperimentResult Run(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var groups = new Dictionary<(NormPlacement, bool), SeededRuns>();
        foreach (var placement in (NormPlacement[])[NormPlacement.BeforeActivation, NormPlacement.AfterActivation])
            foreach (bool affine in (bool[])[true, false])
                groups[(placement, affine)] = SeededRuns.Train(context, Name, Label(placement, affine), seed => BnVgg(context, placement, affine, seed), Seeds);
        var ordered = groups.Values.ToList();
        var runs = ordered.SelectMany(g => g.Runs).ToList();

        var numbers = new Dictionary<string, double>();
        foreach (var g in ordered) g.AddNumbers(numbers);
        RunFigures.AddNumbers(numbers, runs);
        var verdict = Judge(groups, numbers);
        string csv = WriteCsv(context, "placement.csv", ordered.SelectMany(g => g.CsvLines(
            $"{(g.Runs[0].Config.Model.Options.Placement == NormPlacement.BeforeActivation ? "before" : "after")},{g.Runs[0].Config.Model.Options.NormAffine.ToString().ToLowerInvariant()}"))
            .Prepend("placement,affine," + SeededRuns.CsvColumns));
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict,
            [SeededRuns.TrainingLoss(ordered), SeededRuns.TestAccuracy(ordered)], [SeededRuns.Table(ordered), RunFigures.Table(runs)], numbers,
            [csv, .. runs.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv")], clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// The difference after − before in mean test accuracy over seeds, taken with γ, β and without and
    /// averaged: agrees when it is above the margin (two standard errors of the seed noise, at least half
    /// a point), does not agree when below minus the margin, inconclusive within it, or when BN did not train.
    /// </summary>
    static Verdict Judge(Dictionary<(NormPlacement, bool), SeededRuns> groups, Dictionary<string, double> numbers)
    {
        var (before, after) = (NormPlacement.BeforeActivation, NormPlacement.AfterActivation);
        var withAffine = Difference.OfMeans(groups[(after, true)].TestAccuracies, groups[(before, true)].TestAccuracies);
        var withoutAffine = Difference.OfMeans(groups[(after, false)].TestAccuracies, groups[(before, false)].TestAccuracies);
        var difference = Difference.Average(withAffine, withoutAffine);
        var loss = Difference.Average(Difference.OfMeans(groups[(after, true)].TestLosses, groups[(before, true)].TestLosses),
            Difference.OfMeans(groups[(after, false)].TestLosses, groups[(before, false)].TestLosses));
        numbers["after − before: test accuracy difference"] = difference.Value;
        numbers["after − before: its standard error"] = difference.StandardError;
        numbers["after − before: test loss difference"] = loss.Value;
        string P(double v) => (100 * v).ToString("0.0", CultureInfo.InvariantCulture) + "%";
        string Mean(NormPlacement p, bool a) => P(groups[(p, a)].TestAccuracies.Average());
        string seeds = groups[(before, true)].Runs.Count.ToString(CultureInfo.InvariantCulture);
        string reason = $"mean test accuracy over {seeds} seeds: before ReLU {Mean(before, true)} (no γ/β {Mean(before, false)}), after ReLU {Mean(after, true)} (no γ/β {Mean(after, false)}); " +
                        $"after − before {difference.Format(100, "points")} (with γ/β {withAffine.Format(100, "")}, without {withoutAffine.Format(100, "")}), test loss {loss.Format(1, "", 3)}; " +
                        $"margin {(100 * difference.Margin(AccuracyFloor)).ToString("0.##", CultureInfo.InvariantCulture)} points (2 standard errors, at least {100 * AccuracyFloor})";
        if (groups.Values.Any(g => g.TestAccuracies.Average() < RunFigures.Chance + 0.1)) return new(VerdictKind.Inconclusive, $"a configuration did not train ({reason})");
        return difference.Sign(AccuracyFloor) switch
        {
            1 => new(VerdictKind.Agrees, $"BN after ReLU reaches a higher test accuracy beyond the seed noise ({reason})"),
            -1 => new(VerdictKind.DoesNotAgree, $"BN before ReLU reaches a higher test accuracy beyond the seed noise ({reason})"),
            _ => new(VerdictKind.Inconclusive, $"the placements differ by less than the seed noise ({reason})"),
        };
    }
}
