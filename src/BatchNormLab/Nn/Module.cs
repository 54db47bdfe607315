namespace BatchNormLab.Nn;

/// <summary>One entry of a state dict: a tensor, or an int64 counter such as <c>num_batches_tracked</c>.</summary>
/// <param name="Name">Dotted state-dict key, e.g. <c>features.1.running_mean</c>.</param>
/// <param name="Tensor">The tensor, or null for an int64 entry.</param>
/// <param name="Int64">The counter's value, or null for a tensor entry.</param>
public sealed record StateEntry(string Name, Tensor? Tensor, long? Int64);

/// <summary>
/// A layer or model: named parameters, buffers and children, with PyTorch's state-dict key names
/// (<c>features.0.weight</c>, <c>bn.running_mean</c>, <c>bn.num_batches_tracked</c>), train/eval mode,
/// and forward hooks that can read or replace any module's output.
/// </summary>
public abstract class Module
{
    readonly List<(string Name, Tensor? Tensor)> parameters = [];
    readonly List<(string Name, Tensor? Tensor)> buffers = [];
    readonly List<(string Name, Module Module)> children = [];
    readonly List<Func<Module, Tensor, Tensor, Tensor?>> hooks = [];

    /// <summary>True in training mode (the default), false after <see cref="Eval"/>.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Forward passes under way on this thread: the outermost begins a new unit of work.</summary>
    [ThreadStatic] static int forwardDepth;

    /// <summary>
    /// Runs the module, then its forward hooks in registration order. An outermost forward pass (a model's, not a
    /// layer's inside it) is where the previous pass's intermediates have usually become garbage, so it first lets
    /// the storage pool take them back (<see cref="StoragePool.Reclaim"/>): the next training step, evaluation batch
    /// or Hessian-vector product reuses their memory instead of faulting in fresh pages.
    /// </summary>
    public Tensor Forward(Tensor input)
    {
        if (forwardDepth == 0) StoragePool.Reclaim();
        forwardDepth++;
        try
        {
            var output = Compute(input);
            foreach (var hook in hooks.ToArray()) output = hook(this, input, output) ?? output;
            return output;
        }
        finally
        {
            forwardDepth--;
        }
    }

    /// <summary>What the module computes.</summary>
    protected abstract Tensor Compute(Tensor input);

    /// <summary>
    /// Calls <paramref name="hook"/>(module, input, output) after every forward; a non-null result
    /// replaces the output (a transform inserted after this layer), null keeps it (a probe).
    /// Dispose the result to remove the hook.
    /// </summary>
    public IDisposable RegisterForwardHook(Func<Module, Tensor, Tensor, Tensor?> hook)
    {
        hooks.Add(hook);
        return new Removal(() => hooks.Remove(hook));
    }

    sealed class Removal(Action remove) : IDisposable
    {
        public void Dispose() => remove();
    }

    // ---- registration ----

    /// <summary>Registers a trainable tensor; null declares an absent one (PyTorch's <c>bias=None</c>).</summary>
    protected Tensor? RegisterParameter(string name, Tensor? tensor)
    {
        CheckNewName(name);
        if (tensor is not null) tensor.RequiresGrad = true;
        parameters.Add((name, tensor));
        return tensor;
    }

    /// <summary>Registers a non-trainable tensor kept in the state dict (running statistics); null declares an absent one.</summary>
    protected void RegisterBuffer(string name, Tensor? tensor)
    {
        CheckNewName(name);
        buffers.Add((name, tensor));
    }

    /// <summary>Registers a child module under <paramref name="name"/> (the prefix of its state-dict keys) and returns it.</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckNewName(name);
        children.Add((name, module));
        return module;
    }

    void CheckNewName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.')) throw new ArgumentException($"invalid member name '{name}'");
        if (parameters.Any(p => p.Name == name) || buffers.Any(b => b.Name == name) || children.Any(c => c.Name == name))
            throw new ArgumentException($"'{name}' is already registered on {GetType().Name}");
    }

    /// <summary>The parameter registered as <paramref name="name"/>; null when declared absent.</summary>
    protected Tensor? GetParameter(string name) => parameters.First(p => p.Name == name).Tensor;
    /// <summary>The buffer registered as <paramref name="name"/>; null when declared absent.</summary>
    protected Tensor? GetBuffer(string name) => buffers.First(b => b.Name == name).Tensor;

    /// <summary>Int64 counters kept in the state dict (PyTorch's <c>num_batches_tracked</c>).</summary>
    protected virtual IEnumerable<(string Name, long Value)> Int64Buffers => [];

    /// <summary>Sets an int64 counter from a loaded state dict.</summary>
    protected virtual void SetInt64Buffer(string name, long value) =>
        throw new ArgumentException($"{GetType().Name} has no int64 buffer '{name}'");

    // ---- traversal ----

    /// <summary>The direct children, in registration order.</summary>
    public IReadOnlyList<(string Name, Module Module)> Children => children;

    /// <summary>This module and all below it, with dotted path names ("" for this one).</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (name, child) in children)
            foreach (var item in child.NamedModules(prefix.Length == 0 ? name : $"{prefix}.{name}"))
                yield return item;
    }

    /// <summary>Non-null parameters of this module and all below it, with dotted names (PyTorch's <c>named_parameters()</c>).</summary>
    public IEnumerable<(string Name, Tensor Tensor)> NamedParameters()
    {
        foreach (var (path, module) in NamedModules())
            foreach (var (name, tensor) in module.parameters)
                if (tensor is not null) yield return (Join(path, name), tensor);
    }

    /// <summary>All trainable parameters, in state-dict order.</summary>
    public IReadOnlyList<Tensor> Parameters() => NamedParameters().Select(p => p.Tensor).ToList();

    /// <summary>Non-null tensor buffers of this module and all below it, with dotted names; int64 counters are not included.</summary>
    public IEnumerable<(string Name, Tensor Tensor)> NamedBuffers()
    {
        foreach (var (path, module) in NamedModules())
            foreach (var (name, tensor) in module.buffers)
                if (tensor is not null) yield return (Join(path, name), tensor);
    }

    /// <summary>Parameters, buffers and int64 counters with PyTorch's key names and order (per module: parameters, buffers; then children).</summary>
    public IReadOnlyList<StateEntry> StateDict()
    {
        var entries = new List<StateEntry>();
        foreach (var (path, module) in NamedModules())
        {
            foreach (var (name, tensor) in module.parameters)
                if (tensor is not null) entries.Add(new(Join(path, name), tensor, null));
            foreach (var (name, tensor) in module.buffers)
                if (tensor is not null) entries.Add(new(Join(path, name), tensor, null));
            foreach (var (name, value) in module.Int64Buffers)
                entries.Add(new(Join(path, name), null, value));
        }
        return entries;
    }

    /// <summary>Copies values from a state dict into this module; every key must match, with the same shapes.</summary>
    public void LoadStateDict(IEnumerable<StateEntry> state)
    {
        var own = StateDict().ToDictionary(e => e.Name);
        var seen = new HashSet<string>();
        foreach (var entry in state)
        {
            if (!own.TryGetValue(entry.Name, out var target)) throw new ArgumentException($"unexpected key '{entry.Name}' in state dict");
            seen.Add(entry.Name);
            if (target.Tensor is not null)
            {
                if (entry.Tensor is null || !entry.Tensor.SameShape(target.Tensor))
                    throw new ArgumentException($"'{entry.Name}': expected a tensor of shape {Tensor.Format(target.Tensor.Dims)}, got {(entry.Tensor is null ? "an int64 value" : Tensor.Format(entry.Tensor.Dims))}");
                target.Tensor.CopyFrom(entry.Tensor);
            }
            else
            {
                if (entry.Int64 is not long value) throw new ArgumentException($"'{entry.Name}': expected an int64 value");
                var (path, name) = Split(entry.Name);
                Find(path).SetInt64Buffer(name, value);
            }
        }
        var missing = own.Keys.Where(k => !seen.Contains(k)).ToList();
        if (missing.Count > 0) throw new ArgumentException($"state dict is missing: {string.Join(", ", missing)}");
    }

    Module Find(string path) => NamedModules().First(m => m.Name == path).Module;

    static (string Path, string Name) Split(string key)
    {
        int dot = key.LastIndexOf('.');
        return dot < 0 ? ("", key) : (key[..dot], key[(dot + 1)..]);
    }

    static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    // ---- modes and types ----

    /// <summary>Sets training mode on this module and all below it.</summary>
    public Module Train(bool mode = true)
    {
        foreach (var (_, module) in NamedModules()) module.Training = mode;
        return this;
    }

    /// <summary>Evaluation mode: BatchNorm uses its running statistics, Dropout is the identity.</summary>
    public Module Eval() => Train(false);

    /// <summary>Converts every parameter and buffer to <paramref name="dtype"/> (in place: the module keeps its identity).</summary>
    public Module To(DType dtype)
    {
        foreach (var (_, module) in NamedModules())
        {
            for (int i = 0; i < module.parameters.Count; i++)
            {
                var (name, tensor) = module.parameters[i];
                if (tensor is null || tensor.DType == dtype) continue;
                var converted = tensor.To(dtype);
                converted.RequiresGrad = tensor.RequiresGrad;
                module.parameters[i] = (name, converted);
            }
            for (int i = 0; i < module.buffers.Count; i++)
            {
                var (name, tensor) = module.buffers[i];
                if (tensor is not null && tensor.DType != dtype) module.buffers[i] = (name, tensor.To(dtype));
            }
        }
        return this;
    }

    /// <summary>Clears the gradients of all parameters.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.Grad = null;
    }
}
