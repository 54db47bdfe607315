namespace BatchNormLab.Nn;

/// <summary>y = x·Wᵀ + b for (N, in) inputs; W is (out, in) as in PyTorch.</summary>
public sealed class Linear : Module
{
    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Tensor Weight => GetParameter("weight")!;
    public Tensor? Bias => GetParameter("bias");

    public Linear(int inFeatures, int outFeatures, bool bias = true, Rng? rng = null)
    {
        if (inFeatures < 1 || outFeatures < 1) throw new ArgumentException($"Linear({inFeatures}, {outFeatures}): feature counts must be ≥ 1");
        (InFeatures, OutFeatures) = (inFeatures, outFeatures);
        var weight = RegisterParameter("weight", Tensor.Zeros(outFeatures, inFeatures))!;
        Init.PyTorchDefault(weight, RegisterParameter("bias", bias ? Tensor.Zeros(outFeatures) : null), rng);
    }

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
    public int InChannels { get; }
    public int OutChannels { get; }
    public int KernelSize { get; }
    public int Stride { get; }
    public int Padding { get; }
    public Tensor Weight => GetParameter("weight")!;
    public Tensor? Bias => GetParameter("bias");

    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, bool bias = true, Rng? rng = null)
    {
        if (inChannels < 1 || outChannels < 1 || kernelSize < 1 || stride < 1 || padding < 0)
            throw new ArgumentException($"Conv2d({inChannels}, {outChannels}, kernel {kernelSize}, stride {stride}, padding {padding}): sizes must be ≥ 1, padding ≥ 0");
        (InChannels, OutChannels, KernelSize, Stride, Padding) = (inChannels, outChannels, kernelSize, stride, padding);
        var weight = RegisterParameter("weight", Tensor.Zeros(outChannels, inChannels, kernelSize, kernelSize))!;
        Init.PyTorchDefault(weight, RegisterParameter("bias", bias ? Tensor.Zeros(outChannels) : null), rng);
    }

    protected override Tensor Compute(Tensor input)
    {
        if (input.Rank != 4 || input.Size(1) != InChannels)
            throw new ArgumentException($"Conv2d({InChannels}, {OutChannels}) expects (N, {InChannels}, H, W) input, got shape {Tensor.Format(input.Dims)}");
        return input.Conv2d(Weight, Bias, Stride, Padding);
    }
}

public sealed class ReLU : Module
{
    protected override Tensor Compute(Tensor input) => input.Relu();
}

public sealed class Sigmoid : Module
{
    protected override Tensor Compute(Tensor input) => input.Sigmoid();
}

public sealed class Tanh : Module
{
    protected override Tensor Compute(Tensor input) => input.Tanh();
}

public sealed class MaxPool2d(int kernelSize, int? stride = null, int padding = 0) : Module
{
    protected override Tensor Compute(Tensor input) => input.MaxPool2d(kernelSize, stride, padding);
}

public sealed class AvgPool2d(int kernelSize, int? stride = null, int padding = 0) : Module
{
    protected override Tensor Compute(Tensor input) => input.AvgPool2d(kernelSize, stride, padding);
}

/// <summary>(N, ...) → (N, rest).</summary>
public sealed class Flatten : Module
{
    protected override Tensor Compute(Tensor input) => input.Flatten();
}

/// <summary>Zeroes each element with probability p in training and scales the rest by 1/(1−p); the identity in eval.</summary>
public sealed class Dropout : Module
{
    readonly Rng? rng;
    public double P { get; }

    public Dropout(double p = 0.5, Rng? rng = null)
    {
        if (p < 0 || p >= 1 || double.IsNaN(p)) throw new ArgumentOutOfRangeException(nameof(p), p, "Dropout probability must be in [0, 1)");
        (P, this.rng) = (p, rng);
    }

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

    public Sequential(params Module[] modules)
    {
        foreach (var m in modules) Add(m);
    }

    public void Add(Module module) => layers.Add(RegisterModule(layers.Count.ToString(), module));

    public int Count => layers.Count;
    public Module this[int index] => layers[index];

    protected override Tensor Compute(Tensor input)
    {
        var x = input;
        foreach (var layer in layers) x = layer.Forward(x);
        return x;
    }
}
