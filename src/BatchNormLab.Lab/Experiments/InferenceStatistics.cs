using System.Globalization;
using BatchNormLab.Data;
using BatchNormLab.Models;
using BatchNormLab.Nn;

namespace BatchNormLab.Experiments;

/// <summary>
/// [IS15] §3.1 and seed 003: what BN should use at inference. One trained BN VGG (the shared BN run),
/// its test accuracy with (a) the running averages training left (momentum 0.1), (b) [IS15]'s
/// population statistics recomputed over K training batches with the weights frozen
/// (<see cref="BatchNormStatistics.RecomputePopulation"/>), (c) each test batch's own statistics, for
/// test batches from 2 examples to beyond the training batch size.
/// </summary>
public sealed class InferenceStatistics : Experiment
{
    public override string Name => "inference-stats";
    public override string Figure => "Ioffe & Szegedy 2015 §3.1 (population statistics at inference); seed 003";
    public override string Source => "Ioffe & Szegedy 2015 §3.1 (population statistics at inference); seed 003 (the expectation over the last mini-batches at convergence)";
    public override string Claim => "At inference, the population statistics of Ioffe & Szegedy (E[μ_B] and m/(m−1)·E[σ²_B] over training batches, weights frozen) give about the same accuracy as the running averages (momentum 0.1); normalising with the test batch's own statistics is worse, the more so the smaller the test batch.";

    /// <summary>The numbers K of training batches the population statistics are recomputed over; the largest is the one the verdict uses.</summary>
    public IReadOnlyList<int> PopulationBatchCounts { get; init; } = [1, 2, 5, 10, 20, 50, 100];

    /// <summary>Test batch sizes evaluated with batch statistics (the training batch size and <see cref="SmallTestBatch"/> are added).</summary>
    public IReadOnlyList<int> TestBatchSizes { get; init; } = [2, 4, 8, 16, 32, 64, 128, 256, 1024];

    /// <summary>The small test batch the verdict looks at.</summary>
    public const int SmallTestBatch = 8;

    /// <summary>Population and running statistics count as "about the same" within one point of test accuracy.</summary>
    public const double SameWithin = 0.01;

    /// <summary>Batch statistics count as worse when more than two standard errors, and at least half a point, behind.</summary>
    public const double WorseFloor = 0.005;

    /// <summary>Batch size of the evaluations with fixed statistics (any size gives the same outputs).</summary>
    const int EvalBatch = 256;

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; LR 0.1; the BN network (shared with the other experiments), then test accuracy on the whole test set with (a) its running averages (momentum 0.1), " +
         $"(b) population statistics over K = {string.Join(", ", PopulationBatchCounts)} training batches of the training batch size (the verdict uses K = {PopulationBatchCounts.Max()}), recomputed as PyTorch's cumulative average (momentum None) after a reset, " +
         $"(c) batch statistics of consecutive test batches of {string.Join(", ", TestBatchSizes)} examples and the training batch size (a last batch of one example joins the one before). " +
         "Accuracy differences on the same test examples have McNemar's standard error √(n₁₀ + n₀₁)/n.",
         "[IS15] used Inception on ImageNet and does not say over how many batches it averages; this is the BN VGG run of the Santurkar et al. experiments, whose setting differs from that paper's thus: " + Presets.Deviations(preset, dataset) +
         " The evaluations here use the whole test set, not the preset's subset, to tell small differences apart.");

    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var run = TrainedRun.Shared(context, Name, "BN", Presets.Vgg(context.Preset, Norm.BatchNorm, 0.1, context.Seed, context.Dataset));
        var (train, test) = context.Data(run.Config.Dataset);
        if (run.Config.TrainLimit > 0 && run.Config.TrainLimit < train.Count) train = train.Take(run.Config.TrainLimit);

        var model = run.ModelAt(run.Outcome.StepsDone);
        var runningStatistics = model.NamedModules().Where(m => m.Module is BatchNorm).Select(m => (m.Name, Layer: (BatchNorm)m.Module,
            Mean: ((BatchNorm)m.Module).RunningMean!.ToDoubleArray(), Var: ((BatchNorm)m.Module).RunningVar!.ToDoubleArray())).ToList();
        model.Eval();
        var running = Correct(model, test, EvalBatch);

        // Population statistics for each K, from a reset each time; the model keeps the last (largest K).
        var population = new SortedDictionary<int, bool[]>();
        foreach (int k in PopulationBatchCounts.Order())
        {
            var loader = new DataLoader(train, run.Config.BatchSize, shuffle: true, dropLast: true, run.Config.Seed);
            BatchNormStatistics.RecomputePopulation(model, loader.Epoch(0).Take(k).Select(b => b.Inputs));
            population[k] = Correct(model, test, EvalBatch);
        }
        int populationK = population.Keys.Last();

        // Batch statistics: a separate copy in training mode (its running statistics move, but training mode never reads them).
        var batchModel = run.ModelAt(run.Outcome.StepsDone);
        var batchSizes = TestBatchSizes.Append(run.Config.BatchSize).Append(SmallTestBatch).Where(b => b >= 2 && b <= test.Count).Distinct().Order().ToList();
        var batchStatistics = batchSizes.ToDictionary(b => b, b => Correct(batchModel, test, b));

        double Accuracy(bool[] correct) => (double)correct.Count(c => c) / correct.Length;
        var numbers = new Dictionary<string, double> { ["running averages: test accuracy"] = Accuracy(running) };
        foreach (var (b, correct) in batchStatistics) numbers[$"batch statistics, test batch {b}: test accuracy"] = Accuracy(correct);
        foreach (var (k, correct) in population) numbers[$"population statistics, K = {k}: test accuracy"] = Accuracy(correct);

        var reference = population[populationK];
        var rows = new List<IReadOnlyList<string>>
        {
            Row("running averages (momentum 0.1)", "–", running),
            Row($"population statistics, K = {populationK} batches", "–", reference),
        };
        rows.AddRange(batchStatistics.Select(p => Row("batch statistics", p.Key.ToString(CultureInfo.InvariantCulture), p.Value)));
        IReadOnlyList<string> Row(string statistics, string batch, bool[] correct) =>
            [statistics, batch, RunFigures.Cell(Accuracy(correct), "P2"), ReferenceEquals(correct, reference) ? "–" : Difference.OfPairedAccuracies(correct, reference).Format(100, "points")];

        var layerRows = runningStatistics.Select(s =>
        {
            var (pm, pv) = (s.Layer.RunningMean!.ToDoubleArray(), s.Layer.RunningVar!.ToDoubleArray());
            double meanGap = pm.Select((m, c) => Math.Abs(s.Mean[c] - m) / Math.Sqrt(pv[c] + s.Layer.Eps)).Max();
            double varRatio = pv.Select((v, c) => s.Var[c] / v).Average();
            return (s.Name, MeanGap: meanGap, VarRatio: varRatio);
        }).ToList();

        static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var files = new List<string>
        {
            WriteCsv(context, "inference.csv", new[] { $"running,,{R(Accuracy(running))}" }
                .Concat(population.Select(p => $"population,{p.Key},{R(Accuracy(p.Value))}"))
                .Concat(batchStatistics.Select(p => $"batch,{p.Key},{R(Accuracy(p.Value))}"))
                .Prepend("statistics,batches_or_test_batch_size,test_accuracy")),
            WriteCsv(context, "layer_statistics.csv", layerRows.Select(l => $"{l.Name},{R(l.MeanGap)},{R(l.VarRatio)}")
                .Prepend("layer,max_abs_running_minus_population_mean_over_population_std,mean_running_over_population_variance")),
            TrainedRun.FileName(run.Label) + ".metrics.csv",
        };

        double[] Flat(int count, double value) => Enumerable.Repeat(value, count).ToArray();
        double[] sizes = batchSizes.Select(b => (double)b).ToArray(), ks = population.Keys.Select(k => (double)k).ToArray();
        var figures = new List<FigureData>
        {
            new("Test accuracy by the statistics BN uses", "Test accuracy with each test batch's own statistics, by test batch size, against the running averages and the population statistics (flat lines).",
                "test batch size", "test accuracy",
                [
                    new Series("batch statistics", sizes, batchStatistics.Values.Select(Accuracy).ToArray()),
                    new Series("running averages", sizes, Flat(sizes.Length, Accuracy(running))),
                    new Series($"population, K = {populationK}", sizes, Flat(sizes.Length, Accuracy(reference))),
                ], LogX: true),
            new("Population statistics by the number of batches", "Test accuracy with population statistics over K training batches, against the running averages (flat line).",
                "training batches K", "test accuracy",
                [
                    new Series("population statistics", ks, population.Values.Select(Accuracy).ToArray()),
                    new Series("running averages", ks, Flat(ks.Length, Accuracy(running))),
                ], LogX: true),
        };
        var tables = new List<TableData>
        {
            new($"Test accuracy on {test.Count} test examples (difference to the population statistics on the same examples ± McNemar's standard error)",
                ["statistics", "test batch", "test accuracy", "minus population"], rows),
            new("Running averages against population statistics, per BN layer", ["BN layer", "max over channels |μ_running − μ_population| / σ_population", "mean over channels σ²_running / σ²_population"],
                layerRows.Select(l => (IReadOnlyList<string>)[l.Name, l.MeanGap.ToString("G3", CultureInfo.InvariantCulture), l.VarRatio.ToString("G4", CultureInfo.InvariantCulture)]).ToList()),
            RunFigures.Table([run]),
        };
        double meanGap = layerRows.Select(l => l.MeanGap).DefaultIfEmpty(double.NaN).Max();
        numbers["running vs population mean: largest gap in population standard deviations"] = meanGap;
        var verdict = Judge(running, reference, batchStatistics[SmallTestBatch], batchStatistics[run.Config.BatchSize], run.Config.BatchSize, populationK, meanGap, run);
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict, figures, tables, numbers, files, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Per test example, whether <paramref name="model"/> (in its current mode) classifies it right, in consecutive batches of <paramref name="batchSize"/>.</summary>
    static bool[] Correct(Module model, Dataset data, int batchSize)
    {
        var correct = new bool[data.Count];
        int classes = data.Classes;
        using (Autograd.NoGrad())
            foreach (var (start, length) in Batches(data.Count, batchSize))
            {
                var batch = data.Subset(Enumerable.Range(start, length).ToArray());
                var logits = model.Forward(batch.Inputs).ToFloatArray();
                for (int i = 0; i < length; i++)
                {
                    int best = 0;
                    for (int j = 1; j < classes; j++) if (logits[i * classes + j] > logits[i * classes + best]) best = j;
                    correct[start + i] = best == batch.Labels![i];
                }
            }
        return correct;
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
    /// Agrees when population statistics are within <see cref="SameWithin"/> of the running averages and
    /// small test batches' own statistics are worse than population statistics beyond the noise (two
    /// McNemar standard errors, at least <see cref="WorseFloor"/>) and worse than batches of the training
    /// size. Does not agree when population and running statistics differ beyond both one point and the
    /// noise, or small-batch statistics do at least as well as population statistics. Inconclusive otherwise.
    /// </summary>
    static Verdict Judge(bool[] running, bool[] population, bool[] small, bool[] trainingSize, int trainingBatch, int populationK, double meanGap, TrainedRun run)
    {
        var same = Difference.OfPairedAccuracies(population, running);
        var smallWorse = Difference.OfPairedAccuracies(small, population);
        var trainingWorse = Difference.OfPairedAccuracies(trainingSize, population);
        string reason = $"test accuracy: running averages {Percent(running)}, population statistics (K = {populationK}) {Percent(population)} (population − running {same.Format(100, "points")}; the running means lie up to {meanGap.ToString("0.##", CultureInfo.InvariantCulture)} standard deviations from the population means); " +
                        $"batch statistics with test batches of {trainingBatch} {Percent(trainingSize)} ({trainingWorse.Format(100, "points")} vs population), of {SmallTestBatch} {Percent(small)} ({smallWorse.Format(100, "points")})";
        if (run.Outcome.Diverged || run.TestAccuracy < RunFigures.Chance + 0.1) return new(VerdictKind.Inconclusive, $"the BN network did not train ({reason})");
        bool sameHolds = Math.Abs(same.Value) <= SameWithin, sameFails = Math.Abs(same.Value) > same.Margin(SameWithin);
        bool smallIsWorse = smallWorse.Sign(WorseFloor) < 0 && smallWorse.Value < trainingWorse.Value, smallNotWorse = smallWorse.Value >= 0;
        if (sameHolds && smallIsWorse) return new(VerdictKind.Agrees, $"population statistics match the running averages and small test batches' own statistics are clearly worse ({reason})");
        if (sameFails || smallNotWorse)
            return new(VerdictKind.DoesNotAgree, $"{(sameFails ? "population statistics and running averages differ beyond one point and the noise" : $"batch statistics of {SmallTestBatch} test examples do at least as well as population statistics")} ({reason})");
        return new(VerdictKind.Inconclusive, $"{(sameHolds ? $"population statistics match the running averages, but batch statistics of {SmallTestBatch} test examples are not worse beyond the noise or not worse than batches of {trainingBatch}" : "population and running statistics differ by more than a point, but within the noise")} ({reason})");
    }

    static string Percent(bool[] correct) => RunFigures.Cell((double)correct.Count(c => c) / correct.Length, "P2");
}
