using System.Globalization;
using BatchNormLab.Models;

namespace BatchNormLab.Experiments;

/// <summary>
/// Santurkar et al. 2018, Fig. 1: VGG with and without BN trained at several learning rates. The
/// claim: BN trains faster and tolerates larger rates; at LR 0.5 the standard network does not train.
/// </summary>
public sealed class LrSweep : Experiment
{
    public override string Name => "lr-sweep";
    public override string Figure => "Santurkar et al. 2018, Fig. 1 (a, b)";
    public override string Claim => "With BatchNorm, VGG trains faster and at larger learning rates: at LR 0.5 the network with BN trains, the standard one does not (or is clearly worse).";

    /// <summary>The learning rates swept; the largest is the one the verdict is about.</summary>
    public IReadOnlyList<double> LearningRates { get; init; } = [0.1, 0.5];

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; learning rates {string.Join(", ", LearningRates.Select(F))}, each with and without BN.", Presets.Deviations(preset, dataset));

    static string F(double v) => RunFigures.F(v);

    public override ExperimentResult Run(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var runs = new List<TrainedRun>();
        foreach (double lr in LearningRates)
            foreach (var norm in (Norm[])[Norm.BatchNorm, Norm.None])
                runs.Add(TrainedRun.Shared(context, Name, $"{(norm == Norm.BatchNorm ? "BN" : "standard")}, lr {F(lr)}",
                    Presets.Vgg(context.Preset, norm, lr, context.Seed, context.Dataset)));

        var figures = new List<FigureData> { RunFigures.TrainingLoss(runs), RunFigures.TrainingAccuracy(runs), RunFigures.TestAccuracy(runs) };
        var table = RunFigures.Table(runs);

        double top = LearningRates.Max();
        var bn = runs.First(r => r.Label == $"BN, lr {F(top)}");
        var standard = runs.First(r => r.Label == $"standard, lr {F(top)}");
        var numbers = new Dictionary<string, double>();
        RunFigures.AddNumbers(numbers, runs);
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, Judge(bn, standard, top), figures, [table], numbers,
            runs.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv").ToList(), clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Agrees when at the largest rate BN reaches a test accuracy at least 5 points above the standard
    /// net's (a diverged run counts as chance, 1/classes); does not agree when the standard net is within
    /// 1 point of BN or better; inconclusive in between, or when BN itself failed.
    /// </summary>
    static Verdict Judge(TrainedRun bn, TrainedRun standard, double lr)
    {
        double a = RunFigures.AccuracyOrChance(bn), b = RunFigures.AccuracyOrChance(standard);
        string numbers = $"at LR {F(lr)}: BN {RunFigures.Summary(bn)}, standard {RunFigures.Summary(standard)}";
        if (bn.Outcome.Diverged || a < RunFigures.Chance + 0.1) return new(VerdictKind.Inconclusive, $"BN itself did not train ({numbers})");
        if (a - b >= 0.05) return new(VerdictKind.Agrees, $"BN trains where the standard network does not or is clearly worse ({numbers})");
        if (a - b <= 0.01) return new(VerdictKind.DoesNotAgree, $"the standard network trains as well as BN ({numbers})");
        return new(VerdictKind.Inconclusive, $"BN is ahead by less than 5 points ({numbers})");
    }
}
