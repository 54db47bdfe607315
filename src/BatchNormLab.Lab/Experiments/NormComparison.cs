namespace BatchNormLab.Experiments;

/// <summary>
/// An experiment that compares VGG networks differing only in their normalisation, trained at LR 0.1 with
/// each of the context's seeds (runs shared with the other experiments: <see cref="Presets.SharedRuns"/>):
/// per-seed outcomes and layer-distribution shifts in tables, the figures and verdict the experiment chooses.
/// </summary>
public abstract class NormComparison : Experiment
{
    /// <summary>The networks compared, in the tables' order.</summary>
    protected abstract IReadOnlyList<Norm> Networks { get; }

    /// <summary>The figures of the result, from the groups in the order of <see cref="Networks"/> (one group per network, one run per seed).</summary>
    protected abstract IEnumerable<FigureData> Figures(IReadOnlyList<SeededRuns> groups);

    /// <summary>The verdict, from the groups in the order of <see cref="Networks"/>.</summary>
    protected abstract Verdict Judge(IReadOnlyList<SeededRuns> groups);

    /// <inheritdoc/>
    protected sealed override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var groups = Presets.SharedRuns(context, Name, Networks);
        var runs = groups.SelectMany(g => g.Runs).ToList();
        var numbers = new Dictionary<ResultKey, double>();
        foreach (var g in groups) g.AddNumbers(numbers);
        var tables = new List<TableData> { SeededRuns.Table(groups), RunFigures.Table(runs), RunFigures.ShiftTable(runs, numbers) };
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, Judge(groups), Figures(groups).ToList(), tables, numbers,
            runs.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv").ToList(), clock.Elapsed.TotalSeconds);
    }

    /// <summary>Per seed, a run's distribution shift averaged over its recorded layers (<see cref="RunFigures.Shift"/>).</summary>
    protected static SeedValues Shifts(SeededRuns group) => group.Values(r => RunFigures.Shift(r).Mean);

    /// <summary>The first seed's run of each group, for figures that draw one run per network.</summary>
    protected static IReadOnlyList<TrainedRun> FirstSeed(IReadOnlyList<SeededRuns> groups) => groups.Select(g => g.Runs[0]).ToList();
}
