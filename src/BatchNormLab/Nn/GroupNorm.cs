namespace BatchNormLab.Nn;

/// <summary>
/// Group normalisation with PyTorch's semantics (nn.GroupNorm; Wu and He 2018): the C channels of
/// an (N, C, ...) input form <see cref="NumGroups"/> groups of C/G consecutive channels, and each
/// sample's group is normalised by its own mean and biased variance over its channels and spatial
/// values; γ and β are per channel. No running statistics: training and eval compute the same.
/// <code>
/// y[n, c, …] = γ_c·(x[n, c, …] − μ[n, g])/√(σ²[n, g] + ε) + β_c     (g = c / (C/G))
/// </code>
/// One group is LayerNorm over (C, H, W) with per-channel γ, β; C groups is InstanceNorm.
/// </summary>
public sealed class GroupNorm : Module
{
    /// <summary>Number of groups G; divides <see cref="NumChannels"/>.</summary>
    public int NumGroups { get; }
    /// <summary>Channel count C expected in dimension 1 of the input.</summary>
    public int NumChannels { get; }
    /// <summary>ε added to each group's variance (PyTorch's eps); positive.</summary>
    public double Eps { get; }
    /// <summary>Whether the layer has per-channel learnable γ and β.</summary>
    public bool Affine { get; }

    /// <summary>γ (ones at start), or null when not affine.</summary>
    public Tensor? Weight => GetParameter("weight");
    /// <summary>β (zeros at start), or null when not affine.</summary>
    public Tensor? Bias => GetParameter("bias");

    /// <summary>Creates the layer with γ = 1 and β = 0; <paramref name="numGroups"/> must divide <paramref name="numChannels"/>.</summary>
    public GroupNorm(int numGroups, int numChannels, double eps = 1e-5, bool affine = true)
    {
        if (numChannels < 1) throw new ArgumentOutOfRangeException(nameof(numChannels), numChannels, "GroupNorm needs at least one channel");
        if (numGroups < 1 || numChannels % numGroups != 0)
            throw new ArgumentOutOfRangeException(nameof(numGroups), numGroups, $"GroupNorm: the number of groups must divide the number of channels ({numChannels})");
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "eps must be positive");
        (NumGroups, NumChannels, Eps, Affine) = (numGroups, numChannels, eps, affine);
        RegisterParameter("weight", affine ? Tensor.Ones(numChannels) : null);
        RegisterParameter("bias", affine ? Tensor.Zeros(numChannels) : null);
    }

    /// <inheritdoc/>
    protected override Tensor Compute(Tensor input)
    {
        if (input.Rank < 2) throw new ArgumentException($"GroupNorm expected (N, C, ...) input of rank ≥ 2 (got shape {Tensor.Format(input.Dims)})");
        if (input.Size(1) != NumChannels)
            throw new ArgumentException($"GroupNorm({NumGroups}, {NumChannels}) got {input.Size(1)} channels in dimension 1 (input shape {Tensor.Format(input.Dims)})");
        return Tensor.GroupNorm(input, NumGroups, Weight, Bias, Eps, out _, out _);
    }
}

/// <summary>
/// Layer normalisation with PyTorch's semantics (nn.LayerNorm; Ba, Kiros and Hinton 2016): each
/// input is normalised over its trailing dimensions <see cref="NormalizedShape"/> (D values) by its
/// own mean and biased variance; γ and β have the shape of those dimensions (one per value).
/// <code>
/// y = γ·(x − μ)/√(σ² + ε) + β     (μ, σ² over the last D values of each input)
/// </code>
/// GroupNorm with one group over a (rows, D) view, with per-value γ, β. No running statistics.
/// </summary>
public sealed class LayerNorm : Module
{
    readonly int[] normalizedShape;
    readonly int size;

    /// <summary>The trailing input dimensions normalised over (PyTorch's normalized_shape).</summary>
    public IReadOnlyList<int> NormalizedShape => normalizedShape;
    /// <summary>ε added to each input's variance (PyTorch's eps); positive.</summary>
    public double Eps { get; }
    /// <summary>Whether the layer has learnable per-value γ and β (PyTorch's elementwise_affine).</summary>
    public bool ElementwiseAffine { get; }

    /// <summary>γ (ones at start, of shape <see cref="NormalizedShape"/>), or null without elementwise affine.</summary>
    public Tensor? Weight => GetParameter("weight");
    /// <summary>β (zeros at start), or null without elementwise affine.</summary>
    public Tensor? Bias => GetParameter("bias");

    /// <summary>LayerNorm over the trailing dimensions <paramref name="normalizedShape"/> (each ≥ 1), with γ = 1 and β = 0.</summary>
    public LayerNorm(int[] normalizedShape, double eps = 1e-5, bool elementwiseAffine = true)
    {
        if (normalizedShape.Length == 0 || normalizedShape.Any(d => d < 1))
            throw new ArgumentOutOfRangeException(nameof(normalizedShape), $"[{string.Join(", ", normalizedShape)}]", "LayerNorm: the normalised shape needs at least one dimension, each ≥ 1");
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "eps must be positive");
        this.normalizedShape = (int[])normalizedShape.Clone();
        size = normalizedShape.Aggregate(1, (a, b) => a * b);
        (Eps, ElementwiseAffine) = (eps, elementwiseAffine);
        RegisterParameter("weight", elementwiseAffine ? Tensor.Ones(this.normalizedShape) : null);
        RegisterParameter("bias", elementwiseAffine ? Tensor.Zeros(this.normalizedShape) : null);
    }

    /// <summary>LayerNorm over the last dimension, of <paramref name="features"/> values.</summary>
    public LayerNorm(int features, double eps = 1e-5, bool elementwiseAffine = true) : this([features], eps, elementwiseAffine) { }

    /// <inheritdoc/>
    protected override Tensor Compute(Tensor input)
    {
        var dims = input.Shape;
        if (dims.Length < normalizedShape.Length || !dims.AsSpan(dims.Length - normalizedShape.Length).SequenceEqual(normalizedShape))
            throw new ArgumentException($"LayerNorm([{string.Join(", ", normalizedShape)}]) expects input whose trailing dimensions are [{string.Join(", ", normalizedShape)}], got shape {Tensor.Format(input.Dims)}");
        var rows = input.Reshape(input.Length / size, size);
        return Tensor.GroupNorm(rows, 1, Weight?.Reshape(size), Bias?.Reshape(size), Eps, out _, out _).Reshape(dims);
    }
}
