using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BatchNormLab.IO;

namespace BatchNormLab.Experiments;

/// <summary>
/// A trained run on disk, so that another process (a task of the plan, a resumed run) uses it as if it had trained it:
/// <c>run.json</c> (label, experiment, config, per-step metrics, evaluations, outcome, the probes' measurements) beside
/// safetensors of the final model, its kept copies and any checkpoints a probe kept. Every number is written so that it
/// reads back to the same bits (doubles in their round-trip form, tensors as raw little-endian values).
/// A directory appears whole or not at all: it is written under a temporary name and renamed.
/// </summary>
public static class RunArchive
{
    const string Format = "bnlab-run-1";
    const string RunFile = "run.json";
    const string ModelFile = "model.safetensors";

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        WriteIndented = false,
    };

    /// <summary>The directory under <paramref name="root"/> that holds the run shared under <paramref name="key"/> (a hash of the key: keys are long JSON).</summary>
    public static string DirectoryFor(string root, string key) =>
        Path.Combine(root, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..16]);

    /// <summary>The file beside <paramref name="directory"/> where the run is kept while it trains (<see cref="RunProgress"/>); deleted once the run is saved.</summary>
    public static string ProgressFile(string directory) => directory + ProgressSuffix;

    internal const string ProgressSuffix = ".progress.safetensors";

    /// <summary>Deletes the progress file of the run saved in <paramref name="directory"/>, and what a kill left of its saves.</summary>
    public static void DeleteProgress(string directory)
    {
        File.Delete(ProgressFile(directory));
        DeletePartialSaves(directory);
    }

    /// <summary>
    /// Deletes what a kill left half-written of the run in <paramref name="directory"/>: temporary run directories and
    /// progress files. Only the one process training the run, or the one that saved it, calls this.
    /// </summary>
    public static void DeletePartialSaves(string directory)
    {
        string full = Path.GetFullPath(directory), parent = Path.GetDirectoryName(full)!, name = Path.GetFileName(full);
        if (!Directory.Exists(parent)) return;
        foreach (string partial in Directory.GetFiles(parent, Path.GetFileName(ProgressFile(full)) + ".tmp-*")) File.Delete(partial);
        foreach (string partial in Directory.GetDirectories(parent, name + ".tmp-*")) Directory.Delete(partial, recursive: true);
    }

    /// <summary>Writes <paramref name="run"/> to <paramref name="directory"/>, whole or not at all; a run already there is kept (the same key trains to the same bits). Its progress file goes.</summary>
    public static void Save(TrainedRun run, string key, string directory)
    {
        if (Directory.Exists(directory))
        {
            DeleteProgress(directory);
            return;
        }
        string temporary = $"{directory}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        Directory.CreateDirectory(temporary);
        try
        {
            WriteState(Path.Combine(temporary, ModelFile), run.Model.StateDict());
            foreach (var (step, state) in run.Snapshots) WriteState(Path.Combine(temporary, $"snapshot-{step}.safetensors"), state);
            var probes = run.Probes.Select(p => ProbeRecord.Of(p, (name, state) => WriteState(Path.Combine(temporary, name + ".safetensors"), state))).ToList();
            var record = new RunRecord(Format, key, run.Label, run.Experiment, run.Config.ToJson(), run.Steps, run.Evaluations, run.Outcome,
                run.InputShape, run.Outputs, run.Snapshots.Keys.Order().ToArray(),
                run.Model.NamedModules().Select(m => new ModuleMode(m.Name, m.Module.Training)).ToList(),
                run.Activations is null ? null : new ActivationRecord(run.Activations.Layers, run.Activations.Snapshots), probes);
            File.WriteAllText(Path.Combine(temporary, RunFile), JsonSerializer.Serialize(record, Json));
            Directory.Move(temporary, directory);
            DeleteProgress(directory);
        }
        catch (IOException) when (Directory.Exists(directory))
        {
            // Another process saved the same run first: its copy has the same bits.
        }
        finally
        {
            if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
        }
    }

    /// <summary>The run saved under <paramref name="key"/> in <paramref name="directory"/>, or null when there is none.</summary>
    /// <exception cref="DataException">The directory holds something that is not that run (another key, another format, a missing file).</exception>
    public static TrainedRun? Load(string directory, string key)
    {
        string runFile = Path.Combine(directory, RunFile);
        if (!File.Exists(runFile)) return null;
        RunRecord record;
        try { record = JsonSerializer.Deserialize<RunRecord>(File.ReadAllText(runFile), Json) ?? throw new JsonException("empty document"); }
        catch (JsonException e) { throw new DataException($"{runFile}: not a saved run ({e.Message})"); }
        if (record.Format != Format) throw new DataException($"{runFile}: format '{record.Format}', expected '{Format}'");
        if (record.Key != key) throw new DataException($"{runFile}: holds the run of another key (a hash collision or a copied directory)");
        var config = TrainConfig.FromJson(record.Config, runFile);
        var model = Rebuild(config, record.InputShape, record.Outputs, ReadState(Path.Combine(directory, ModelFile)));
        var modes = model.NamedModules().ToDictionary(m => m.Name, m => m.Module);
        foreach (var mode in record.Modes) modes[mode.Name].Train(mode.Training);
        var snapshots = record.SnapshotSteps.ToDictionary(step => step, step => (IReadOnlyList<StateEntry>)ReadState(Path.Combine(directory, $"snapshot-{step}.safetensors")));
        return new TrainedRun
        {
            Label = record.Label, Experiment = record.Experiment, Config = config, Model = model,
            Steps = record.Steps, Evaluations = record.Evaluations, Outcome = record.Outcome, Snapshots = snapshots,
            InputShape = record.InputShape, Outputs = record.Outputs,
            Activations = record.Activations is null ? null : ActivationProbe.Restored(record.Activations.Layers, record.Activations.Snapshots),
            Probes = record.Probes.Select(p => p.Restore(name => ReadState(Path.Combine(directory, name + ".safetensors")))).ToList(),
        };
    }

    static Module Rebuild(TrainConfig config, int[] inputShape, int outputs, List<StateEntry> state)
    {
        var model = config.Model.Build(inputShape, outputs, new Rng(config.Seed));
        model.LoadStateDict(state);
        return model;
    }

    static void WriteState(string path, IEnumerable<StateEntry> state) =>
        Safetensors.Write(path, state.Select(e => new NamedTensor(e.Name, e.Tensor, e.Int64)));

    static List<StateEntry> ReadState(string path)
    {
        if (!File.Exists(path)) throw new DataException($"{path}: missing from a saved run");
        return Safetensors.Read(path).Entries.Select(e => new StateEntry(e.Name, e.Tensor, e.Int64)).ToList();
    }

    sealed record RunRecord(string Format, string Key, string Label, string Experiment, string Config, List<StepMetrics> Steps, List<EvalMetrics> Evaluations,
        TrainingOutcome Outcome, int[] InputShape, int Outputs, int[] SnapshotSteps, List<ModuleMode> Modes, ActivationRecord? Activations, List<ProbeRecord> Probes);

    sealed record ModuleMode(string Name, bool Training);

    sealed record ActivationRecord(IReadOnlyList<int> Layers, List<ActivationSnapshot> Snapshots);

    /// <summary>
    /// One probe's measurements, by kind; the model copies a probe kept go through <c>write</c> and <c>read</c> under a name of
    /// their own (a safetensors file of the archive, a group of tensors of the progress file).
    /// </summary>
    internal sealed record ProbeRecord(string Kind, IReadOnlyList<int>? Layers = null, List<IcsMeasurement>? Ics = null, List<LandscapeMeasurement>? Landscape = null,
        List<TheoryMeasurement>? Theory = null, double[]? FinalDistances = null, double? Threshold = null, List<SaturationSnapshot>? Saturation = null,
        int[]? CheckpointSteps = null, List<ActivationSnapshot>? Activations = null)
    {
        public static ProbeRecord Of(ITrainingCallback probe, Action<string, IEnumerable<StateEntry>> write)
        {
            switch (probe)
            {
                case IcsProbe ics: return new("ics", Layers: ics.Layers, Ics: ics.Measurements);
                case LandscapeProbe landscape: return new("landscape", Landscape: landscape.Measurements);
                case TheoryProbe theory: return new("theory", Layers: theory.Layers, Theory: theory.Measurements, FinalDistances: theory.FinalDistances);
                case SaturationProbe saturation: return new("saturation", Layers: saturation.Layers, Threshold: saturation.Threshold, Saturation: saturation.Snapshots);
                case ActivationProbe activations: return new("activations", Layers: activations.Layers, Activations: activations.Snapshots);
                case LossSurfacePlots.Checkpoints checkpoints:
                    foreach (var (step, state) in checkpoints.States) write(CheckpointName(step), state);
                    return new("checkpoints", CheckpointSteps: [.. checkpoints.States.Keys]);
                default: throw new NotSupportedException($"a run with a {probe.GetType().Name} cannot be saved: RunArchive does not know its measurements");
            }
        }

        static string CheckpointName(int step) => $"checkpoint-{step}";

        /// <summary>The names of the model copies these measurements come with, which <c>read</c> is asked for.</summary>
        public IEnumerable<string> StateNames => CheckpointSteps?.Select(CheckpointName) ?? [];

        /// <summary>A probe holding these measurements, never attached to a trainer again.</summary>
        public ITrainingCallback Restore(Func<string, List<StateEntry>> read) => Kind switch
        {
            "ics" => IcsProbe.Restored(Layers!, Ics!),
            "landscape" => LandscapeProbe.Restored(Landscape!),
            "theory" => TheoryProbe.Restored(Layers!, Theory!, FinalDistances),
            "saturation" => SaturationProbe.Restored(Threshold!.Value, Layers!, Saturation!),
            "activations" => ActivationProbe.Restored(Layers!, Activations!),
            "checkpoints" => LossSurfacePlots.Checkpoints.Restored(CheckpointSteps!.ToDictionary(step => step, step => (IReadOnlyList<StateEntry>)read(CheckpointName(step)))),
            _ => throw new DataException($"a saved probe of kind '{Kind}' this version does not know"),
        };

        /// <summary>Whether <paramref name="live"/> is the kind of probe these measurements are of.</summary>
        public bool Fits(ITrainingCallback live) => Of(live, (_, _) => { }).Kind == Kind;

        /// <summary>Puts these measurements into <paramref name="live"/>, the same kind of probe attached to the resumed run's trainer, which has measured nothing yet.</summary>
        public void RestoreInto(ITrainingCallback live, Func<string, List<StateEntry>> read)
        {
            switch (live, Kind)
            {
                case (IcsProbe ics, "ics"): ics.Measurements.AddRange(Ics!); break;
                case (LandscapeProbe landscape, "landscape"): landscape.Measurements.AddRange(Landscape!); break;
                case (TheoryProbe theory, "theory"): theory.Measurements.AddRange(Theory!); break;
                case (SaturationProbe saturation, "saturation"): saturation.Snapshots.AddRange(Saturation!); break;
                case (ActivationProbe activations, "activations"): activations.Snapshots.AddRange(Activations!); break;
                case (LossSurfacePlots.Checkpoints checkpoints, "checkpoints"):
                    foreach (int step in CheckpointSteps!) checkpoints.States[step] = read(CheckpointName(step));
                    break;
                default: throw new DataException($"a saved probe of kind '{Kind}' where the run has a {live.GetType().Name}");
            }
        }
    }
}
