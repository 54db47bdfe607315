using BatchNormLab.Models;

namespace BatchNormLab.Experiments;

/// <summary>
/// An experiment that compares VGG networks differing only in their normalisation, trained at LR 0.1
/// (runs shared with the other experiments: <see cref="Presets.SharedRuns"/>): each run's outcome and
/// layer-distribution shift in tables, the figures and verdict the experiment chooses.
/// </summary>
public abstract class NormComparison : Experiment
{
    /// <summary>The networks compared, in the tables' order.</summary>
    protected abstract IReadOnlyList<Norm> Networks { get; }

    protected abstract IEnumerable<FigureData> Figures(IReadOnlyList<TrainedRun> runs);

    /// <summary>The verdict, from runs in the order of <see cref="Networks"/>.</summary>
    protected abstract Verdict Judge(IReadOnlyList<TrainedRun> runs);

    public sealed override ExperimentResult Run(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var runs = Presets.SharedRuns(context, Name, Networks);
        var numbers = new Dictionary<string, double>();
        var tables = new List<TableData> { RunFigures.Table(runs), RunFigures.ShiftTable(runs, numbers) };
        RunFigures.AddNumbers(numbers, runs);
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, Judge(runs), Figures(runs).ToList(), tables, numbers,
            runs.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv").ToList(), clock.Elapsed.TotalSeconds);
    }
}
