using BatchNormLab.Kernels;

namespace BatchNormLab.Experiments;

/// <summary>A shared run an experiment asks for: its key, who asks and under what label, and its configuration.</summary>
/// <param name="Key">The key the run is shared under (<see cref="ExperimentContext"/>).</param>
/// <param name="Experiment">The experiment that asks for it.</param>
/// <param name="Label">The label it asks under.</param>
/// <param name="Config">The run's configuration.</param>
public sealed record RunRequest(string Key, string Experiment, string Label, TrainConfig Config);

/// <summary>
/// Finds an experiment's shared runs without training them: while it is set on a context, every request for a shared run is
/// recorded and answered with a stand-in (a run with no model and no steps), and the experiment is stopped where it uses one
/// or reaches for data. With a target key, the request for that key alone is trained and saved, and the experiment stopped
/// there: a task of the plan trains one shared run exactly as the experiment's own measurement would.
/// </summary>
internal sealed class RunDiscovery(string? target, int threads, string? archive, TimeSpan checkpointEvery)
{
    readonly List<RunRequest> requests = [];

    /// <summary>Thrown to end a replay: at the target once it is trained, or where the experiment reaches for data.</summary>
    internal sealed class Stop : Exception;

    public IReadOnlyList<RunRequest> Requests => requests;

    /// <summary>Whether the target run has been trained (and data may be read: the target's training needs it).</summary>
    public bool Training { get; private set; }

    public bool Trained { get; private set; }

    /// <summary>Runs the experiment's measurement on <paramref name="context"/> until it stops; what stops it ends the replay.</summary>
    public void Replay(Experiment experiment, ExperimentContext context)
    {
        try { experiment.MeasureForDiscovery(context); }
        catch (Exception) when (!Training)
        {
            // A stand-in used, data reached for, the target trained: whatever ends the measurement ends the replay.
        }
    }

    public TrainedRun Request(string key, string experiment, string label, TrainConfig config, Func<RunProgress?, TrainedRun> train, out bool own)
    {
        own = true;
        lock (requests)
        {
            if (requests.All(r => r.Key != key)) requests.Add(new RunRequest(key, experiment, label, config));
        }
        if (key != target)
            return new TrainedRun
            {
                Label = label, Experiment = experiment, Config = config, Model = null!, Steps = [], Evaluations = [],
                Outcome = new TrainingOutcome(0, false, null, null, null), Snapshots = new Dictionary<int, IReadOnlyList<StateEntry>>(),
                InputShape = [], Outputs = 0,
            };
        Training = true;
        TrainedRun run;
        using (Threading.Use(threads)) run = train(archive is null ? null : RunProgress.For(archive, key, checkpointEvery));
        if (archive is not null) RunArchive.Save(run, key, RunArchive.DirectoryFor(archive, key));
        Training = false;
        Trained = true;
        throw new Stop();
    }
}
