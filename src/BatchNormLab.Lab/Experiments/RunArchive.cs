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

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        WriteIndented = false,
    };

    /// <summary>The directory under <paramref name="root"/> that holds the run shared under <paramref name="key"/> (a hash of the key: keys are long JSON).</summary>
    public static string DirectoryFor(string root, string key) =>
        Path.Combine(root, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..16]);

    /// <summary>Writes <paramref name="run"/> to <paramref name="directory"/>, whole or not at all; a run already there is kept (the same key trains to the same bits).</summary>
    public static void Save(TrainedRun run, string key, string directory)
    {
        if (Directory.Exists(directory)) return;
        string temporary = $"{directory}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        Directory.CreateDirectory(temporary);
        try
        {
            WriteState(Path.Combine(temporary, ModelFile), run.Model.StateDict());
            foreach (var (step, state) in run.Snapshots) WriteState(Path.Combine(temporary, $"snapshot-{step}.safetensors"), state);
            var probes = run.Probes.Select(p => ProbeRecord.Of(p, temporary)).ToList();
            var record = new RunRecord(Format, key, run.Label, run.Experiment, run.Config.ToJson(), run.Steps, run.Evaluations, run.Outcome,
                run.InputShape, run.Outputs, run.Snapshots.Keys.Order().ToArray(),
                run.Model.NamedModules().Select(m => new ModuleMode(m.Name, m.Module.Training)).ToList(),
                run.Activations is null ? null : new ActivationRecord(run.Activations.Layers, run.Activations.Snapshots), probes);
            File.WriteAllText(Path.Combine(temporary, RunFile), JsonSerializer.Serialize(record, Json));
            Directory.Move(temporary, directory);
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
            Probes = record.Probes.Select(p => p.Restore(directory)).ToList(),
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

    /// <summary>One probe's measurements, by kind; checkpoints a probe kept go to their own safetensors files.</summary>
    sealed record ProbeRecord(string Kind, IReadOnlyList<int>? Layers = null, List<IcsMeasurement>? Ics = null, List<LandscapeMeasurement>? Landscape = null,
        List<TheoryMeasurement>? Theory = null, double[]? FinalDistances = null, double? Threshold = null, List<SaturationSnapshot>? Saturation = null,
        int[]? CheckpointSteps = null)
    {
        public static ProbeRecord Of(ITrainingCallback probe, string directory)
        {
            switch (probe)
            {
                case IcsProbe ics: return new("ics", Layers: ics.Layers, Ics: ics.Measurements);
                case LandscapeProbe landscape: return new("landscape", Landscape: landscape.Measurements);
                case TheoryProbe theory: return new("theory", Layers: theory.Layers, Theory: theory.Measurements, FinalDistances: theory.FinalDistances);
                case SaturationProbe saturation: return new("saturation", Layers: saturation.Layers, Threshold: saturation.Threshold, Saturation: saturation.Snapshots);
                case LossSurfacePlots.Checkpoints checkpoints:
                    foreach (var (step, state) in checkpoints.States) WriteState(Path.Combine(directory, $"checkpoint-{step}.safetensors"), state);
                    return new("checkpoints", CheckpointSteps: [.. checkpoints.States.Keys]);
                default: throw new NotSupportedException($"a run with a {probe.GetType().Name} cannot be saved: RunArchive does not know its measurements");
            }
        }

        public ITrainingCallback Restore(string directory) => Kind switch
        {
            "ics" => IcsProbe.Restored(Layers!, Ics!),
            "landscape" => LandscapeProbe.Restored(Landscape!),
            "theory" => TheoryProbe.Restored(Layers!, Theory!, FinalDistances),
            "saturation" => SaturationProbe.Restored(Threshold!.Value, Layers!, Saturation!),
            "checkpoints" => LossSurfacePlots.Checkpoints.Restored(CheckpointSteps!.ToDictionary(step => step,
                step => (IReadOnlyList<StateEntry>)ReadState(Path.Combine(directory, $"checkpoint-{step}.safetensors")))),
            _ => throw new DataException($"{directory}: a probe of kind '{Kind}' this version does not know"),
        };
    }
}
