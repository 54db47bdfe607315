namespace BatchNormLab.Experiments;

/// <summary>
/// [IS15] §3.1 and seed 003: what BN should use at inference. The trained BN VGG of each seed (the
/// shared BN runs), its test accuracy with (a) the running averages training left (momentum 0.1),
/// (b) [IS15]'s population statistics recomputed over K training batches with the weights frozen
/// (<see cref="BatchNormStatistics.RecomputePopulation"/>), (c) each test batch's own statistics, for
/// test batches from 2 examples to beyond the training batch size. Compared paired by seed.
/// </summary>
public sealed class InferenceStatistics : Experiment
{
    /// <inheritdoc/>
    public override string Name => "inference-stats";
    /// <inheritdoc/>
    public override string Figure => "Ioffe & Szegedy 2015 §3.1 (population statistics at inference); seed 003";
    /// <inheritdoc/>
    public override string Source => "Ioffe & Szegedy 2015 §3.1 (population statistics at inference, so that the output depends on the input alone); seed 003 §1 (at inference, the expectation of μ and σ over the last mini-batches of training) and §4 (BN works badly when batches are too small: carried over to test batches, this project's own extension)";
    /// <inheritdoc/>
    public override string Claim => "At inference, the population statistics of Ioffe & Szegedy (E[μ_B] and m/(m−1)·E[σ²_B] over training batches, weights frozen) give about the same accuracy as the running averages over the last batches (momentum 0.1); normalising with the test batch's own statistics instead is worse when test batches are small, the more so the smaller the batch.";

    /// <summary>The numbers K of training batches the population statistics are recomputed over, per preset; the largest is the one the verdict uses.</summary>
    public static IReadOnlyList<int> PopulationBatchCounts(Preset preset) => preset == Preset.Paper ? [1, 2, 5, 10, 20, 50, 100] : [1, 10, 100];

    /// <summary>Test batch sizes evaluated with batch statistics, per preset (the training batch size and <see cref="SmallTestBatch"/> are added).</summary>
    public static IReadOnlyList<int> TestBatchSizes(Preset preset) => preset == Preset.Paper ? [2, 4, 8, 16, 32, 64, 128, 256, 1024] : [2, 8, 32, 1024];

    /// <summary>The small test batch the verdict looks at.</summary>
    public const int SmallTestBatch = 8;

    /// <summary>"About the same": population statistics within ±1 point of test accuracy of the running averages (an equivalence margin).</summary>
    public static readonly Rule AboutTheSame = Rule.Accuracy(Claimed.Same, 1);

    /// <summary>"Worse": more than 1 point of test accuracy behind.</summary>
    public static readonly Rule Worse = Rule.Accuracy(Claimed.Less, 1);

    /// <summary>Batch size of the evaluations with fixed statistics (any size gives the same outputs).</summary>
    const int EvalBatch = 256;

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; LR 0.1; the BN network of each seed (shared with the other experiments), then test accuracy on the whole test set with (a) its running averages (momentum 0.1), " +
         $"(b) population statistics over K = {string.Join(", ", PopulationBatchCounts(preset))} training batches of the training batch size (the verdict uses K = {PopulationBatchCounts(preset).Max()}), recomputed as PyTorch's cumulative average (momentum None) after a reset, " +
         $"(c) batch statistics of consecutive test batches of {string.Join(", ", TestBatchSizes(preset).Append(SmallTestBatch).Distinct().Order())} examples and the training batch size (a last batch of one example joins the one before). " +
         $"Rules, paired by seed: population vs running averages: {AboutTheSame.Describe("acc(population)", "acc(running)")}; " +
         $"small test batches: {Worse.Describe($"acc(batch statistics, {SmallTestBatch})", "acc(population)")}; the smaller the worse: {Worse.Describe($"acc(batch statistics, {SmallTestBatch})", "acc(batch statistics, training batch size)")}. " +
         "The seeds' spread is the noise: each seed's difference is measured on the same test examples by a different network, which gets different examples wrong, so the test-sample noise of one seed's difference (McNemar's) is part of the spread between seeds. " +
         "The BN network must train (precondition: above chance by 10 points).",
         "[IS15] used Inception on ImageNet and does not say over how many batches it averages; this is the BN VGG run of the Santurkar et al. experiments, whose setting differs from that paper's thus: " + Presets.Deviations(preset, dataset) +
         " The evaluations here use the whole test set, not the preset's subset, to tell small differences apart." +
         (preset == Preset.Paper ? "" : " Fewer K and test batch sizes than on paper, to fit the budget."));

    /// <summary>One seed's test accuracies: with the running averages, with population statistics over each K, with each test batch size's own statistics; and, per BN layer, how far the running averages lie from the population statistics.</summary>
    sealed record SeedMeasurement(double Running, SortedDictionary<int, double> Population, SortedDictionary<int, double> Batch, List<(string Layer, double MeanGap, double VarianceRatio)> Layers);

    /// <summary>The label of evaluation with population statistics over <paramref name="batches"/> training batches (the subject of its <see cref="SeededRuns.TestAccuracyKey"/>): "population statistics, K = 100".</summary>
    public static string PopulationLabel(int batches) => $"population statistics, K = {batches}";

    /// <summary>The label of evaluation with each test batch's own statistics at test batch size <paramref name="size"/> (the subject of its <see cref="SeededRuns.TestAccuracyKey"/>): "batch statistics, test batch 8".</summary>
    public static string BatchLabel(int size) => $"batch statistics, test batch {size}";

    /// <summary>The key of the largest gap between a BN layer's running mean and its population mean, in population standard deviations, over layers and seeds: "running vs population mean: largest gap in population standard deviations".</summary>
    public static ResultKey MeanGapKey => new("running vs population mean", "largest gap in population standard deviations");

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var bn = Presets.SharedRuns(context, Name, [Norm.BatchNorm])[0];
        int trainingBatch = bn.Runs[0].Config.BatchSize;
        var measured = bn.Runs.Select(run => MeasureSeed(context, run)).ToList();
        var first = measured[0];
        int populationK = first.Population.Keys.Last();
        var (_, test) = context.Data(bn.Runs[0].Config.Dataset);

        SeedValues Values(string label, Func<SeedMeasurement, double> accuracy) => new(label, measured.Select(accuracy));
        var running = Values("running averages", m => m.Running);
        var population = Values(PopulationLabel(populationK), m => m.Population[populationK]);
        var rows = new List<(string Statistics, string Batch, SeedValues Accuracy)>
        {
            ("running averages (momentum 0.1)", "–", running),
        };
        rows.AddRange(first.Population.Keys.Select(k => (PopulationLabel(k), "–", k == populationK ? population : Values(PopulationLabel(k), m => m.Population[k]))));
        rows.AddRange(first.Batch.Keys.Select(b => ("batch statistics", b.ToString(CultureInfo.InvariantCulture), Values(BatchLabel(b), m => m.Batch[b]))));

        var numbers = new Dictionary<ResultKey, double>();
        bn.AddNumbers(numbers);
        foreach (var row in rows) numbers[SeededRuns.TestAccuracyKey(row.Accuracy.Label)] = row.Accuracy.Values.Average();
        double meanGap = measured.SelectMany(m => m.Layers).Select(l => l.MeanGap).DefaultIfEmpty(double.NaN).Max();
        numbers[MeanGapKey] = meanGap;

        static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        List<string> files =
        [
            WriteCsv(context, "inference.csv", measured.SelectMany((m, i) => new[] { $"{context.SeedList[i]},running,,{R(m.Running)}" }
                    .Concat(m.Population.Select(p => $"{context.SeedList[i]},population,{p.Key},{R(p.Value)}"))
                    .Concat(m.Batch.Select(p => $"{context.SeedList[i]},batch,{p.Key},{R(p.Value)}")))
                .Prepend("seed,statistics,batches_or_test_batch_size,test_accuracy")),
            WriteCsv(context, "layer_statistics.csv", measured.SelectMany((m, i) => m.Layers.Select(l => $"{context.SeedList[i]},{l.Layer},{R(l.MeanGap)},{R(l.VarianceRatio)}"))
                .Prepend("seed,layer,max_abs_running_minus_population_mean_over_population_std,mean_running_over_population_variance")),
            .. bn.Runs.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv"),
        ];

        double[] Flat(int count, double value) => Enumerable.Repeat(value, count).ToArray();
        double[] sizes = first.Batch.Keys.Select(b => (double)b).ToArray(), ks = first.Population.Keys.Select(k => (double)k).ToArray();
        double Mean(Func<SeedMeasurement, double> accuracy) => measured.Average(accuracy);
        var figures = new List<FigureData>
        {
            new("Test accuracy by the statistics BN uses", "Test accuracy with each test batch's own statistics, by test batch size, against the running averages and the population statistics (flat lines); means over the seeds.",
                "test batch size", "test accuracy",
                [
                    new Series("batch statistics", sizes, first.Batch.Keys.Select(b => Mean(m => m.Batch[b])).ToArray()) { Markers = true },
                    new Series("running averages", sizes, Flat(sizes.Length, Mean(m => m.Running))),
                    new Series($"population, K = {populationK}", sizes, Flat(sizes.Length, Mean(m => m.Population[populationK]))),
                ], LogX: true),
            new("Population statistics by the number of batches", "Test accuracy with population statistics over K training batches, against the running averages (flat line); means over the seeds.",
                "training batches K", "test accuracy",
                [
                    new Series("population statistics", ks, first.Population.Keys.Select(k => Mean(m => m.Population[k])).ToArray()) { Markers = true },
                    new Series("running averages", ks, Flat(ks.Length, Mean(m => m.Running))),
                ], LogX: true),
        };
        var tables = new List<TableData>
        {
            new($"Test accuracy on {test.Count} test examples, over the seeds (population statistics over K training batches; difference to those over K = {populationK}: mean over seeds ± its standard error)",
                ["statistics", "test batch", "test accuracy (mean)", "per seed", "minus population"],
                rows.Select(r => (IReadOnlyList<string>)[r.Statistics, r.Batch, RunFigures.Cell(r.Accuracy.Values.Average(), "P2"), string.Join(", ", r.Accuracy.Values.Select(a => RunFigures.Cell(a, "P2"))),
                    ReferenceEquals(r.Accuracy, population) ? "–" : PointsDifference(r.Accuracy, population)]).ToList()),
            new("Running averages against population statistics, per BN layer (first seed)", ["BN layer", "max over channels |μ_running − μ_population| / σ_population", "mean over channels σ²_running / σ²_population"],
                first.Layers.Select(l => (IReadOnlyList<string>)[l.Layer, l.MeanGap.ToString("G3", CultureInfo.InvariantCulture), l.VarianceRatio.ToString("G4", CultureInfo.InvariantCulture)]).ToList()),
            RunFigures.Table(bn.Runs),
        };
        var verdict = Judge(bn.TestAccuracyPerSeed, running, population, Values($"batch statistics, test batch {SmallTestBatch}", m => m.Batch[SmallTestBatch]),
            Values($"batch statistics, test batch {trainingBatch}", m => m.Batch[trainingBatch]),
            $"The running means lie up to {RunFigures.Cell(meanGap, "G3")} population standard deviations from the population means");
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict, figures, tables, numbers, files, clock.Elapsed.TotalSeconds);
    }

    /// <summary>"+0.12 ± 0.05 points": mean over seeds of a − b, with its standard error.</summary>
    static string PointsDifference(SeedValues a, SeedValues b)
    {
        var (mean, se) = Rule.MeanAndError(a.Values.Zip(b.Values, (x, y) => 100 * (x - y)).ToArray());
        return (mean < 0 ? "−" : "+") + Math.Abs(mean).ToString("0.00", CultureInfo.InvariantCulture) + (double.IsNaN(se) ? "" : " ± " + se.ToString("0.00", CultureInfo.InvariantCulture)) + " points";
    }

    /// <summary>One seed's network evaluated with each kind of statistics.</summary>
    SeedMeasurement MeasureSeed(ExperimentContext context, TrainedRun run)
    {
        var (train, test) = context.Data(run.Config.Dataset);
        if (run.Config.TrainLimit > 0 && run.Config.TrainLimit < train.Count) train = train.Take(run.Config.TrainLimit);
        context.Progress.Message(Name, $"{run.Label}: test accuracy with running, population and batch statistics");

        var model = run.ModelAt(run.Outcome.StepsDone);
        var runningStatistics = model.NamedModules().Where(m => m.Module is BatchNorm).Select(m => (m.Name, Layer: (BatchNorm)m.Module,
            Mean: ((BatchNorm)m.Module).RunningMean!.ToDoubleArray(), Var: ((BatchNorm)m.Module).RunningVar!.ToDoubleArray())).ToList();
        model.Eval();
        double running = Accuracy(model, test, EvalBatch);

        // Population statistics for each K, from a reset each time; the model keeps the last (largest K).
        var population = new SortedDictionary<int, double>();
        foreach (int k in PopulationBatchCounts(context.Preset).Order())
        {
            var loader = new DataLoader(train, run.Config.BatchSize, shuffle: true, dropLast: true, run.Config.Seed);
            BatchNormStatistics.RecomputePopulation(model, loader.Epoch(0).Take(k).Select(b => b.Inputs));
            population[k] = Accuracy(model, test, EvalBatch);
        }

        // Batch statistics: a separate copy in training mode (its running statistics move, but training mode never reads them).
        var batchModel = run.ModelAt(run.Outcome.StepsDone);
        var batch = new SortedDictionary<int, double>(TestBatchSizes(context.Preset).Append(run.Config.BatchSize).Append(SmallTestBatch)
            .Where(b => b >= 2 && b <= test.Count).Distinct().ToDictionary(b => b, b => Accuracy(batchModel, test, b)));

        var layers = runningStatistics.Select(s =>
        {
            var (pm, pv) = (s.Layer.RunningMean!.ToDoubleArray(), s.Layer.RunningVar!.ToDoubleArray());
            double meanGap = pm.Select((m, c) => Math.Abs(s.Mean[c] - m) / Math.Sqrt(pv[c] + s.Layer.Eps)).Max();
            double varRatio = pv.Select((v, c) => s.Var[c] / v).Average();
            return (s.Name, meanGap, varRatio);
        }).ToList();
        return new SeedMeasurement(running, population, batch, layers);
    }

    /// <summary>The fraction of <paramref name="data"/> that <paramref name="model"/> (in its current mode) classifies right, in consecutive batches of <paramref name="batchSize"/>.</summary>
    static double Accuracy(Module model, Dataset data, int batchSize)
    {
        int correct = 0, classes = data.Classes;
        using (Autograd.NoGrad())
            foreach (var (start, length) in Batches(data.Count, batchSize))
            {
                var batch = data.Subset(Enumerable.Range(start, length).ToArray());
                var logits = model.Forward(batch.Inputs).ToFloatArray();
                for (int i = 0; i < length; i++)
                {
                    int best = 0;
                    for (int j = 1; j < classes; j++) if (logits[i * classes + j] > logits[i * classes + best]) best = j;
                    if (best == batch.Labels![i]) correct++;
                }
            }
        return (double)correct / data.Count;
    }

    /// <summary>Consecutive (start, length) batches covering <paramref name="count"/> examples; a last batch of one joins the one before (batch statistics need two).</summary>
    public static List<(int Start, int Length)> Batches(int count, int size)
    {
        var batches = new List<(int Start, int Length)>();
        for (int start = 0; start < count; start += size) batches.Add((start, Math.Min(size, count - start)));
        if (batches.Count > 1 && batches[^1].Length == 1)
        {
            batches[^2] = (batches[^2].Start, batches[^2].Length + 1);
            batches.RemoveAt(batches.Count - 1);
        }
        return batches;
    }

    /// <summary>
    /// Test accuracies per seed: the BN network trains (precondition); population statistics within ±1
    /// point of the running averages; batch statistics of <see cref="SmallTestBatch"/> test examples more
    /// than 1 point behind population statistics, and more than 1 point behind batch statistics of the training batch size.
    /// </summary>
    public static Verdict Judge(SeedValues trained, SeedValues running, SeedValues population, SeedValues small, SeedValues trainingSize, string? note = null) => Verdict.Of(
    [
        SeededRuns.Trains(trained),
        AboutTheSame.Judge("population statistics give about the same accuracy as the running averages", population, running),
        Worse.Judge($"small test batches' own statistics ({SmallTestBatch} examples) are worse than population statistics", small, population),
        Worse.Judge("the smaller the test batch, the worse its own statistics", small, trainingSize),
    ], note);
}
