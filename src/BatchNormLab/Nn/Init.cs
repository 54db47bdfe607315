namespace BatchNormLab.Nn;

/// <summary>
/// Weight initialisers. Modules draw from <see cref="Generator"/> (seed it with <see cref="Seed"/>)
/// unless given their own <see cref="Rng"/>, like PyTorch's global generator.
/// </summary>
public static class Init
{
    /// <summary>The shared generator modules draw from when given no <see cref="Rng"/> (seed 0 at start).</summary>
    public static Rng Generator { get; private set; } = new(0);

    /// <summary>Replaces <see cref="Generator"/> with a fresh one seeded by <paramref name="seed"/> (PyTorch's <c>torch.manual_seed</c>).</summary>
    public static void Seed(ulong seed) => Generator = new Rng(seed);

    /// <summary>fan_in and fan_out of a weight: (out, in) for Linear, (out, in, kh, kw) for Conv2d.</summary>
    public static (int FanIn, int FanOut) Fans(Tensor weight)
    {
        if (weight.Rank < 2) throw new ArgumentException($"fans need a weight of rank ≥ 2, got shape {Tensor.Format(weight.Dims)}");
        int receptive = weight.Length / (weight.Size(0) * weight.Size(1));
        return (weight.Size(1) * receptive, weight.Size(0) * receptive);
    }

    /// <summary>Fills <paramref name="t"/> in place with draws from U(<paramref name="low"/>, <paramref name="high"/>), from <paramref name="rng"/> or <see cref="Generator"/>.</summary>
    public static void Uniform(Tensor t, double low, double high, Rng? rng = null)
    {
        rng ??= Generator;
        t.CopyFrom(Tensor.RandomUniform(rng, t.Shape, low, high, DType.Float64));
    }

    /// <summary>Fills <paramref name="t"/> in place with draws from N(<paramref name="mean"/>, <paramref name="std"/>²), from <paramref name="rng"/> or <see cref="Generator"/>.</summary>
    public static void Normal(Tensor t, double mean, double std, Rng? rng = null)
    {
        rng ??= Generator;
        t.CopyFrom(Tensor.RandomNormal(rng, t.Shape, mean, std, DType.Float64));
    }

    /// <summary>PyTorch's default for Linear and Conv2d: weight and bias U(−1/√fan_in, 1/√fan_in) (kaiming_uniform with a = √5).</summary>
    public static void PyTorchDefault(Tensor weight, Tensor? bias, Rng? rng = null)
    {
        double bound = 1 / Math.Sqrt(Fans(weight).FanIn);
        Uniform(weight, -bound, bound, rng);
        if (bias is not null) Uniform(bias, -bound, bound, rng);
    }

    /// <summary>Kaiming/He normal: N(0, 2/fan) for ReLU networks (fan_in by default).</summary>
    public static void KaimingNormal(Tensor weight, bool fanOut = false, Rng? rng = null)
    {
        var (fanIn, fanOutCount) = Fans(weight);
        Normal(weight, 0, Math.Sqrt(2.0 / (fanOut ? fanOutCount : fanIn)), rng);
    }

    /// <summary>Kaiming/He uniform: U(−b, b), b = √(6/fan).</summary>
    public static void KaimingUniform(Tensor weight, bool fanOut = false, Rng? rng = null)
    {
        var (fanIn, fanOutCount) = Fans(weight);
        double bound = Math.Sqrt(6.0 / (fanOut ? fanOutCount : fanIn));
        Uniform(weight, -bound, bound, rng);
    }

    /// <summary>Xavier/Glorot uniform: U(−b, b), b = gain·√(6/(fan_in + fan_out)).</summary>
    public static void XavierUniform(Tensor weight, double gain = 1, Rng? rng = null)
    {
        var (fanIn, fanOut) = Fans(weight);
        double bound = gain * Math.Sqrt(6.0 / (fanIn + fanOut));
        Uniform(weight, -bound, bound, rng);
    }

    /// <summary>Xavier/Glorot normal: N(0, gain²·2/(fan_in + fan_out)).</summary>
    public static void XavierNormal(Tensor weight, double gain = 1, Rng? rng = null)
    {
        var (fanIn, fanOut) = Fans(weight);
        Normal(weight, 0, gain * Math.Sqrt(2.0 / (fanIn + fanOut)), rng);
    }
}
