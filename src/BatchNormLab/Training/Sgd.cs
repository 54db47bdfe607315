using BatchNormLab.Kernels;

namespace BatchNormLab.Training;

/// <summary>
/// Stochastic gradient descent with PyTorch's torch.optim.SGD semantics:
/// <code>
/// g ← ∇ + λ·w                               (weight decay λ)
/// b ← g on the first step, else μ·b + (1−τ)·g   (momentum μ, dampening τ)
/// g ← g + μ·b (Nesterov)  or  g ← b
/// w ← w − η·g
/// </code>
/// The momentum buffers are the optimizer's state, saved with checkpoints.
/// </summary>
public sealed class Sgd
{
    readonly IReadOnlyList<Tensor> parameters;
    readonly Tensor?[] momentumBuffers;

    /// <summary>η; settable, so a schedule can change it between steps.</summary>
    public double LearningRate { get; set; }
    /// <summary>μ (0: no momentum buffers).</summary>
    public double Momentum { get; }
    /// <summary>τ, the share of the gradient held back from the momentum buffer (PyTorch's dampening, default 0).</summary>
    public double Dampening { get; }
    /// <summary>λ, the L2 penalty added to the gradient as λ·w.</summary>
    public double WeightDecay { get; }
    /// <summary>Whether the step uses Nesterov momentum (needs μ &gt; 0 and zero dampening).</summary>
    public bool Nesterov { get; }

    /// <summary>An optimizer over <paramref name="parameters"/>, updated in place by <see cref="Step"/>.</summary>
    public Sgd(IReadOnlyList<Tensor> parameters, double learningRate, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
    {
        if (!(learningRate >= 0) || double.IsInfinity(learningRate)) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "learning rate must be a finite number ≥ 0");
        if (!(momentum >= 0)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be ≥ 0");
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "weight decay must be ≥ 0");
        if (nesterov && (momentum <= 0 || dampening != 0)) throw new ArgumentException("Nesterov momentum needs momentum > 0 and zero dampening");
        this.parameters = parameters;
        momentumBuffers = new Tensor?[parameters.Count];
        (LearningRate, Momentum, Dampening, WeightDecay, Nesterov) = (learningRate, momentum, dampening, weightDecay, nesterov);
    }

    /// <summary>The tensors this optimizer updates, in the order of <see cref="MomentumBuffers"/>.</summary>
    public IReadOnlyList<Tensor> Parameters => parameters;

    /// <summary>The momentum buffer of each parameter (null before its first step or without momentum).</summary>
    public IReadOnlyList<Tensor?> MomentumBuffers => momentumBuffers;

    /// <summary>Restores momentum buffers saved from <see cref="MomentumBuffers"/>.</summary>
    public void LoadMomentumBuffers(IReadOnlyList<Tensor?> buffers)
    {
        if (buffers.Count != parameters.Count) throw new ArgumentException($"optimizer state has {buffers.Count} momentum buffers, the model {parameters.Count} parameters");
        for (int i = 0; i < buffers.Count; i++)
        {
            if (buffers[i] is not { } b) { momentumBuffers[i] = null; continue; }
            if (!b.SameShape(parameters[i])) throw new ArgumentException($"momentum buffer {i} has shape {Tensor.Format(b.Dims)}, its parameter {Tensor.Format(parameters[i].Dims)}");
            momentumBuffers[i] = b.To(parameters[i].DType).Clone();
        }
    }

    /// <summary>One update of every parameter that has a gradient.</summary>
    public void Step()
    {
        for (int i = 0; i < parameters.Count; i++)
        {
            var w = parameters[i];
            if (w.Grad is not { } grad) continue;
            if (w.DType == DType.Float32) Update(w.FloatSpan, grad.FloatSpan, ref momentumBuffers[i], w);
            else Update(w.DoubleSpan, grad.DoubleSpan, ref momentumBuffers[i], w);
        }
    }

    void Update<T>(Span<T> w, ReadOnlySpan<T> grad, ref Tensor? buffer, Tensor parameter) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var settings = new SgdSettings(LearningRate, Momentum, Dampening, WeightDecay, Nesterov);
        bool first = buffer is null;
        if (Momentum != 0) buffer ??= Tensor.ZerosLike(parameter);
        SgdKernels.Step(w, grad, Momentum == 0 ? Span<T>.Empty : buffer!.Span<T>(), settings, first);
    }
}
