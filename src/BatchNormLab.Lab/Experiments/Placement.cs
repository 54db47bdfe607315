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
    public override string Source => "seed 003 Q&A (caffenet-benchmark on ImageNet: BN after ReLU 49.9% vs before 47.4%); Ioffe & Szegedy 2015 §3.2 (BN before the nonlinearity)";
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
         "The claim's numbers are CaffeNet on ImageNet (seed 003's table); these are the VGG runs of the Santurkar et al. experiments, whose setting differs from that paper's thus: " + Presets.Deviations(preset, dataset));

    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var groups = new Dictionary<(NormPlacement, bool), SeededRuns>();
        foreach (var placement in (NormPlacement[])[NormPlacement.BeforeActivation, NormPlacement.AfterActivation])
            foreach (bool affine in (bool[])[true, false])
                groups[(placement, affine)] = SeededRuns.Train(context, Name, Label(placement, affine), seed => BnVgg(context, placement, affine, seed));
        var ordered = groups.Values.ToList();
        var runs = ordered.SelectMany(g => g.Runs).ToList();

        var numbers = new Dictionary<string, double>();
        foreach (var g in ordered) g.AddNumbers(numbers);
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
    /// After − before over seeds, each difference taken with γ, β and without and averaged, on test
    /// accuracy (margin: two standard errors of the seed noise, at least half a point) and on final
    /// training loss (two standard errors, at least <see cref="Affine.LossFloor"/> of the loss):
    /// agrees when after is ahead beyond the margin on one and not behind on the other, does not agree
    /// when it is behind on one and not ahead on the other, inconclusive otherwise or when BN did not train.
    /// </summary>
    static Verdict Judge(Dictionary<(NormPlacement, bool), SeededRuns> groups, Dictionary<string, double> numbers)
    {
        var (before, after) = (NormPlacement.BeforeActivation, NormPlacement.AfterActivation);
        Difference Between(Func<SeededRuns, IReadOnlyList<double>> metric, NormPlacement ahead, NormPlacement behind, bool affine) =>
            Difference.OfMeans(metric(groups[(ahead, affine)]), metric(groups[(behind, affine)]));
        var withAffine = Between(g => g.TestAccuracies, after, before, true);
        var withoutAffine = Between(g => g.TestAccuracies, after, before, false);
        var accuracy = Difference.Average(withAffine, withoutAffine);
        var loss = Difference.Average(Between(g => g.TrainLosses, before, after, true), Between(g => g.TrainLosses, before, after, false)); // positive: after trains to a lower loss
        double lossFloor = Affine.LossFloor * groups.Values.Average(g => g.TrainLosses.Average());
        numbers["after − before: test accuracy difference"] = accuracy.Value;
        numbers["after − before: its standard error"] = accuracy.StandardError;
        numbers["before − after: final training loss difference"] = loss.Value;
        string P(double v) => (100 * v).ToString("0.0", CultureInfo.InvariantCulture) + "%";
        string L(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
        string Mean(NormPlacement p, bool a) => P(groups[(p, a)].TestAccuracies.Average());
        string Loss(NormPlacement p) => L((groups[(p, true)].TrainLosses.Average() + groups[(p, false)].TrainLosses.Average()) / 2);
        string seeds = groups[(before, true)].Runs.Count.ToString(CultureInfo.InvariantCulture);
        string reason = $"mean test accuracy over {seeds} seeds: before ReLU {Mean(before, true)} (no γ/β {Mean(before, false)}), after ReLU {Mean(after, true)} (no γ/β {Mean(after, false)}); " +
                        $"after − before {accuracy.Format(100, "points")} (with γ/β {withAffine.Format(100, "")}, without {withoutAffine.Format(100, "")}), " +
                        $"margin {(100 * accuracy.Margin(AccuracyFloor)).ToString("0.##", CultureInfo.InvariantCulture)} points (2 standard errors, at least {100 * AccuracyFloor}); " +
                        $"final training loss before {Loss(before)}, after {Loss(after)} (before − after {loss.Format(1, "", 3)}, margin {L(loss.Margin(lossFloor))})";
        if (groups.Values.Any(g => g.TestAccuracies.Average() < RunFigures.Chance + 0.1)) return new(VerdictKind.Inconclusive, $"a configuration did not train ({reason})");
        return Difference.Overall(accuracy.Sign(AccuracyFloor), loss.Sign(lossFloor)) switch
        {
            1 => new(VerdictKind.Agrees, $"BN after ReLU does better beyond the seed noise ({reason})"),
            -1 => new(VerdictKind.DoesNotAgree, $"BN before ReLU does better beyond the seed noise ({reason})"),
            _ => new(VerdictKind.Inconclusive, $"the placements differ by less than the seed noise, or in opposite directions on accuracy and loss ({reason})"),
        };
    }
}
