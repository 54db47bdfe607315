using System.Diagnostics;
using System.Text.Json;
using BatchNormLab.IO;

namespace BatchNormLab.Experiments;

/// <summary>
/// A shared run's progress while it trains, so that a task killed midway (a time limit, a lost node) resumes the run where
/// it was instead of starting it over: every <see cref="Every"/> of training, after a step and its evaluation, one
/// safetensors file beside the run's archive directory (<see cref="RunArchive.ProgressFile"/>) is replaced atomically. It
/// holds the trainer's checkpoint (model, momentum, step, first loss, noisy layers' generators), the model copies kept so
/// far, and in its metadata every step's and evaluation's metrics and every probe's measurements. Data order and
/// augmentation are functions of (seed, step), and the probes keep nothing from one step to the next but their
/// measurements, so the resumed run ends with the same bits as one never stopped. The file goes when the run is saved.
/// </summary>
/// <param name="File">The progress file.</param>
/// <param name="Key">The key the run is shared under; a file holding another key's run is an error, not a resume.</param>
/// <param name="Every">How much training between saves; zero saves after every step.</param>
public sealed record RunProgress(string File, string Key, TimeSpan Every)
{
    const string Format = "bnlab-progress-1";
    const string RunEntry = "run";

    /// <summary>The progress of the run shared under <paramref name="key"/> in the run archive <paramref name="archive"/>.</summary>
    public static RunProgress For(string archive, string key, TimeSpan every) =>
        new(RunArchive.ProgressFile(RunArchive.DirectoryFor(archive, key)), key, every);

    /// <summary>
    /// Puts the saved progress, if any, into a run about to train (<paramref name="trainer"/> built from the run's config,
    /// its probes attached and empty), then saves progress as it trains. Returns the step it resumes at (0: from the start).
    /// </summary>
    /// <exception cref="DataException">The file is not this run's progress, or does not fit its model or probes.</exception>
    internal int Attach(Trainer trainer, List<StepMetrics> steps, List<EvalMetrics> evaluations,
        Dictionary<int, IReadOnlyList<StateEntry>> snapshots, IReadOnlyList<ITrainingCallback> probes)
    {
        int resumed = System.IO.File.Exists(File) ? Restore(trainer, steps, evaluations, snapshots, probes) : 0;
        trainer.Callbacks.Add(new Saver(this, steps, evaluations, snapshots, probes));
        return resumed;
    }

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
        if (record.Probes.Count != probes.Count) throw new DataException($"{File}: {record.Probes.Count} probes saved, the run has {probes.Count}");
        var groups = entries.Where(e => e.Name.Contains('/')).GroupBy(e => e.Name[..e.Name.IndexOf('/')])
            .ToDictionary(g => g.Key, g => g.Select(e => new StateEntry(e.Name[(e.Name.IndexOf('/') + 1)..], e.Tensor, e.Int64)).ToList());
        List<StateEntry> Read(string name) => groups.TryGetValue(name, out var state) ? state : throw new DataException($"{File}: no saved state '{name}'");
        Checkpoint.Restore(trainer, checkpoint, File);
        steps.AddRange(record.Steps);
        evaluations.AddRange(record.Evaluations);
        foreach (int step in record.SnapshotSteps) snapshots[step] = Read(SnapshotName(step));
        for (int i = 0; i < probes.Count; i++) record.Probes[i].RestoreInto(probes[i], Read);
        return checkpoint.Step;
    }

    static string SnapshotName(int step) => $"snapshot-{step}";

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

    // The last callback: after the step's metrics, probes and evaluation are all recorded.
    sealed class Saver(RunProgress progress, List<StepMetrics> steps, List<EvalMetrics> evaluations,
        Dictionary<int, IReadOnlyList<StateEntry>> snapshots, IReadOnlyList<ITrainingCallback> probes) : ITrainingCallback
    {
        readonly Stopwatch sinceSave = Stopwatch.StartNew();

        public void OnStepDone(Trainer trainer, StepMetrics metrics)
        {
            // At the last step the run itself is saved next.
            if (trainer.Step >= trainer.Config.Steps || sinceSave.Elapsed < progress.Every) return;
            progress.Save(trainer, steps, evaluations, snapshots, probes);
            sinceSave.Restart();
        }
    }
}
