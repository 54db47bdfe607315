namespace BatchNormLab.Nn;

/// <summary>y = x·Wᵀ + b for (N, in) inputs; W is (out, in) as in PyTorch.</summary>
public sealed class Linear : Module
{
    /// <summary>Input features: the size of dimension 1 of the input.</summary>
    public int InFeatures { get; }
    /// <summary>Output features: the size of dimension 1 of the output.</summary>
    public int OutFeatures { get; }
    /// <summary>W, of shape (out, in).</summary>
    public Tensor Weight => GetParameter("weight")!;
    /// <summary>b, of shape (out), or null without bias.</summary>
    public Tensor? Bias => GetParameter("bias");

    /// <summary>Creates the layer with PyTorch's default initialisation, drawn from <paramref name="rng"/> or <see cref="Init.Generator"/>.</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true, Rng? rng = null)
    {
        if (inFeatures < 1 || outFeatures < 1) throw new ArgumentException($"Linear({inFeatures}, {outFeatures}): feature counts must be ≥ 1");
        (InFeatures, OutFeatures) = (inFeatures, outFeatures);
        var weight = RegisterParameter("weight", Tensor.Zeros(outFeatures, inFeatures))!;
        Init.PyTorchDefault(weight, RegisterParameter("bias", bias ? Tensor.Zeros(outFeatures) : null), rng);
    }

    /// <inheritdoc/>
    protected override Tensor Compute(Tensor input)
    {
        if (input.Rank != 2 || input.Size(1) != InFeatures)
            throw new ArgumentException($"Linear({InFeatures}, {OutFeatures}) expects (N, {InFeatures}) input, got shape {Tensor.Format(input.Dims)}");
        var y = Tensor.MatMul(input, Weight, transA: false, transB: true);
        return Bias is null ? y : y + Bias;
    }
}

/// <summary>2-D convolution over (N, C, H, W) with a (out, in, k, k) weight, as PyTorch's nn.Conv2d.</summary>
public sealed class Conv2d : Module
{
    /// <summary>Input channels C_in.</summary>
    public int InChannels { get; }
    /// <summary>Output channels C_out.</summary>
    public int OutChannels { get; }
    /// <summary>Side k of the square kernel.</summary>
    public int KernelSize { get; }
    /// <summary>Step of the kernel in H and W.</summary>
    public int Stride { get; }
    /// <summary>Zero padding added on each side of H and W.</summary>
    public int Padding { get; }
    /// <summary>The kernel, of shape (out, in, k, k).</summary>
    public Tensor Weight => GetParameter("weight")!;
    /// <summary>Per-output-channel bias, or null without bias.</summary>
    public Tensor? Bias => GetParameter("bias");

    /// <summary>Creates the layer with PyTorch's default initialisation, drawn from <paramref name="rng"/> or <see cref="Init.Generator"/>.</summary>
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, bool bias = true, Rng? rng = null)
    {
        if (inChannels < 1 || outChannels < 1 || kernelSize < 1 || stride < 1 || padding < 0)
            throw new ArgumentException($"Conv2d({inChannels}, {outChannels}, kernel {kernelSize}, stride {stride}, padding {padding}): sizes must be ≥ 1, padding ≥ 0");
        (InChannels, OutChannels, KernelSize, Stride, Padding) = (inChannels, outChannels, kernelSize, stride, padding);
        var weight = RegisterParameter("weight", Tensor.Zeros(outChannels, inChannels, kernelSize, kernelSize))!;
        Init.PyTorchDefault(weight, RegisterParameter("bias", bias ? Tensor.Zeros(outChannels) : null), rng);
    }

    /// <inheritdoc/>
    protected override Tensor Compute(Tensor input)
    {
        if (input.Rank != 4 || input.Size(1) != InChannels)
            throw new ArgumentException($"Conv2d({InChannels}, {OutChannels}) expects (N, {InChannels}, H, W) input, got shape {Tensor.Format(input.Dims)}");
        return input.Conv2d(Weight, Bias, Stride, Padding);
    }
}

/// <summary>max(0, x), elementwise.</summary>
public sealed class ReLU : Module
{
    /// <inheritdoc/>
    protected override Tensor Compute(Tensor input) => input.Relu();
}

/// <summary>1/(1 + e^−x), elementwise.</summary>
public sealed class Sigmoid : Module
{
    /// <inheritdoc/>
    protected override Tensor Compute(Tensor input) => input.Sigmoid();
}

/// <summary>tanh(x), elementwise.</summary>
public sealed class Tanh : Module
{
    /// <inheritdoc/>
    protected override Tensor Compute(Tensor input) => input.Tanh();
}

/// <summary>Max pooling over (N, C, H, W) with a square window, as PyTorch's nn.MaxPool2d.</summary>
/// <param name="kernelSize">Side of the window.</param>
/// <param name="stride">Step of the window; null means <paramref name="kernelSize"/>.</param>
/// <param name="padding">Padding on each side, never chosen as the maximum.</param>
public sealed class MaxPool2d(int kernelSize, int? stride = null, int padding = 0) : Module
{
    /// <inheritdoc/>
    protected override Tensor Compute(Tensor input) => input.MaxPool2d(kernelSize, stride, padding);
}

/// <summary>Average pooling over (N, C, H, W) with a square window; zero padding counts in the average (PyTorch's count_include_pad).</summary>
/// <param name="kernelSize">Side of the window.</param>
/// <param name="stride">Step of the window; null means <paramref name="kernelSize"/>.</param>
/// <param name="padding">Zero padding on each side.</param>
public sealed class AvgPool2d(int kernelSize, int? stride = null, int padding = 0) : Module
{
    /// <inheritdoc/>
    protected override Tensor Compute(Tensor input) => input.AvgPool2d(kernelSize, stride, padding);
}

/// <summary>(N, ...) → (N, rest).</summary>
public sealed class Flatten : Module
{
    /// <inheritdoc/>
    protected override Tensor Compute(Tensor input) => input.Flatten();
}

/// <summary>Zeroes each element with probability p in training and scales the rest by 1/(1−p); the identity in eval.</summary>
public sealed class Dropout : Module
{
    readonly Rng? rng;
    /// <summary>Probability of zeroing an element, in [0, 1).</summary>
    public double P { get; }

    /// <summary>Creates the layer; masks are drawn from <paramref name="rng"/> or <see cref="Init.Generator"/>.</summary>
    public Dropout(double p = 0.5, Rng? rng = null)
    {
        if (p < 0 || p >= 1 || double.IsNaN(p)) throw new ArgumentOutOfRangeException(nameof(p), p, "Dropout probability must be in [0, 1)");
        (P, this.rng) = (p, rng);
    }

    /// <inheritdoc/>
    protected override Tensor Compute(Tensor input)
    {
        if (!Training || P == 0) return input;
        var generator = rng ?? Init.Generator;
        var mask = Tensor.ZerosLike(input);
        double keep = 1 / (1 - P);
        var values = new double[input.Length];
        for (int i = 0; i < values.Length; i++) values[i] = generator.NextDouble() < P ? 0 : keep;
        mask.CopyFrom(Tensor.FromArray(values, input.Shape));
        return input * mask;
    }
}

/// <summary>Runs its children in order; they are named "0", "1", … as in PyTorch.</summary>
public sealed class Sequential : Module
{
    readonly List<Module> layers = [];

    /// <summary>Appends <paramref name="modules"/> in order.</summary>
    public Sequential(params Module[] modules)
    {
        foreach (var m in modules) Add(m);
    }

    /// <summary>Appends <paramref name="module"/> as the next child.</summary>
    public void Add(Module module) => layers.Add(RegisterModule(layers.Count.ToString(), module));

    /// <summary>Number of child layers.</summary>
    public int Count => layers.Count;
    /// <summary>The child at position <paramref name="index"/>.</summary>
    public Module this[int index] => layers[index];

    /// <inheritdoc/>
    protected override Tensor Compute(Tensor input)
    {
        var x = input;
        foreach (var layer in layers) x = layer.Forward(x);
        return x;
    }
}
