using System.Globalization;
using BatchNormLab.Models;

namespace BatchNormLab.Experiments;

/// <summary>
/// Seed 003's warning that BN is weak at small batches, tested the way Wu &amp; He (2018) tested GroupNorm:
/// the VGG of the preset with BN, GroupNorm and LayerNorm, trained at batch sizes from 2 up on the same
/// number of training samples, the learning rate scaled linearly with the batch (0.1 at 128). BN's batch
/// statistics (and the running averages made from them) get noisier as the batch shrinks; GroupNorm and
/// LayerNorm normalise each sample on its own, so the batch size cannot touch them.
/// </summary>
public sealed class BatchSizes : Experiment
{
    public override string Name => "batch-size";
    public override string Figure => "Seed 003 (BN is weak at small batch sizes), as in Wu & He 2018, Fig. 1";
    public override string Source => "seed 003 §4 (BN depends on the batch size: too small a batch works badly); Wu & He 2018, Fig. 1 (GroupNorm's comparison)";
    public override string Claim => "BN's accuracy degrades as the batch gets small (2–8 samples); GroupNorm's and LayerNorm's do not.";

    static readonly Norm[] Networks = [Norm.BatchNorm, Norm.GroupNorm, Norm.LayerNorm];

    /// <summary>The batch sizes compared, smallest first.</summary>
    static int[] Sizes(Preset p) => p switch { Preset.Tiny => [2, 8, 32], Preset.Quick => [2, 8, 32, 128], _ => [2, 4, 8, 16, 32, 64, 128, 256] };

    /// <summary>Training samples every run sees (steps = samples / batch size).</summary>
    static int Samples(Preset p) => p switch { Preset.Tiny => 640, Preset.Quick => 16_000, _ => 128 * 15_000 };

    /// <summary>
    /// GroupNorm's groups: Wu &amp; He's 32 where layers are wide; at the preset's narrow widths (8–64 channels,
    /// down to 1×1 maps) 32 groups would leave single channels whose one value normalises to 0, so 4.
    /// </summary>
    static int Groups(Preset p) => p == Preset.Paper ? 32 : 4;

    /// <summary>The learning rate at batch size 128 (the shared runs'); other sizes scale it linearly.</summary>
    const double BaseRate = 0.1;

    /// <summary>How many accuracy points more BN must lose than the other two, from the largest batch to the smallest, for the verdict to agree.</summary>
    const double Margin = 0.03;

    static double Rate(int batch) => BaseRate * batch / 128;

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null)
    {
        var c = Presets.Vgg(preset, Norm.BatchNorm, BaseRate, 0, dataset);
        return ($"{c.Model.Name} (width ×{RunFigures.F(c.Model.Width)}) on {c.Dataset}, plain SGD, Glorot initialisation, with BN, GroupNorm ({Groups(preset)} groups, or the largest divisor of a layer's channels below that) and LayerNorm (GroupNorm with one group in conv layers, per-sample over C·H·W), " +
                $"at batch sizes {string.Join(", ", Sizes(preset))}; every run sees {Samples(preset):N0} training samples (steps = samples / batch), learning rate {RunFigures.F(BaseRate)}·batch/128 (linear scaling), test accuracy in eval mode at the end " +
                $"({(c.TestLimit > 0 ? $"first {c.TestLimit} test images" : "whole test set")}). Degradation: test accuracy at the largest batch minus at the smallest.",
            (preset == Preset.Tiny ? Presets.Deviations(preset, dataset) + " " : "") +
            "Seed 003 states the weakness without an experiment; Wu & He train ResNet-50 on ImageNet for a fixed number of epochs at batch sizes 2–32 per GPU, with 32 groups" +
            (preset == Preset.Paper ? "" : $" (here {Groups(preset)}: the narrow layers have 8–64 channels, and a group of one channel on a 1×1 map normalises to 0)") + ". Here the budget is " +
            (preset == Preset.Paper ? "that of the other VGG runs" : "a fraction of an epoch, so absolute accuracies are low at every size") + ".");
    }

    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var sizes = Sizes(context.Preset);
        var runs = new Dictionary<(Norm, int), TrainedRun>();
        foreach (int batch in sizes)
            foreach (var norm in Networks)
            {
                var config = Presets.Vgg(context.Preset, norm, Rate(batch), context.Seed, context.Dataset);
                int steps = Samples(context.Preset) / batch;
                config = config with { BatchSize = batch, Steps = steps, EvalEvery = steps, Model = config.Model with { Options = config.Model.Options with { Groups = Groups(context.Preset) } } };
                runs[(norm, batch)] = TrainedRun.Train(context, Name, $"{Presets.Label(norm)}, batch {batch}", config);
            }

        // Per run only its test accuracy: losses and training accuracies are in the runs table.
        var numbers = runs.Values.ToDictionary(r => $"{r.Label}: test accuracy", r => r.TestAccuracy);
        var accuracy = new List<Series>();
        var rows = new List<IReadOnlyList<string>>();
        var csv = new List<string> { "network,batch_size,learning_rate,steps,test_accuracy,final_training_loss" };
        foreach (var norm in Networks)
        {
            var perSize = sizes.Select(b => runs[(norm, b)]).ToList();
            accuracy.Add(new Series(Presets.Label(norm), sizes.Select(b => (double)b).ToArray(), perSize.Select(RunFigures.AccuracyOrChance).ToArray()) { Markers = true });
            rows.Add([Presets.Label(norm), .. perSize.Select(r => RunFigures.Cell(r.TestAccuracy, "P1")), Points(-Degradation(runs, norm, sizes))]);
            numbers[$"{Presets.Label(norm)}: degradation"] = Degradation(runs, norm, sizes);
            csv.AddRange(perSize.Select((r, i) => string.Create(CultureInfo.InvariantCulture,
                $"{Presets.Label(norm)},{sizes[i]},{r.Config.LearningRate:R},{r.Outcome.StepsDone},{r.TestAccuracy:R},{r.FinalTrainLoss():R}")));
        }
        var figures = new List<FigureData>
        {
            new("Test accuracy against batch size", $"Each point a run of {Samples(context.Preset):N0} training samples at LR {RunFigures.F(BaseRate)}·batch/128; test accuracy in eval mode (BN: running statistics).",
                "batch size", "test accuracy", accuracy, LogX: true),
            new($"Training loss at batch {sizes[0]}", "Training loss against samples seen (bucket means), at the smallest batch.", "training samples seen", "training loss",
                Networks.Select(n => LossBySamples(runs[(n, sizes[0])])).ToList(), LogY: true),
            new($"Training loss at batch {sizes[^1]}", "Training loss against samples seen (bucket means), at the largest batch.", "training samples seen", "training loss",
                Networks.Select(n => LossBySamples(runs[(n, sizes[^1])])).ToList(), LogY: true),
        };
        var tables = new List<TableData>
        {
            new("Test accuracy per batch size", ["network", .. sizes.Select(b => $"batch {b}"), $"change from batch {sizes[^1]} to {sizes[0]}"], rows),
            RunFigures.Table(runs.Values),
        };
        string file = WriteCsv(context, "batch-size.csv", csv);
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, Judge(runs, sizes), figures, tables, numbers,
            [file, .. runs.Values.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv")], clock.Elapsed.TotalSeconds);
    }

    /// <summary>Test accuracy at the largest batch minus at the smallest (a diverged run counts as chance).</summary>
    static double Degradation(Dictionary<(Norm, int), TrainedRun> runs, Norm norm, int[] sizes) =>
        RunFigures.AccuracyOrChance(runs[(norm, sizes[^1])]) - RunFigures.AccuracyOrChance(runs[(norm, sizes[0])]);

    /// <summary>An accuracy change in points, signed: "−7.5 points".</summary>
    static string Points(double change)
    {
        double points = Math.Round(change * 100, 1);
        return (points > 0 ? "+" : points < 0 ? "−" : "±") + Math.Abs(points).ToString("0.0", CultureInfo.InvariantCulture) + " points";
    }

    /// <summary>The training loss as at most 100 bucket means against the samples seen.</summary>
    static Series LossBySamples(TrainedRun run)
    {
        int per = Math.Max(1, run.Steps.Count / 100), batch = run.Config.BatchSize;
        var buckets = run.Steps.Chunk(per).ToList();
        return new Series(Presets.Label(run.Config.Model.Options.Norm), buckets.Select(b => (double)(b[^1].Step + 1) * batch).ToArray(), buckets.Select(b => b.Average(s => s.Loss)).ToArray())
        {
            DivergedAt = run.Outcome.Diverged ? run.Outcome.DivergedAtStep * (double)batch : null,
        };
    }

    /// <summary>
    /// Agrees when BN loses at least <see cref="Margin"/> more accuracy than both GroupNorm and LayerNorm from
    /// the largest batch to the smallest (and at least that much itself); does not agree when BN loses no more
    /// than either; inconclusive in between, or when BN does not train at the largest batch.
    /// </summary>
    static Verdict Judge(Dictionary<(Norm, int), TrainedRun> runs, int[] sizes)
    {
        double bn = Degradation(runs, Norm.BatchNorm, sizes), gn = Degradation(runs, Norm.GroupNorm, sizes), ln = Degradation(runs, Norm.LayerNorm, sizes);
        string numbers = $"test accuracy from batch {sizes[^1]} to batch {sizes[0]}: BN {Acc(Norm.BatchNorm, sizes[^1])} → {Acc(Norm.BatchNorm, sizes[0])} ({Points(-bn)}), " +
                         $"GN {Acc(Norm.GroupNorm, sizes[^1])} → {Acc(Norm.GroupNorm, sizes[0])} ({Points(-gn)}), LN {Acc(Norm.LayerNorm, sizes[^1])} → {Acc(Norm.LayerNorm, sizes[0])} ({Points(-ln)})";
        if (RunFigures.AccuracyOrChance(runs[(Norm.BatchNorm, sizes[^1])]) < RunFigures.Chance + 0.1) return new(VerdictKind.Inconclusive, $"BN did not train even at the largest batch ({numbers})");
        double others = Math.Max(gn, ln);
        if (bn >= Margin && bn >= others + Margin) return new(VerdictKind.Agrees, $"BN degrades at small batches, GroupNorm and LayerNorm much less ({numbers})");
        if (bn <= others) return new(VerdictKind.DoesNotAgree, $"BN degrades no more than GroupNorm or LayerNorm ({numbers})");
        return new(VerdictKind.Inconclusive, $"BN degrades more, but by less than {Margin:P0} beyond the others ({numbers})");

        string Acc(Norm norm, int batch) => RunFigures.Cell(runs[(norm, batch)].TestAccuracy, "P1");
    }
}
