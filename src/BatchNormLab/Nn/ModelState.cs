namespace BatchNormLab.Nn;

/// <summary>
/// A copy of everything a measurement may disturb in a model: the values of its parameters and
/// buffers (BatchNorm running statistics and counters), each parameter's <see cref="Tensor.Grad"/>,
/// and each module's training flag. <see cref="Restore"/> puts the model back exactly.
/// </summary>
public sealed class ModelState
{
    readonly Module model;
    readonly List<StateEntry> values;
    readonly Tensor?[] grads;
    readonly (Module Module, bool Training)[] modes;

    ModelState(Module model)
    {
        this.model = model;
        values = CopyOfStateDict(model);
        grads = model.Parameters().Select(p => p.Grad).ToArray();
        modes = model.NamedModules().Select(m => (m.Module, m.Module.Training)).ToArray();
    }

    /// <summary>The model's state dict with every tensor copied (later training does not change it).</summary>
    public static List<StateEntry> CopyOfStateDict(Module model) => model.StateDict().Select(e => e with { Tensor = e.Tensor?.Clone() }).ToList();

    /// <summary>Copies <paramref name="model"/>'s state now.</summary>
    public static ModelState Capture(Module model) => new(model);

    /// <summary>Puts every value, grad and mode back as captured (may be called more than once).</summary>
    public void Restore()
    {
        model.LoadStateDict(values);
        var parameters = model.Parameters();
        for (int i = 0; i < parameters.Count; i++) parameters[i].Grad = grads[i];
        // Parents before children (NamedModules order), so each module ends with its own flag.
        foreach (var (module, training) in modes) module.Train(training);
    }
}
