using BatchNormLab.Kernels;

namespace BatchNormLab.Experiments;

/// <summary>
/// One configuration trained with several seeds (initialisation and data order), so that a comparison
/// can tell a difference from seed-to-seed noise. Runs come from <see cref="TrainedRun.Shared"/>: a
/// configuration another experiment trained with the same seed is reused.
/// </summary>
public sealed record SeededRuns(string Label, IReadOnlyList<TrainedRun> Runs)
{
    /// <summary>The loss of a uniform guess over the 10 classes, standing in for a diverged run's loss.</summary>
    public static readonly double ChanceLoss = Math.Log(10);

    /// <summary>Trains (or reuses) <paramref name="config"/> for each of the context's seeds (<see cref="ExperimentContext.SeedList"/>); run labels end in ", seed k".</summary>
    public static SeededRuns Train(ExperimentContext context, string experiment, string label, Func<ulong, TrainConfig> config) =>
        Over(context, label, (runLabel, seed) => TrainedRun.Shared(context, experiment, runLabel, config(seed)));

    /// <summary>One configuration labelled <paramref name="label"/>, from <paramref name="train"/>(run label, seed) over the context's seeds, side by side (<see cref="Over{TKey}"/>).</summary>
    public static SeededRuns Over(ExperimentContext context, string label, Func<string, ulong, TrainedRun> train) =>
        Over(context, [label], l => l, (_, runLabel, seed) => train(runLabel, seed))[label];

    /// <summary>
    /// Trains (or reuses, <see cref="TrainedRun.Shared"/>) each configuration <paramref name="keys"/> name for each of the
    /// context's seeds, every run side by side with the others (<see cref="Over{TKey}"/>); in the keys' order.
    /// </summary>
    public static Dictionary<TKey, SeededRuns> TrainAll<TKey>(ExperimentContext context, string experiment, IEnumerable<TKey> keys,
        Func<TKey, string> label, Func<TKey, ulong, TrainConfig> config) where TKey : notnull =>
        Over(context, keys, label, (key, runLabel, seed) => TrainedRun.Shared(context, experiment, runLabel, config(key, seed)));

    /// <summary>
    /// One <see cref="SeededRuns"/> per key, labelled <paramref name="label"/>(key), from <paramref name="train"/>(key, run label, seed)
    /// for each of the context's seeds (run labels end in ", seed k"). The runs are independent, so they go side by side
    /// (<see cref="Threading.Concurrently"/>: on 2 cores two one-thread runs take about the time of one two-thread run),
    /// with the same numbers as one after another. In the keys' order.
    /// </summary>
    public static Dictionary<TKey, SeededRuns> Over<TKey>(ExperimentContext context, IEnumerable<TKey> keys, Func<TKey, string> label,
        Func<TKey, string, ulong, TrainedRun> train) where TKey : notnull
    {
        var (all, seeds) = (keys.ToList(), context.SeedList);
        var jobs = all.SelectMany(key => seeds.Select(seed => (Func<TrainedRun>)(() => train(key, $"{label(key)}, seed {seed}", seed)))).ToList();
        var runs = Threading.Concurrently(jobs);
        return all.Select((key, i) => (key, runs: runs.Skip(i * seeds.Count).Take(seeds.Count).ToList()))
            .ToDictionary(g => g.key, g => new SeededRuns(label(g.key), g.runs));
    }

    /// <summary>Per seed, <paramref name="measure"/> of the run, labelled with this configuration.</summary>
    public SeedValues Values(Func<TrainedRun, double> measure) => new(Label, Runs.Select(measure));

    /// <summary>Per seed: test accuracy (chance when diverged), as values to judge.</summary>
    public SeedValues TestAccuracyPerSeed => new(Label, TestAccuracies);

    /// <summary>The precondition of comparisons between trained networks: <paramref name="accuracy"/> (per seed) is above chance by more than 10 points.</summary>
    public static Judgement Trains(SeedValues accuracy) =>
        Rule.Accuracy(Claimed.Greater, 10).Judge($"{accuracy.Label} trains", accuracy, RunFigures.Chance, "chance").AsPrecondition();

    /// <summary>Per seed: training accuracy over the last 50 steps (chance when diverged).</summary>
    public SeedValues TrainAccuracyPerSeed => Values(r => r.Outcome.Diverged ? RunFigures.Chance : r.FinalTrainAccuracy());

    /// <summary>Per seed: test accuracy (chance when diverged).</summary>
    public IReadOnlyList<double> TestAccuracies => Runs.Select(RunFigures.AccuracyOrChance).ToList();

    /// <summary>Per seed: training loss over the last 50 steps (chance loss when diverged).</summary>
    public IReadOnlyList<double> TrainLosses => Runs.Select(r => r.Outcome.Diverged ? ChanceLoss : r.FinalTrainLoss()).ToList();

    /// <summary>Per seed: test loss (chance loss when diverged).</summary>
    public IReadOnlyList<double> TestLosses => Runs.Select(r => r.Outcome.Diverged ? ChanceLoss : r.Outcome.FinalEvaluation?.Loss ?? double.NaN).ToList();

    /// <summary>A curve of each run averaged over the seeds, the band spanning the lowest to the highest seed; up to the shortest run.</summary>
    public Series Mean(Func<TrainedRun, Series> curve)
    {
        var curves = Runs.Select(curve).ToList();
        int length = curves.Min(c => c.X.Length);
        double[] At(Func<IEnumerable<double>, double> over) =>
            Enumerable.Range(0, length).Select(i => over(curves.Select(c => c.Y[i]))).ToArray();
        return new Series(Label, curves[0].X[..length], At(Enumerable.Average))
        {
            Lower = curves.Count > 1 ? At(Enumerable.Min) : null,
            Upper = curves.Count > 1 ? At(Enumerable.Max) : null,
            DivergedAt = curves.Select(c => c.DivergedAt).Min(),
        };
    }

    /// <summary>Training loss per step (20-step window) averaged over seeds, with the seeds' range as a band.</summary>
    public static FigureData TrainingLoss(IEnumerable<SeededRuns> groups) =>
        new("Training loss", "Training loss per step (mean over a 20-step window), averaged over the seeds; the band spans the seeds' lowest to highest.", "step", "training loss",
            groups.Select(g => g.Mean(r => RunFigures.Smoothed(r, s => s.Loss))).ToList(), LogY: true);

    /// <summary>Test accuracy at each evaluation averaged over seeds, with the seeds' range as a band.</summary>
    public static FigureData TestAccuracy(IEnumerable<SeededRuns> groups) =>
        new("Test accuracy", "Test accuracy at each evaluation, averaged over the seeds; the band spans the seeds' lowest to highest.", "step", "test accuracy",
            groups.Select(g => g.Mean(r => new Series(r.Label, r.Evaluations.Select(e => (double)e.Step).ToArray(), r.Evaluations.Select(e => e.Accuracy).ToArray()))).ToList());

    /// <summary>One row per configuration: mean ± standard deviation over seeds of test accuracy, test loss and final training loss, and each seed's accuracy.</summary>
    public static TableData Table(IEnumerable<SeededRuns> groups) =>
        new("Per configuration, over seeds: mean ± standard deviation (training loss: last 50 steps)",
            ["configuration", "seeds", "test accuracy", "test loss", "training loss", "test accuracy per seed"],
            groups.Select(g => (IReadOnlyList<string>)[g.Label, g.Runs.Count.ToString(CultureInfo.InvariantCulture),
                MeanSd(g.TestAccuracies, 100, "0.00") + " %", MeanSd(g.TestLosses, 1, "0.0000"), MeanSd(g.TrainLosses, 1, "0.0000"),
                string.Join(", ", g.TestAccuracies.Select(a => RunFigures.Cell(a, "P1")))]).ToList());

    /// <summary>Each configuration's seed means into the result's numbers, under "LABEL: …" (<see cref="TestAccuracyKey"/>, <see cref="TestLossKey"/>, <see cref="TrainingLossKey"/>).</summary>
    public void AddNumbers(Dictionary<ResultKey, double> numbers)
    {
        numbers[TestAccuracyKey(Label)] = TestAccuracies.Average();
        numbers[TestLossKey(Label)] = TestLosses.Average();
        numbers[TrainingLossKey(Label)] = TrainLosses.Average();
    }

    /// <summary>The key of configuration <paramref name="label"/>'s test accuracy, mean over seeds: "LABEL: test accuracy (mean over seeds)".</summary>
    public static ResultKey TestAccuracyKey(string label) => new(label, "test accuracy (mean over seeds)");

    /// <summary>The key of configuration <paramref name="label"/>'s test loss, mean over seeds: "LABEL: test loss (mean over seeds)".</summary>
    public static ResultKey TestLossKey(string label) => new(label, "test loss (mean over seeds)");

    /// <summary>The key of configuration <paramref name="label"/>'s training loss over the last 50 steps, mean over seeds: "LABEL: final training loss (mean over seeds)".</summary>
    public static ResultKey TrainingLossKey(string label) => new(label, "final training loss (mean over seeds)");

    /// <summary>The per-run CSV lines (no header) with this configuration's <paramref name="columns"/> first.</summary>
    public IEnumerable<string> CsvLines(string columns)
    {
        static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        return Runs.Select(r => $"{columns},{r.Config.Seed},{r.Outcome.StepsDone},{(r.Outcome.Diverged ? 1 : 0)},{R(r.FinalTrainLoss())},{R(r.FinalTrainAccuracy())}," +
                                $"{R(r.Outcome.FinalEvaluation?.Loss ?? double.NaN)},{R(r.TestAccuracy)}");
    }

    /// <summary>The columns <see cref="CsvLines"/> writes after the configuration's own.</summary>
    public const string CsvColumns = "seed,steps_done,diverged,final_train_loss,final_train_accuracy,test_loss,test_accuracy";

    static string MeanSd(IReadOnlyList<double> values, double scale, string format)
    {
        double mean = values.Average();
        string sd = values.Count > 1 ? " ± " + (Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1)) * scale).ToString(format, CultureInfo.InvariantCulture) : "";
        return (mean * scale).ToString(format, CultureInfo.InvariantCulture) + sd;
    }
}
