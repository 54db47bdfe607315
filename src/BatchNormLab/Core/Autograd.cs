namespace BatchNormLab;

/// <summary>
/// How a non-leaf tensor was made: its inputs and the function that maps the gradient of the output
/// to the gradients of the inputs. Backward functions are written with Tensor operations, so when
/// they run with grad mode on they are themselves recorded: that is what makes double backward, and
/// hence exact Hessian-vector products, work.
/// </summary>
internal sealed class Node(string name, Tensor[] inputs, Func<Tensor, Tensor?[]> backward)
{
    public readonly string Name = name;
    public Tensor[] Inputs { get; private set; } = inputs;
    public Func<Tensor, Tensor?[]> Backward { get; private set; } = backward;

    /// <summary>True once a backward pass without retain-graph went through this node and dropped what it held.</summary>
    public bool Released { get; private set; }

    /// <summary>
    /// Drops the inputs and the closure (with the tensors it saved) so their memory can go as soon as
    /// the backward pass has moved on, as PyTorch frees saved tensors unless retain_graph is set.
    /// </summary>
    public void Release()
    {
        Inputs = [];
        Backward = static _ => throw new InvalidOperationException("internal: backward through a released node");
        Released = true;
    }
}

public sealed partial class Tensor
{
    bool requiresGrad;
    internal Node? GradFn;

    /// <summary>Whether gradients flow to this tensor. Settable on leaves (tensors no op has made).</summary>
    public bool RequiresGrad
    {
        get => requiresGrad;
        set
        {
            if (GradFn != null && !value)
                throw new InvalidOperationException("RequiresGrad can only be cleared on a leaf tensor; use Detach() for a non-leaf");
            requiresGrad = value;
        }
    }

    /// <summary>The gradient accumulated by <see cref="Backward()"/> into this leaf; null when none yet.</summary>
    public Tensor? Grad { get; set; }

    /// <summary>True when no recorded operation produced this tensor (PyTorch's is_leaf); only leaves accumulate <see cref="Grad"/>.</summary>
    public bool IsLeaf => GradFn == null;

    /// <summary>Backpropagates from this one-element tensor (seed 1).</summary>
    public void Backward()
    {
        if (Length != 1)
            throw new InvalidOperationException($"Backward() without a gradient needs a one-element output, this one has shape {Format(shape)}; pass gradOutput");
        Backward(OnesLike(this));
    }

    /// <summary>Backpropagates <paramref name="gradOutput"/>; every leaf that requires grad gets it added to <see cref="Grad"/>.</summary>
    public void Backward(Tensor gradOutput) => Backward(gradOutput, retainGraph: false);

    /// <summary>
    /// As <see cref="Backward(Tensor)"/>. Without <paramref name="retainGraph"/> the graph's saved tensors
    /// are freed as the pass goes (a second backward through it throws, as in PyTorch); with it the
    /// graph stays usable.
    /// </summary>
    public void Backward(Tensor gradOutput, bool retainGraph) => Autograd.Backward(this, gradOutput, createGraph: false, retainGraph);

    /// <summary>Records an op's result on the tape when grad mode is on and an input requires grad.</summary>
    internal static Tensor Record(Tensor result, string name, Tensor[] inputs, Func<Tensor, Tensor?[]> backward)
    {
        if (!Autograd.IsEnabled) return result;
        foreach (var input in inputs)
        {
            if (!input.requiresGrad) continue;
            result.requiresGrad = true;
            result.GradFn = new Node(name, inputs, backward);
            break;
        }
        return result;
    }
}

/// <summary>The tape: reverse-mode backward, gradients of chosen inputs, Hessian-vector products, grad mode.</summary>
public static class Autograd
{
    [ThreadStatic] static bool disabled;

    /// <summary>Whether ops are being recorded on this thread.</summary>
    public static bool IsEnabled => !disabled;

    /// <summary>A scope in which nothing is recorded (inference, optimizer steps, measurements).</summary>
    public static IDisposable NoGrad() => new GradMode(enabled: false);

    /// <summary>A scope in which ops are recorded again (e.g. inside a NoGrad scope).</summary>
    public static IDisposable EnableGrad() => new GradMode(enabled: true);

    sealed class GradMode : IDisposable
    {
        readonly bool previous = disabled;
        public GradMode(bool enabled) => disabled = !enabled;
        public void Dispose() => disabled = previous;
    }

    internal static void Backward(Tensor output, Tensor gradOutput, bool createGraph, bool retainGraph)
    {
        CheckSeed(output, gradOutput);
        if (!output.RequiresGrad)
            throw new InvalidOperationException("Backward(): the output does not require grad (no input of its graph has RequiresGrad set, or it was computed under NoGrad)");
        var grads = Propagate(output, gradOutput, createGraph, stopAt: null, release: !createGraph && !retainGraph);
        var leaves = grads.Where(g => g.Key.IsLeaf).ToList();
        // A leaf may keep its gradient tensor without a copy when nothing else can see that storage:
        // not the caller's seed, and not shared with another leaf (Add hands the same g to both sides).
        var storageUses = new Dictionary<Array, int>(ReferenceEqualityComparer.Instance);
        foreach (var (_, grad) in leaves) storageUses[grad.Data] = storageUses.GetValueOrDefault(grad.Data) + 1;
        foreach (var (tensor, grad) in leaves)
        {
            bool owned = !ReferenceEquals(grad.Data, gradOutput.Data) && storageUses[grad.Data] == 1;
            if (tensor.Grad == null) tensor.Grad = createGraph || owned ? grad : grad.Clone();
            else if (createGraph) tensor.Grad = tensor.Grad + grad;
            else tensor.Grad.AddInPlace(grad);
        }
    }

    /// <summary>
    /// d(output)/d(inputs) contracted with <paramref name="gradOutput"/> (seed 1 for a one-element
    /// output), without touching any <see cref="Tensor.Grad"/>. Inputs need not be leaves; the walk
    /// stops at them. An input the output does not depend on gets zeros. With
    /// <paramref name="createGraph"/> the results are themselves differentiable.
    /// </summary>
    public static Tensor[] Grad(Tensor output, IReadOnlyList<Tensor> inputs, Tensor? gradOutput = null, bool createGraph = false)
    {
        gradOutput ??= output.Length == 1 ? Tensor.OnesLike(output)
            : throw new ArgumentException($"Grad: output has shape {Tensor.Format(output.Dims)}; pass gradOutput for a non-scalar output", nameof(gradOutput));
        CheckSeed(output, gradOutput);
        var stopAt = new HashSet<Tensor>(inputs, ReferenceEqualityComparer.Instance);
        var grads = output.RequiresGrad ? Propagate(output, gradOutput, createGraph, stopAt, release: false) : [];
        var result = new Tensor[inputs.Count];
        for (int i = 0; i < result.Length; i++)
        {
            if (grads.TryGetValue(inputs[i], out var g)) result[i] = createGraph ? g : g.Detach();
            else if (ReferenceEquals(inputs[i], output)) result[i] = gradOutput;
            else result[i] = Tensor.ZerosLike(inputs[i]);
        }
        return result;
    }

    /// <summary>
    /// The exact Hessian-vector product H·v of <paramref name="loss"/> with respect to
    /// <paramref name="parameters"/>, by double backward: H·v = ∇_w ⟨∇_w L(w), v⟩. The loss is
    /// evaluated afresh with grad mode on, so batch statistics of BatchNorm in training mode stay
    /// functions of the weights (nothing is detached).
    /// </summary>
    public static Tensor[] HessianVectorProduct(Func<Tensor> loss, IReadOnlyList<Tensor> parameters, IReadOnlyList<Tensor> vector)
    {
        if (parameters.Count != vector.Count)
            throw new ArgumentException($"HessianVectorProduct: {parameters.Count} parameters but {vector.Count} vector parts");
        for (int i = 0; i < parameters.Count; i++)
            if (!parameters[i].SameShape(vector[i]))
                throw new ArgumentException($"HessianVectorProduct: vector part {i} has shape {Tensor.Format(vector[i].Dims)}, parameter {Tensor.Format(parameters[i].Dims)}");
        using (EnableGrad())
        {
            var value = loss();
            var grads = Grad(value, parameters, createGraph: true);
            Tensor? dot = null;
            for (int i = 0; i < grads.Length; i++)
            {
                var term = (grads[i] * vector[i].Detach()).Sum();
                dot = dot is null ? term : dot + term;
            }
            if (dot is null) return [];
            return Grad(dot, parameters);
        }
    }

    /// <summary>
    /// The backward of a fused op expressed through its reference composite: re-evaluates the
    /// composite on the same inputs with recording on and differentiates it, keeping the graph of
    /// that backward when the caller is building one (double backward). Fused ops use it where
    /// their fast backward kernel cannot be differentiated again.
    /// </summary>
    internal static Tensor?[] CompositeBackward(Func<Tensor[], Tensor> composite, Tensor[] inputs, Tensor gradOutput)
    {
        bool graph = IsEnabled;
        Tensor output;
        using (EnableGrad()) output = composite(inputs);
        var wanted = inputs.Where(i => i.RequiresGrad).ToArray();
        var grads = Grad(output, wanted, gradOutput, createGraph: graph);
        var result = new Tensor?[inputs.Length];
        for (int i = 0, j = 0; i < inputs.Length; i++)
            if (inputs[i].RequiresGrad) result[i] = grads[j++];
        return result;
    }

    static void CheckSeed(Tensor output, Tensor gradOutput)
    {
        if (!output.SameShape(gradOutput))
            throw new ArgumentException($"gradOutput has shape {Tensor.Format(gradOutput.Dims)}, the output {Tensor.Format(output.Dims)}");
        if (output.DType != gradOutput.DType)
            throw new ArgumentException($"gradOutput is {gradOutput.DType}, the output {output.DType}");
    }

    /// <summary>
    /// Walks the graph from <paramref name="output"/> in reverse topological order and returns the
    /// gradients of the tensors where the walk ends (leaves and <paramref name="stopAt"/>). A tensor's
    /// gradient is dropped once its node has passed it on, and with <paramref name="release"/> so is the
    /// node's saved state, so memory falls as the pass proceeds instead of peaking at its end.
    /// </summary>
    static Dictionary<Tensor, Tensor> Propagate(Tensor output, Tensor gradOutput, bool createGraph, HashSet<Tensor>? stopAt, bool release)
    {
        var order = TopologicalOrder(output, stopAt);
        var grads = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance) { [output] = gradOutput };
        using var mode = createGraph ? EnableGrad() : NoGrad();
        for (int k = order.Count - 1; k >= 0; k--)
        {
            var tensor = order[k];
            var node = tensor.GradFn!;
            order[k] = null!;
            if (!grads.Remove(tensor, out var grad))
            {
                if (release) node.Release();
                continue;
            }
            var inputGrads = node.Backward(grad);
            var inputs = node.Inputs;
            if (release) node.Release();
            for (int i = 0; i < inputs.Length; i++)
            {
                var input = inputs[i];
                var g = inputGrads[i];
                if (g is null || !input.RequiresGrad) continue;
                if (!g.SameShape(input))
                    throw new InvalidOperationException($"internal: {node.Name} backward gave shape {Tensor.Format(g.Dims)} for an input of shape {Tensor.Format(input.Dims)}");
                grads[input] = grads.TryGetValue(input, out var sum) ? sum + g : g;
            }
        }
        return grads;
    }

    /// <summary>Non-leaf tensors reachable from <paramref name="output"/>, each after all tensors it depends on (iterative DFS: deep nets must not overflow the stack).</summary>
    static List<Tensor> TopologicalOrder(Tensor output, HashSet<Tensor>? stopAt)
    {
        var order = new List<Tensor>();
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Tensor Tensor, int Next)>();
        bool Expands(Tensor t)
        {
            if (t.GradFn is { Released: true })
                throw new InvalidOperationException($"backward through a graph whose saved tensors were already freed by an earlier backward ({t.GradFn.Name}); recompute the forward, or pass retainGraph: true to the first Backward");
            return t.GradFn != null && t.RequiresGrad && (stopAt == null || !stopAt.Contains(t));
        }
        if (!Expands(output)) return order;
        stack.Push((output, 0));
        visited.Add(output);
        while (stack.Count > 0)
        {
            var (tensor, next) = stack.Pop();
            var inputs = tensor.GradFn!.Inputs;
            if (next < inputs.Length)
            {
                stack.Push((tensor, next + 1));
                var input = inputs[next];
                if (Expands(input) && visited.Add(input)) stack.Push((input, 0));
            }
            else order.Add(tensor);
        }
        return order;
    }
}
