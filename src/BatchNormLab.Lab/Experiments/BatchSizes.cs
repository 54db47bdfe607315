namespace BatchNormLab.Experiments;

/// <summary>
/// Seed 003's warning that BN is weak at small batches, tested the way Wu &amp; He (2018) tested GroupNorm:
/// the VGG of the preset with BN, GroupNorm and LayerNorm, trained at batch sizes from 2 up on the same
/// number of training samples, the learning rate scaled linearly with the batch (0.1 at 128). BN's batch
/// statistics (and the running averages made from them) get noisier as the batch shrinks; GroupNorm and
/// LayerNorm normalise each sample on its own, so the batch size cannot touch them. Over the context's
/// seeds, each network's accuracy at the smallest batch against its own at the largest, paired by seed.
/// </summary>
public sealed class BatchSizes : Experiment
{
    /// <inheritdoc/>
    public override string Name => "batch-size";
    /// <inheritdoc/>
    public override string Figure => "Seed 003 (BN is weak at small batch sizes), as in Wu & He 2018, Fig. 1";
    /// <inheritdoc/>
    public override string Source => "seed 003 §4 (BN depends on the batch size: too small a batch works badly); Wu & He 2018, Fig. 1 (GroupNorm's comparison)";
    /// <inheritdoc/>
    public override string Claim => "BN's accuracy degrades as the batch gets small (2–8 samples); GroupNorm's and LayerNorm's do not.";

    static readonly Norm[] Networks = [Norm.BatchNorm, Norm.GroupNorm, Norm.LayerNorm];

    /// <summary>The batch sizes compared, smallest first (quick: Wu &amp; He's per-GPU range 2–32 in three sizes, for its budget over three seeds).</summary>
    static int[] Sizes(Preset p) => p switch { Preset.Tiny or Preset.Quick => [2, 8, 32], _ => [2, 4, 8, 16, 32, 64, 128, 256] };

    /// <summary>Training samples every run sees (steps = samples / batch size).</summary>
    static int Samples(Preset p) => p switch { Preset.Tiny => 640, Preset.Quick => 8_000, _ => 128 * 15_000 };

    /// <summary>
    /// GroupNorm's groups: Wu &amp; He's 32 where layers are wide; at the preset's narrow widths (8–64 channels,
    /// down to 1×1 maps) 32 groups would leave single channels whose one value normalises to 0, so 4.
    /// </summary>
    static int Groups(Preset p) => p == Preset.Paper ? 32 : 4;

    /// <summary>The learning rate at batch size 128 (the shared runs'); other sizes scale it linearly.</summary>
    const double BaseRate = 0.1;

    /// <summary>"Degrades": BN's test accuracy at the smallest batch more than 3 points below its accuracy at the largest (Wu &amp; He's BN loses 11 points from 32 to 2 per GPU).</summary>
    public static readonly Rule Degrades = Rule.Accuracy(Claimed.Less, 3);

    /// <summary>"Does not degrade": GN's or LN's test accuracy at the smallest batch not more than 3 points below the largest (the same 3 points; Wu &amp; He's GN moves by under a point).</summary>
    public static readonly Rule Holds = Rule.Accuracy(Claimed.NotLess, 3);

    static double Rate(int batch) => BaseRate * batch / 128;

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null)
    {
        var c = Presets.Vgg(preset, Norm.BatchNorm, BaseRate, 0, dataset);
        int[] sizes = Sizes(preset);
        string small = $"acc(batch {sizes[0]})", large = $"acc(batch {sizes[^1]})";
        return ($"{c.Model.Name} (width ×{RunFigures.F(c.Model.Width)}) on {c.Dataset}, plain SGD, Glorot initialisation, with BN, GroupNorm ({Groups(preset)} groups, or the largest divisor of a layer's channels below that) and LayerNorm (GroupNorm with one group in conv layers, per-sample over C·H·W), " +
                $"at batch sizes {string.Join(", ", sizes)}, over the seeds; every run sees {Samples(preset):N0} training samples (steps = samples / batch), learning rate {RunFigures.F(BaseRate)}·batch/128 (linear scaling), test accuracy in eval mode at the end " +
                "(whole test set; a diverged run counts as chance). " +
                $"Rules, paired by seed, smallest against largest batch: BN degrades: {Degrades.Describe(small, large)}; GN and LN each do not: {Holds.Describe(small, large)}. Each network must train at the largest batch (precondition: above chance by 10 points).",
            (preset == Preset.Tiny ? Presets.Deviations(preset, dataset) + " " : "") +
            "Seed 003 states the weakness without an experiment; Wu & He train ResNet-50 on ImageNet for a fixed number of epochs at batch sizes 2–32 per GPU, with 32 groups" +
            (preset == Preset.Paper ? "" : $" (here {Groups(preset)}: the narrow layers have 8–64 channels, and a group of one channel on a 1×1 map normalises to 0)") + ". Here the budget is " +
            (preset == Preset.Paper ? "that of the other VGG runs" : "a fraction of an epoch, so absolute accuracies are low at every size") + "." +
            (preset == Preset.Quick ? " Quick trains three sizes, 2 to 32 (Wu & He's range), on 8,000 samples (250 steps at batch 32) so that three seeds fit its budget." : ""));
    }

    /// <summary>The label of <paramref name="network"/> trained at batch size <paramref name="batch"/>: "BN, batch 32".</summary>
    public static string Label(Norm network, int batch) => $"{Presets.Label(network)}, batch {batch}";

    /// <summary>The key of <paramref name="network"/>'s test accuracy at batch size <paramref name="batch"/>, mean over seeds: "BN, batch 32: test accuracy (mean over seeds)".</summary>
    public static ResultKey TestAccuracyKey(Norm network, int batch) => SeededRuns.TestAccuracyKey(Label(network, batch));

    /// <summary>The key of <paramref name="network"/>'s loss of test accuracy from the largest batch size to the smallest, mean over seeds: "BN: degradation (mean over seeds)".</summary>
    public static ResultKey DegradationKey(Norm network) => new(Presets.Label(network), "degradation (mean over seeds)");

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var sizes = Sizes(context.Preset);
        var groups = SeededRuns.Over(context, sizes.SelectMany(batch => Networks.Select(norm => (Norm: norm, Batch: batch))), k => Label(k.Norm, k.Batch),
            (k, runLabel, seed) =>
            {
                var config = Config(context, k.Norm, k.Batch, seed);
                return TrainedRun.Once(context, Name, runLabel, config, progress => TrainedRun.Train(context, Name, runLabel, config, progress: progress));
            });
        var runs = groups.Values.SelectMany(g => g.Runs).ToList();

        var numbers = new Dictionary<ResultKey, double>();
        foreach (var (k, g) in groups) numbers[TestAccuracyKey(k.Norm, k.Batch)] = g.TestAccuracies.Average();
        var accuracy = new List<Series>();
        var rows = new List<IReadOnlyList<string>>();
        var csv = new List<string> { "network,batch_size,learning_rate,seed,steps,test_accuracy,final_training_loss" };
        foreach (var norm in Networks)
        {
            var perSize = sizes.Select(b => groups[(norm, b)]).ToList();
            accuracy.Add(new Series(Presets.Label(norm), sizes.Select(b => (double)b).ToArray(), perSize.Select(g => g.TestAccuracies.Average()).ToArray())
            {
                Markers = true,
                Lower = perSize.Select(g => g.TestAccuracies.Min()).ToArray(),
                Upper = perSize.Select(g => g.TestAccuracies.Max()).ToArray(),
            });
            double change = perSize[0].TestAccuracies.Average() - perSize[^1].TestAccuracies.Average();
            rows.Add([Presets.Label(norm), .. perSize.Select(g => RunFigures.Cell(g.TestAccuracies.Average(), "P1")), Points(change)]);
            numbers[DegradationKey(norm)] = -change;
            csv.AddRange(perSize.SelectMany((g, i) => g.Runs.Select(r => string.Create(CultureInfo.InvariantCulture,
                $"{Presets.Label(norm)},{sizes[i]},{r.Config.LearningRate:R},{r.Config.Seed},{r.Outcome.StepsDone},{r.TestAccuracy:R},{r.FinalTrainLoss():R}"))));
        }
        var figures = new List<FigureData>
        {
            new("Test accuracy against batch size", $"Each point the mean over the seeds of runs of {Samples(context.Preset):N0} training samples at LR {RunFigures.F(BaseRate)}·batch/128, the band spanning the seeds; test accuracy in eval mode (BN: running statistics).",
                "batch size", "test accuracy", accuracy, LogX: true),
            new($"Training loss at batch {sizes[0]}", "Training loss against samples seen (bucket means), at the smallest batch, first seed.", "training samples seen", "training loss",
                Networks.Select(n => LossBySamples(groups[(n, sizes[0])].Runs[0])).ToList(), LogY: true),
            new($"Training loss at batch {sizes[^1]}", "Training loss against samples seen (bucket means), at the largest batch, first seed.", "training samples seen", "training loss",
                Networks.Select(n => LossBySamples(groups[(n, sizes[^1])].Runs[0])).ToList(), LogY: true),
        };
        var tables = new List<TableData>
        {
            new("Test accuracy per batch size (mean over seeds)", ["network", .. sizes.Select(b => $"batch {b}"), $"change from batch {sizes[^1]} to {sizes[0]}"], rows),
            RunFigures.Table(runs),
        };
        string file = WriteCsv(context, "batch-size.csv", csv);
        SeedValues At(Norm norm, int batch) => groups[(norm, batch)].TestAccuracyPerSeed;
        var verdict = Judge(new Accuracies(At(Norm.BatchNorm, sizes[0]), At(Norm.BatchNorm, sizes[^1])), new Accuracies(At(Norm.GroupNorm, sizes[0]), At(Norm.GroupNorm, sizes[^1])),
            new Accuracies(At(Norm.LayerNorm, sizes[0]), At(Norm.LayerNorm, sizes[^1])));
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict, figures, tables, numbers,
            [file, .. runs.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv")], clock.Elapsed.TotalSeconds);
    }

    /// <summary>The preset's VGG with <paramref name="norm"/> at <paramref name="batch"/>: the same samples at every size, the rate scaled linearly.</summary>
    static TrainConfig Config(ExperimentContext context, Norm norm, int batch, ulong seed)
    {
        var config = Presets.Vgg(context.Preset, norm, Rate(batch), seed, context.Dataset);
        int steps = Samples(context.Preset) / batch;
        return config with { BatchSize = batch, Steps = steps, EvalEvery = steps, Model = config.Model with { Options = config.Model.Options with { Groups = Groups(context.Preset) } } };
    }

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

    /// <summary>One network's test accuracy per seed at the smallest and at the largest batch.</summary>
    public sealed record Accuracies(SeedValues Smallest, SeedValues Largest);

    /// <summary>
    /// Each network trains at the largest batch (preconditions); BN's accuracy at the smallest batch is
    /// more than 3 points below its accuracy at the largest; GN's and LN's are not more than 3 points below.
    /// </summary>
    public static Verdict Judge(Accuracies bn, Accuracies gn, Accuracies ln) => Verdict.Of(
    [
        SeededRuns.Trains(bn.Largest),
        SeededRuns.Trains(gn.Largest),
        SeededRuns.Trains(ln.Largest),
        Degrades.Judge("BN's accuracy degrades at the smallest batch", bn.Smallest, bn.Largest),
        Holds.Judge("GroupNorm's does not", gn.Smallest, gn.Largest),
        Holds.Judge("LayerNorm's does not", ln.Smallest, ln.Largest),
    ]);
}
