using System.Diagnostics;
using System.Text.Json;
using BatchNormLab.IO;

namespace BatchNormLab.Experiments;

/// <summary>
/// A shared run's progress while it trains, so that a task killed midway (a time limit, a lost node) resumes the run where
/// it last saved instead of starting it over: every <see cref="Every"/> of training, and when the process is asked to stop
/// (<see cref="SaveAllNow"/>: Slurm sends SIGTERM before it kills a task at its time limit), after a step and its
/// evaluation, one safetensors file beside the run's archive directory (<see cref="RunArchive.ProgressFile"/>) is replaced
/// atomically. It holds the trainer's checkpoint (model, momentum, step, first loss, noisy layers' generators), the model
/// copies kept so far, and in its metadata every step's and evaluation's metrics and every probe's measurements. Data order
/// and augmentation are functions of (seed, step), and the probes keep nothing from one step to the next but their
/// measurements and what they took from the model before its first step (built before the progress is restored), so the
/// resumed run ends with the same bits as one never stopped. The file goes when the run is saved; a file that cannot be
/// resumed from is set aside, and the run trains from the start, to the same bits.
/// </summary>
/// <param name="File">The progress file.</param>
/// <param name="Key">The key the run is shared under; a file holding another key's run is not resumed from.</param>
/// <param name="Every">How much training between saves; zero saves after every step.</param>
public sealed record RunProgress(string File, string Key, TimeSpan Every)
{
    const string Format = "bnlab-progress-1";
    const string RunEntry = "run";

    // The runs training in this process, for SaveAllNow.
    static readonly List<Saving> training = [];

    /// <summary>The progress of the run shared under <paramref name="key"/> in the run archive <paramref name="archive"/>.</summary>
    public static RunProgress For(string archive, string key, TimeSpan every) =>
        new(RunArchive.ProgressFile(RunArchive.DirectoryFor(archive, key)), key, every);

    /// <summary>
    /// Asks every run training in this process to save its progress at the end of its current step, and waits up to
    /// <paramref name="wait"/> for them: for a signal that the process is about to be stopped.
    /// </summary>
    public static void SaveAllNow(TimeSpan wait)
    {
        Saving[] runs;
        lock (training) runs = [.. training];
        foreach (var run in runs) run.Requested = true;
        var clock = Stopwatch.StartNew();
        foreach (var run in runs) run.Saved.Wait(wait > clock.Elapsed ? wait - clock.Elapsed : TimeSpan.Zero);
    }

    /// <summary>
    /// Puts the saved progress, if there is any this run can resume from, into a run about to train (<paramref name="trainer"/>
    /// built from the run's config, its probes attached and empty), then saves progress as it trains until disposed.
    /// </summary>
    internal Saving Attach(Trainer trainer, List<StepMetrics> steps, List<EvalMetrics> evaluations,
        Dictionary<int, IReadOnlyList<StateEntry>> snapshots, IReadOnlyList<ITrainingCallback> probes)
    {
        // A save killed midway leaves its temporary file or directory: they are no progress.
        RunArchive.DeletePartialSaves(File[..^RunArchive.ProgressSuffix.Length]);
        int resumed = 0;
        string? setAside = null;
        if (System.IO.File.Exists(File))
        {
            try { resumed = Restore(trainer, steps, evaluations, snapshots, probes); }
            catch (DataException e)
            {
                setAside = e.Message;
                System.IO.File.Delete(File);
            }
        }
        var saving = new Saving(this, steps, evaluations, snapshots, probes) { Resumed = resumed, SetAside = setAside };
        trainer.Callbacks.Add(saving);
        lock (training) training.Add(saving);
        return saving;
    }

    // Everything is read and checked before the trainer, the metrics or a probe is touched: a file that does not fit changes nothing.
    int Restore(Trainer trainer, List<StepMetrics> steps, List<EvalMetrics> evaluations,
        Dictionary<int, IReadOnlyList<StateEntry>> snapshots, IReadOnlyList<ITrainingCallback> probes)
    {
        var (entries, metadata) = Safetensors.Read(File);
        var checkpoint = Checkpoint.FromState(entries, metadata, File, otherEntries: true);
        ProgressRecord record;
        try { record = JsonSerializer.Deserialize<ProgressRecord>(metadata.GetValueOrDefault(RunEntry) ?? "null", RunArchive.Json) ?? throw new JsonException("no run entry in the metadata"); }
        catch (JsonException e) { throw new DataException($"{File}: not a run's progress ({e.Message})"); }
        if (record.Format != Format) throw new DataException($"{File}: format '{record.Format}', expected '{Format}'");
        if (record.Key != Key) throw new DataException($"{File}: holds the progress of another run (a hash collision or a copied file)");
        if (checkpoint.Config.ToJson() != trainer.Config.ToJson()) throw new DataException($"{File}: trained with another config than this run's");
        if (record.Probes.Count != probes.Count || record.Probes.Zip(probes).Any(p => !p.First.Fits(p.Second)))
            throw new DataException($"{File}: its probes are not this run's");
        var model = trainer.Model.StateDict().ToDictionary(e => e.Name);
        var parameters = trainer.Model.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor);
        if (checkpoint.Model.Count != model.Count || checkpoint.Model.Any(e => !model.TryGetValue(e.Name, out var own) || !SameShape(e.Tensor, own.Tensor))
            || checkpoint.Momentum.Any(m => !parameters.TryGetValue(m.Key, out var p) || !SameShape(m.Value, p)))
            throw new DataException($"{File}: its model or momentum does not fit this run's model");
        var groups = entries.Where(e => e.Name.Contains('/')).GroupBy(e => e.Name[..e.Name.IndexOf('/')])
            .ToDictionary(g => g.Key, g => g.Select(e => new StateEntry(e.Name[(e.Name.IndexOf('/') + 1)..], e.Tensor, e.Int64)).ToList());
        List<StateEntry> Read(string name) => groups.TryGetValue(name, out var state) ? state : throw new DataException($"{File}: no saved state '{name}'");
        var kept = record.SnapshotSteps.ToDictionary(step => step, step => (IReadOnlyList<StateEntry>)Read(SnapshotName(step)));
        if (record.Probes.SelectMany(p => p.StateNames).FirstOrDefault(name => !groups.ContainsKey(name)) is { } missing)
            throw new DataException($"{File}: no saved state '{missing}'");
        Checkpoint.Restore(trainer, checkpoint, File);
        steps.AddRange(record.Steps);
        evaluations.AddRange(record.Evaluations);
        foreach (var (step, state) in kept) snapshots[step] = state;
        for (int i = 0; i < probes.Count; i++) record.Probes[i].RestoreInto(probes[i], Read);
        return checkpoint.Step;
    }

    static string SnapshotName(int step) => $"snapshot-{step}";

    static bool SameShape(Tensor? a, Tensor? b) => a is null ? b is null : b is not null && a.Shape.AsSpan().SequenceEqual(b.Shape);

    void Save(Trainer trainer, List<StepMetrics> steps, List<EvalMetrics> evaluations,
        Dictionary<int, IReadOnlyList<StateEntry>> snapshots, IReadOnlyList<ITrainingCallback> probes)
    {
        var (tensors, metadata) = Checkpoint.State(trainer);
        void Write(string name, IEnumerable<StateEntry> state) => tensors.AddRange(state.Select(e => new NamedTensor($"{name}/{e.Name}", e.Tensor, e.Int64)));
        foreach (var (step, state) in snapshots) Write(SnapshotName(step), state);
        var records = probes.Select(p => RunArchive.ProbeRecord.Of(p, Write)).ToList();
        metadata[RunEntry] = JsonSerializer.Serialize(new ProgressRecord(Format, Key, steps, evaluations, [.. snapshots.Keys.Order()], records), RunArchive.Json);
        Safetensors.Write(File, tensors, metadata);
    }

    sealed record ProgressRecord(string Format, string Key, List<StepMetrics> Steps, List<EvalMetrics> Evaluations, int[] SnapshotSteps, List<RunArchive.ProbeRecord> Probes);

    /// <summary>A run saving its progress as it trains: the last of its trainer's callbacks, after the step's metrics, probes and evaluation.</summary>
    internal sealed class Saving(RunProgress progress, List<StepMetrics> steps, List<EvalMetrics> evaluations,
        Dictionary<int, IReadOnlyList<StateEntry>> snapshots, IReadOnlyList<ITrainingCallback> probes) : ITrainingCallback, IDisposable
    {
        readonly Stopwatch sinceSave = Stopwatch.StartNew();

        /// <summary>The step the run resumed at; 0 when it starts from the beginning.</summary>
        public int Resumed { get; init; }

        /// <summary>Why a progress file there could not be resumed from (it was deleted); null when none was set aside.</summary>
        public string? SetAside { get; init; }

        internal volatile bool Requested;
        internal readonly ManualResetEventSlim Saved = new();

        public void OnStepDone(Trainer trainer, StepMetrics metrics)
        {
            // At the last step the run itself is saved next.
            if (trainer.Step < trainer.Config.Steps && (Requested || sinceSave.Elapsed >= progress.Every))
            {
                progress.Save(trainer, steps, evaluations, snapshots, probes);
                sinceSave.Restart();
            }
            if (Requested) Saved.Set();
        }

        /// <summary>The run has ended: no more saves, and nothing waits for one.</summary>
        public void Dispose()
        {
            lock (training) training.Remove(this);
            Saved.Set();
        }
    }
}
