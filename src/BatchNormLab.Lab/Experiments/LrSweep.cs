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

    public override (string Settings, string Deviations) Describe(Preset preset) =>
        ($"{Presets.Describe(preset)}; learning rates {string.Join(", ", LearningRates.Select(F))}, each with and without BN.", Presets.Deviations(preset));

    static string F(double v) => v.ToString("G4", CultureInfo.InvariantCulture);

    public override ExperimentResult Run(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var runs = new List<TrainedRun>();
        foreach (double lr in LearningRates)
            foreach (var norm in (Norm[])[Norm.BatchNorm, Norm.None])
                runs.Add(TrainedRun.Train(context, Name, $"{(norm == Norm.BatchNorm ? "BN" : "standard")}, lr {F(lr)}",
                    Presets.Vgg(context.Preset, norm, lr, context.Seed)));

        var figures = new List<FigureData>
        {
            new("Training loss", "Training loss per step (mean over a 20-step window); × marks a run that diverged.", "step", "training loss",
                runs.Select(r => Smoothed(r, s => s.Loss)).ToList(), LogY: true),
            new("Training accuracy", "Training accuracy per step (mean over a 20-step window).", "step", "training accuracy",
                runs.Select(r => Smoothed(r, s => s.Accuracy)).ToList()),
            new("Test accuracy", "Test accuracy at each evaluation.", "step", "test accuracy",
                runs.Select(r => new Series(r.Label, r.Evaluations.Select(e => (double)e.Step).ToArray(), r.Evaluations.Select(e => e.Accuracy).ToArray())).ToList()),
        };
        var table = new TableData("Runs", ["run", "steps done", "final training loss", "test accuracy", "outcome"],
            runs.Select(r => (IReadOnlyList<string>)[r.Label, r.Outcome.StepsDone.ToString(), Cell(r.FinalTrainLoss(), "G4"), Cell(r.TestAccuracy, "P1"),
                r.Outcome.Diverged ? $"diverged at step {r.Outcome.DivergedAtStep}: {r.Outcome.DivergenceReason}" : "done"]).ToList());

        double top = LearningRates.Max();
        var bn = runs.First(r => r.Label == $"BN, lr {F(top)}");
        var standard = runs.First(r => r.Label == $"standard, lr {F(top)}");
        var numbers = new Dictionary<string, double>();
        foreach (var r in runs)
        {
            numbers[$"{r.Label}: test accuracy"] = r.TestAccuracy;
            numbers[$"{r.Label}: final training loss"] = r.FinalTrainLoss();
        }
        var (settings, deviations) = Describe(context.Preset);
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
        double chance = 0.1;
        double a = double.IsNaN(bn.TestAccuracy) ? chance : bn.TestAccuracy;
        double b = double.IsNaN(standard.TestAccuracy) ? chance : standard.TestAccuracy;
        string numbers = $"at LR {F(lr)}: BN {Describe(bn)}, standard {Describe(standard)}";
        if (bn.Outcome.Diverged || a < chance + 0.1) return new(VerdictKind.Inconclusive, $"BN itself did not train ({numbers})");
        if (a - b >= 0.05) return new(VerdictKind.Agrees, $"BN trains where the standard network does not or is clearly worse ({numbers})");
        if (a - b <= 0.01) return new(VerdictKind.DoesNotAgree, $"the standard network trains as well as BN ({numbers})");
        return new(VerdictKind.Inconclusive, $"BN is ahead by less than 5 points ({numbers})");
    }

    static string Describe(TrainedRun r) => r.Outcome.Diverged
        ? $"diverged at step {r.Outcome.DivergedAtStep}"
        : $"test accuracy {r.TestAccuracy.ToString("P1", CultureInfo.InvariantCulture)}, final training loss {r.FinalTrainLoss().ToString("G3", CultureInfo.InvariantCulture)}";

    static string Cell(double v, string format) => double.IsNaN(v) ? "-" : v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>A metric per step, averaged over a trailing 20-step window; the diverged step is marked.</summary>
    internal static Series Smoothed(TrainedRun r, Func<Training.StepMetrics, double> metric, int window = 20)
    {
        var values = r.Steps.Select(metric).ToArray();
        var smooth = new double[values.Length];
        double sum = 0;
        for (int i = 0; i < values.Length; i++)
        {
            sum += values[i];
            if (i >= window) sum -= values[i - window];
            smooth[i] = sum / Math.Min(i + 1, window);
        }
        return new Series(r.Label, r.Steps.Select(s => (double)s.Step).ToArray(), smooth) { DivergedAt = r.Outcome.DivergedAtStep };
    }
}
