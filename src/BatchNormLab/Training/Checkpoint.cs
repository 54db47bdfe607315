using System.Globalization;
using BatchNormLab.Data;
using BatchNormLab.IO;
using BatchNormLab.Nn;

namespace BatchNormLab.Training;

/// <summary>
/// A run's saved state, in two safetensors files written atomically:
/// <c>model.safetensors</c>, the model's state dict under PyTorch's key names (load it with
/// safetensors.torch.load_file + load_state_dict(strict=True)), and <c>checkpoint.safetensors</c>,
/// everything a resumed run needs: the same tensors under "model.", the SGD momentum buffers under
/// "optimizer.momentum.", and in the metadata the step, the first loss, the config and the state of
/// every noisy layer's generator ("rng." + module path). The data order and augmentation are
/// functions of (seed, step), so they need no generator state.
/// </summary>
public static class Checkpoint
{
    /// <summary>File name of the PyTorch-loadable model state dict.</summary>
    public const string ModelFile = "model.safetensors";
    /// <summary>File name of the full resumable state (model, optimizer, step, config, generators).</summary>
    public const string StateFile = "checkpoint.safetensors";
    const string Format = "bnlab-checkpoint-1";

    /// <summary>Writes <see cref="ModelFile"/> and <see cref="StateFile"/> for the trainer's current state into <paramref name="directory"/>, each atomically.</summary>
    public static void Save(string directory, Trainer trainer)
    {
        var (tensors, metadata) = State(trainer);
        var model = tensors.Where(e => e.Name.StartsWith("model.", StringComparison.Ordinal)).Select(e => e with { Name = e.Name["model.".Length..] });
        Safetensors.Write(Path.Combine(directory, ModelFile), model, metadata);
        Safetensors.Write(Path.Combine(directory, StateFile), tensors, metadata);
    }

    /// <summary>
    /// What <see cref="StateFile"/> holds for the trainer's current state: the model's state dict under "model.", the momentum
    /// buffers under "optimizer.momentum.", and the metadata (format, step, first loss, config, generators). A caller may add
    /// tensors and metadata of its own under other names (<see cref="FromState"/> ignores them when told).
    /// </summary>
    public static (List<NamedTensor> Tensors, Dictionary<string, string> Metadata) State(Trainer trainer)
    {
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["step"] = trainer.Step.ToString(CultureInfo.InvariantCulture),
            ["first_loss"] = trainer.FirstLoss.ToString("R", CultureInfo.InvariantCulture),
            ["config"] = trainer.Config.ToJson(),
        };
        foreach (var (path, noisy) in NoisyLayers(trainer.Model))
            metadata[RngPrefix + path] = string.Join(',', noisy.Generator.GetState());
        var tensors = trainer.Model.StateDict().Select(e => new NamedTensor("model." + e.Name, e.Tensor, e.Int64)).ToList();
        var names = trainer.Model.NamedParameters().Select(p => p.Name).ToList();
        tensors.AddRange(trainer.Optimizer.MomentumBuffers
            .Select((b, i) => (b, i)).Where(x => x.b is not null)
            .Select(x => new NamedTensor("optimizer.momentum." + names[x.i], x.b)));
        return (tensors, metadata);
    }

    /// <summary>What a checkpoint file holds.</summary>
    /// <param name="Config">The run's config.</param>
    /// <param name="Step">Training steps completed when it was saved.</param>
    /// <param name="FirstLoss">The loss of the run's first step (the divergence reference).</param>
    /// <param name="Model">The model's state dict.</param>
    /// <param name="Momentum">SGD momentum buffers by parameter name; empty when read from <see cref="ModelFile"/>.</param>
    public sealed record Contents(TrainConfig Config, int Step, double FirstLoss, List<StateEntry> Model, Dictionary<string, Tensor> Momentum)
    {
        /// <summary>Generator states of the noisy layers, by module path.</summary>
        public Dictionary<string, ulong[]> Generators { get; init; } = [];
    }

    const string RngPrefix = "rng.";

    static IEnumerable<(string Path, NoisyBatchNorm Layer)> NoisyLayers(Module model) =>
        model.NamedModules().Where(m => m.Module is NoisyBatchNorm).Select(m => (m.Name, (NoisyBatchNorm)m.Module));

    /// <summary>Reads <c>checkpoint.safetensors</c> or <c>model.safetensors</c> (no momentum), or the one in a run directory.</summary>
    public static Contents Read(string path)
    {
        if (Directory.Exists(path))
        {
            string state = Path.Combine(path, StateFile), weights = Path.Combine(path, ModelFile);
            path = File.Exists(state) ? state : File.Exists(weights) ? weights : throw new DataException($"{path}: no {StateFile} or {ModelFile} in this directory");
        }
        var (entries, metadata) = Safetensors.Read(path);
        return FromState(entries, metadata, path, otherEntries: false);
    }

    /// <summary>
    /// The contents of a checkpoint's tensors and metadata (<see cref="State"/>'s, or <see cref="ModelFile"/>'s without the
    /// "model." prefix); <paramref name="path"/> names their file in errors. With <paramref name="otherEntries"/>, tensors under
    /// other names are a caller's own and skipped; without, they are an error.
    /// </summary>
    public static Contents FromState(IReadOnlyList<NamedTensor> entries, IReadOnlyDictionary<string, string> metadata, string path, bool otherEntries)
    {
        if (!metadata.TryGetValue("format", out var format) || format != Format)
            throw new DataException($"{path}: not a BatchNormLab checkpoint (metadata format is '{format ?? "missing"}', expected '{Format}')");
        if (!int.TryParse(metadata.GetValueOrDefault("step"), CultureInfo.InvariantCulture, out int step) ||
            !double.TryParse(metadata.GetValueOrDefault("first_loss"), CultureInfo.InvariantCulture, out double firstLoss) ||
            !metadata.TryGetValue("config", out var configJson))
            throw new DataException($"{path}: checkpoint metadata lacks step, first_loss or config");
        TrainConfig config;
        try { config = TrainConfig.FromJson(configJson, path); }
        catch (System.Text.Json.JsonException e) { throw new DataException($"{path}: the config in the checkpoint cannot be read ({e.Message})"); }
        bool prefixed = entries.Any(e => e.Name.StartsWith("model.", StringComparison.Ordinal));
        var model = new List<StateEntry>();
        var momentum = new Dictionary<string, Tensor>();
        foreach (var e in entries)
        {
            if (e.Name.StartsWith("optimizer.momentum.", StringComparison.Ordinal)) momentum[e.Name["optimizer.momentum.".Length..]] = e.Tensor!;
            else if (!prefixed) model.Add(new StateEntry(e.Name, e.Tensor, e.Int64));
            else if (e.Name.StartsWith("model.", StringComparison.Ordinal)) model.Add(new StateEntry(e.Name["model.".Length..], e.Tensor, e.Int64));
            else if (!otherEntries) throw new DataException($"{path}: unexpected entry '{e.Name}'");
        }
        var generators = new Dictionary<string, ulong[]>();
        foreach (var (key, value) in metadata.Where(m => m.Key.StartsWith(RngPrefix, StringComparison.Ordinal)))
        {
            var words = value.Split(',');
            var state = new ulong[words.Length];
            if (words.Length != 4 || words.Select((w, i) => ulong.TryParse(w, CultureInfo.InvariantCulture, out state[i])).Any(ok => !ok))
                throw new DataException($"{path}: metadata '{key}' is not a generator state (four unsigned integers)");
            generators[key[RngPrefix.Length..]] = state;
        }
        return new Contents(config, step, firstLoss, model, momentum) { Generators = generators };
    }

    /// <summary>Puts a checkpoint's weights, buffers and momentum into a trainer built from the same config.</summary>
    public static void Restore(Trainer trainer, Contents contents, string source)
    {
        // Checked before anything is loaded: a checkpoint that does not fit leaves the trainer as it was, as far as we can tell.
        if (NoisyLayers(trainer.Model).FirstOrDefault(l => !contents.Generators.ContainsKey(l.Path)) is { Path: { } missing })
            throw new DataException($"{source}: no generator state for the noisy layer '{missing}'");
        try { trainer.Model.LoadStateDict(contents.Model); }
        catch (ArgumentException e) { throw new DataException($"{source}: does not fit the model: {e.Message}"); }
        var names = trainer.Model.NamedParameters().Select(p => p.Name).ToList();
        trainer.Optimizer.LoadMomentumBuffers(names.Select(n => contents.Momentum.GetValueOrDefault(n)).ToList());
        foreach (var (path, noisy) in NoisyLayers(trainer.Model)) noisy.Generator.SetState(contents.Generators[path]);
        trainer.Restore(contents.Step, contents.FirstLoss);
    }
}
