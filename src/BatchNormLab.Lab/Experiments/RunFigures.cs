namespace BatchNormLab.Experiments;

/// <summary>The figures, tables and numbers that experiments comparing trained runs have in common.</summary>
static class RunFigures
{
    public static FigureData TrainingLoss(IEnumerable<TrainedRun> runs) =>
        new("Training loss", "Training loss per step (mean over a 20-step window); × marks a run that diverged.", "step", "training loss",
            runs.Select(r => Smoothed(r, s => s.Loss)).ToList(), LogY: true);

    public static FigureData TrainingAccuracy(IEnumerable<TrainedRun> runs) =>
        new("Training accuracy", "Training accuracy per step (mean over a 20-step window).", "step", "training accuracy",
            runs.Select(r => Smoothed(r, s => s.Accuracy)).ToList());

    public static FigureData TestAccuracy(IEnumerable<TrainedRun> runs) =>
        new("Test accuracy", "Test accuracy at each evaluation.", "step", "test accuracy",
            runs.Select(r => new Series(r.Label, r.Evaluations.Select(e => (double)e.Step).ToArray(), r.Evaluations.Select(e => e.Accuracy).ToArray())).ToList());

    /// <summary>One row per run: steps, final loss, test accuracy, outcome.</summary>
    public static TableData Table(IEnumerable<TrainedRun> runs) =>
        new("Runs (training loss and accuracy: means over the last 50 steps)", ["run", "steps done", "training loss", "training accuracy", "test accuracy", "outcome"],
            runs.Select(r => (IReadOnlyList<string>)[r.Label, r.Outcome.StepsDone.ToString(CultureInfo.InvariantCulture), Cell(r.FinalTrainLoss(), "G4"), Cell(r.FinalTrainAccuracy(), "P1"), Cell(r.TestAccuracy, "P1"),
                r.Outcome.Diverged ? $"diverged at step {r.Outcome.DivergedAtStep}: {r.Outcome.DivergenceReason}" : "done"]).ToList());

    /// <summary>Each run's test accuracy and final training loss, into the result's numbers.</summary>
    public static void AddNumbers(Dictionary<ResultKey, double> numbers, IEnumerable<TrainedRun> runs)
    {
        foreach (var r in runs)
        {
            numbers[TestAccuracyKey(r.Label)] = r.TestAccuracy;
            numbers[TrainingLossKey(r.Label)] = r.FinalTrainLoss();
            numbers[TrainingAccuracyKey(r.Label)] = r.FinalTrainAccuracy();
        }
    }

    /// <summary>The key of run <paramref name="run"/>'s test accuracy: "RUN: test accuracy".</summary>
    public static ResultKey TestAccuracyKey(string run) => new(run, "test accuracy");

    /// <summary>The key of run <paramref name="run"/>'s training loss over the last 50 steps: "RUN: final training loss".</summary>
    public static ResultKey TrainingLossKey(string run) => new(run, "final training loss");

    /// <summary>The key of run <paramref name="run"/>'s training accuracy over the last 50 steps: "RUN: final training accuracy".</summary>
    public static ResultKey TrainingAccuracyKey(string run) => new(run, "final training accuracy");

    /// <summary>The key of run <paramref name="run"/>'s distribution shift, mean over its recorded layers (<see cref="ShiftTable"/>): "RUN: distribution shift".</summary>
    public static ResultKey ShiftKey(string run) => new(run, "distribution shift");

    /// <summary>Test accuracy, counting a diverged or unevaluated run as chance.</summary>
    public static double AccuracyOrChance(TrainedRun r) => double.IsNaN(r.TestAccuracy) ? Chance : r.TestAccuracy;

    /// <summary>Chance accuracy of the 10-class datasets every preset uses.</summary>
    public const double Chance = 0.1;

    /// <summary>"test accuracy 85.1%, training accuracy 88.0%, training loss 0.41" (training: last 50 steps), or "diverged at step k".</summary>
    public static string Summary(TrainedRun r) => r.Outcome.Diverged
        ? $"diverged at step {r.Outcome.DivergedAtStep}"
        : $"test accuracy {r.TestAccuracy.ToString("P1", CultureInfo.InvariantCulture)}, training accuracy {r.FinalTrainAccuracy().ToString("P1", CultureInfo.InvariantCulture)}, training loss {r.FinalTrainLoss().ToString("G3", CultureInfo.InvariantCulture)}";

    /// <summary>Whether the positive finite values span more than two decades, so a log axis shows them better.</summary>
    public static bool SpansDecades(IEnumerable<double> values)
    {
        var positive = values.Where(v => v > 0 && double.IsFinite(v)).ToList();
        return positive.Count > 0 && positive.Max() / positive.Min() > 100;
    }

    public static string Cell(double v, string format) => double.IsNaN(v) ? "-" : v.ToString(format, CultureInfo.InvariantCulture);

    public static string F(double v) => v.ToString("G4", CultureInfo.InvariantCulture);

    /// <summary>A metric per step, averaged over a trailing <paramref name="window"/>-step window; the diverged step is marked.</summary>
    public static Series Smoothed(TrainedRun r, Func<StepMetrics, double> metric, int window = 20)
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

    /// <summary>Per run, layer <paramref name="layer"/>'s median activation over training with its 5–95th percentile band.</summary>
    public static FigureData ActivationBands(IEnumerable<TrainedRun> runs, int layer) =>
        new($"Layer #{layer}: activation distribution", $"Median of weight layer #{layer}'s output (before any normalisation) on each recorded training batch; the band spans the 5th to 95th percentile.",
            "step", "layer output",
            runs.Select(r =>
            {
                var at = r.Activations!.Snapshots.Where(s => s.Layer == layer).OrderBy(s => s.Step).ToList();
                return new Series(r.Label, at.Select(s => (double)s.Step).ToArray(), at.Select(s => s.P50).ToArray())
                {
                    Lower = at.Select(s => s.P05).ToArray(),
                    Upper = at.Select(s => s.P95).ToArray(),
                    DivergedAt = r.Outcome.DivergedAtStep,
                };
            }).ToList());

    /// <summary>A run's distribution shift (<see cref="ActivationProbe.Shift"/>) per recorded layer, and the mean over its layers.</summary>
    public static (IReadOnlyDictionary<int, double> PerLayer, double Mean) Shift(TrainedRun r)
    {
        var perLayer = r.Activations!.Layers.ToDictionary(l => l, l => ActivationProbe.Shift(r.Activations.Snapshots.Where(s => s.Layer == l).ToList()));
        var finite = perLayer.Values.Where(double.IsFinite).ToList();
        return (perLayer, finite.Count == 0 ? double.NaN : finite.Average());
    }

    /// <summary>One row per run: its shift per recorded layer and the mean; adds the means to <paramref name="numbers"/>.</summary>
    public static TableData ShiftTable(IReadOnlyList<TrainedRun> runs, Dictionary<ResultKey, double> numbers)
    {
        var layers = runs[0].Activations!.Layers;
        var rows = new List<IReadOnlyList<string>>();
        foreach (var r in runs)
        {
            var (perLayer, mean) = Shift(r);
            numbers[ShiftKey(r.Label)] = mean;
            rows.Add([r.Label, .. layers.Select(l => Cell(perLayer[l], "G3")), Cell(mean, "G3")]);
        }
        return new TableData("Distribution shift (mean change of a layer's activation percentiles between recordings, in units of its 5–95 spread; 0 = a fixed distribution)",
            ["run", .. layers.Select(l => $"layer #{l}"), "mean"], rows);
    }
}
