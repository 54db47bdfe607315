using System.Text.Json.Serialization;
using BatchNormLab.Nn;

namespace BatchNormLab.Models;

/// <summary>
/// Which normalisation a model puts after its linear/conv layers: BatchNorm; BatchNorm followed by
/// the noise of <see cref="NoisyBatchNorm"/>; that noise alone (no BN); an ℓp normalisation
/// (<see cref="LpNorm"/>, p = 1, 2, ∞) in place of BN; or one of the other normalisers:
/// <see cref="Nn.GroupNorm"/>, LayerNorm (for conv layers GroupNorm with one group, normalising each
/// image over C, H, W with per-channel γ, β as in Wu and He 2018; for Linear layers
/// <see cref="Nn.LayerNorm"/> over the features), <see cref="InstanceNorm2d"/> (conv layers only; affine,
/// no running statistics), <see cref="Nn.BatchRenorm"/> or <see cref="Nn.GhostBatchNorm"/>.
/// </summary>
public enum Norm
{
    /// <summary>No normalisation layers.</summary>
    None,
    /// <summary>BatchNorm1d/2d, with <see cref="ModelOptions.NormEps"/> and <see cref="ModelOptions.NormAffine"/>.</summary>
    BatchNorm,
    /// <summary>BatchNorm followed by a <see cref="Nn.NoisyBatchNorm"/> noise layer.</summary>
    NoisyBatchNorm,
    /// <summary>The <see cref="Nn.NoisyBatchNorm"/> noise alone, without BatchNorm.</summary>
    Noise,
    /// <summary>Centred ℓ1 normalisation (<see cref="LpNorm"/>, p = 1).</summary>
    [JsonStringEnumMemberName("l1")] L1,
    /// <summary>Centred ℓ2 normalisation (<see cref="LpNorm"/>, p = 2): BatchNorm's training output, with a running std in place of the running variance.</summary>
    [JsonStringEnumMemberName("l2")] L2,
    /// <summary>Centred ℓ∞ normalisation (<see cref="LpNorm"/>, p = ∞).</summary>
    [JsonStringEnumMemberName("linf")] LInf,
    /// <summary>Uncentred ℓ1 normalisation: only the scale is normalised.</summary>
    [JsonStringEnumMemberName("l1-uncentred")] L1Uncentred,
    /// <summary>Uncentred ℓ2 normalisation: only the scale is normalised.</summary>
    [JsonStringEnumMemberName("l2-uncentred")] L2Uncentred,
    /// <summary>Uncentred ℓ∞ normalisation: only the scale is normalised.</summary>
    [JsonStringEnumMemberName("linf-uncentred")] LInfUncentred,
    /// <summary>GroupNorm with at most <see cref="ModelOptions.Groups"/> groups per layer.</summary>
    GroupNorm,
    /// <summary>LayerNorm: GroupNorm with one group on conv layers, <see cref="Nn.LayerNorm"/> on Linear layers.</summary>
    LayerNorm,
    /// <summary>Affine InstanceNorm2d without running statistics; conv layers only.</summary>
    InstanceNorm,
    /// <summary>Batch Renormalization with the <see cref="ModelOptions.Renorm"/> schedule.</summary>
    BatchRenorm,
    /// <summary>Ghost BatchNorm with virtual batches of <see cref="ModelOptions.GhostBatchSize"/>.</summary>
    GhostBatchNorm,
}

/// <summary>Where the normalisation goes relative to the activation: BN papers use before (conv → BN → ReLU).</summary>
public enum NormPlacement
{
    /// <summary>Layer → normalisation → activation (the default).</summary>
    BeforeActivation,
    /// <summary>Layer → activation → normalisation.</summary>
    AfterActivation
}

/// <summary>The nonlinearity of every hidden block.</summary>
public enum Activation
{
    /// <summary>max(0, x).</summary>
    [JsonStringEnumMemberName("relu")] ReLU,
    /// <summary>1/(1 + e^−x).</summary>
    Sigmoid,
    /// <summary>tanh(x).</summary>
    Tanh
}

/// <summary>How weights start: PyTorch's defaults, Glorot/Xavier uniform (biases zero), or Kaiming normal (biases zero).</summary>
public enum InitScheme
{
    /// <summary>PyTorch's Linear/Conv2d defaults: weights and biases U(−1/√fan_in, 1/√fan_in).</summary>
    [JsonStringEnumMemberName("pytorch")] PyTorch,
    /// <summary>Xavier/Glorot uniform weights, zero biases.</summary>
    Glorot,
    /// <summary>Kaiming normal weights, N(0, 2/fan_in), zero biases.</summary>
    Kaiming
}

/// <summary>The choices every model takes.</summary>
/// <param name="Norm">The normalisation after each linear/conv layer (default BatchNorm).</param>
/// <param name="Placement">The normalisation's place relative to the activation (default before).</param>
/// <param name="Activation">The hidden nonlinearity (default ReLU).</param>
/// <param name="Init">The weight initialisation (default PyTorch's).</param>
public sealed record ModelOptions(
    Norm Norm = Norm.BatchNorm,
    NormPlacement Placement = NormPlacement.BeforeActivation,
    Activation Activation = Activation.ReLU,
    InitScheme Init = InitScheme.PyTorch)
{
    /// <summary>The noise of <see cref="Norm.NoisyBatchNorm"/> and <see cref="Norm.Noise"/> (the paper's by default).</summary>
    public NoisyBatchNormOptions? Noise { get; init; }

    /// <summary>Whether BatchNorm layers have their own scale γ and shift β (PyTorch's affine); false leaves them out (γ = 1, β = 0 fixed).</summary>
    public bool NormAffine { get; init; } = true;

    /// <summary>
    /// The ε of BatchNorm layers' √(σ² + ε); null keeps PyTorch's 1e-5. Scaling the weights feeding a BN
    /// by a is, exactly, dividing this ε by a², which is how scale invariance is checked to rounding.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? NormEps { get; init; }

    /// <summary>
    /// <see cref="Norm.GroupNorm"/>: at most this many groups. Each layer of C channels takes the largest
    /// divisor of C not above it (C = 8 → 8, 48 → 24, 256 → 32), and on Linear layers also not above
    /// C/2, so that every group normalises at least two values.
    /// </summary>
    public int Groups { get; init; } = 32;

    /// <summary><see cref="Norm.GhostBatchNorm"/>: the virtual batch size (at least 2).</summary>
    public int GhostBatchSize { get; init; } = 32;

    /// <summary><see cref="Norm.BatchRenorm"/>: the r_max, d_max schedule (the paper's by default).</summary>
    public BatchRenormSchedule? Renorm { get; init; }

    /// <summary>Whether the normalisation uses batch statistics in training (then a batch of one cannot train).</summary>
    internal bool UsesBatchStatistics => Norm is Norm.BatchNorm or Norm.NoisyBatchNorm or Norm.L1 or Norm.L2 or Norm.LInf or Norm.L1Uncentred or Norm.L2Uncentred or Norm.LInfUncentred or Norm.BatchRenorm or Norm.GhostBatchNorm;

    /// <summary>Throws an ArgumentException naming the option that is out of range.</summary>
    public void Validate()
    {
        if (Groups < 1) throw new ArgumentOutOfRangeException("groups", Groups, "the number of GroupNorm groups must be ≥ 1");
        if (NormEps is double eps && !(eps > 0)) throw new ArgumentOutOfRangeException("norm-eps", eps, "BatchNorm's ε must be > 0");
        if (GhostBatchSize < 2) throw new ArgumentOutOfRangeException("ghost-batch-size", GhostBatchSize, "the ghost (virtual) batch size must be ≥ 2");
        Renorm?.Validate();
    }

    /// <summary>The groups of a <see cref="Norm.GroupNorm"/> layer over <paramref name="channels"/> channels (see <see cref="Groups"/>).</summary>
    public int GroupCount(int channels, bool spatial)
    {
        int limit = Math.Min(channels, spatial ? Groups : Math.Min(Groups, channels / 2));
        for (int g = limit; g > 1; g--)
            if (channels % g == 0) return g;
        return 1;
    }

    /// <summary>The normalisation layers of one block over <paramref name="features"/> channels (2-D for images), in order; empty for none.</summary>
    internal IEnumerable<Module> NormLayers(int features, bool spatial, Rng rng)
    {
        // A noisy layer gets a generator of its own, seeded from the model's, so its noise is reproducible and checkpointable.
        switch (Norm)
        {
            case Norm.BatchNorm: yield return BatchNorm(features, spatial); break;
            case Norm.NoisyBatchNorm:
                yield return BatchNorm(features, spatial);
                yield return new NoisyBatchNorm(new Rng(rng.NextUInt64()), Noise);
                break;
            case Norm.Noise: yield return new NoisyBatchNorm(new Rng(rng.NextUInt64()), Noise); break;
            case Norm.L1: yield return new LpNorm(features, 1); break;
            case Norm.L2: yield return new LpNorm(features, 2); break;
            case Norm.LInf: yield return new LpNorm(features, double.PositiveInfinity); break;
            case Norm.L1Uncentred: yield return new LpNorm(features, 1, centred: false); break;
            case Norm.L2Uncentred: yield return new LpNorm(features, 2, centred: false); break;
            case Norm.LInfUncentred: yield return new LpNorm(features, double.PositiveInfinity, centred: false); break;
            case Norm.GroupNorm: yield return new Nn.GroupNorm(GroupCount(features, spatial), features); break;
            case Norm.LayerNorm: yield return spatial ? new Nn.GroupNorm(1, features) : new Nn.LayerNorm(features); break;
            case Norm.InstanceNorm:
                if (!spatial) throw new ArgumentException("instance-norm normalises each channel over its own spatial plane; Linear layers have none (use it with vgg or resnet)");
                yield return new InstanceNorm2d(features, affine: true);
                break;
            case Norm.BatchRenorm: yield return spatial ? new BatchRenorm2d(features, schedule: Renorm) : new BatchRenorm1d(features, schedule: Renorm); break;
            case Norm.GhostBatchNorm: yield return spatial ? new GhostBatchNorm2d(features, GhostBatchSize) : new GhostBatchNorm1d(features, GhostBatchSize); break;
        }
    }

    Module BatchNorm(int features, bool spatial)
    {
        double eps = NormEps ?? 1e-5;
        return spatial ? new BatchNorm2d(features, eps, affine: NormAffine) : new BatchNorm1d(features, eps, affine: NormAffine);
    }

    /// <summary>The activation function applied to <paramref name="x"/> (for models that call it in their forward rather than hold a module).</summary>
    internal Tensor Activate(Tensor x) => Activation switch
    {
        Activation.ReLU => x.Relu(),
        Activation.Sigmoid => x.Sigmoid(),
        _ => x.Tanh(),
    };

    /// <summary>[norm] and the activation, in the chosen placement; the activation alone when <paramref name="norm"/> is null.</summary>
    internal Tensor NormActivate(Tensor x, Module? norm) =>
        norm is null ? Activate(x) : Placement == NormPlacement.BeforeActivation ? Activate(norm.Forward(x)) : norm.Forward(Activate(x));

    internal Module MakeActivation() => Activation switch
    {
        Activation.ReLU => new ReLU(),
        Activation.Sigmoid => new Sigmoid(),
        Activation.Tanh => new Tanh(),
        _ => throw new ArgumentOutOfRangeException(nameof(Activation), Activation, null),
    };

    /// <summary>The layer, then its normalisation layers and the activation in the chosen order (no activation when <paramref name="activate"/> is off).</summary>
    internal IEnumerable<Module> Block(Module layer, int features, bool spatial, Rng rng, bool activate = true)
    {
        yield return layer;
        bool before = Placement == NormPlacement.BeforeActivation || !activate;
        if (before) foreach (var m in NormLayers(features, spatial, rng)) yield return m;
        if (activate) yield return MakeActivation();
        if (!before) foreach (var m in NormLayers(features, spatial, rng)) yield return m;
    }

    /// <summary>Re-initialises every Linear and Conv2d weight below <paramref name="model"/> per <see cref="Init"/>; PyTorch's defaults are already in place.</summary>
    internal void Initialise(Module model, Rng rng)
    {
        if (Init == InitScheme.PyTorch) return;
        foreach (var (_, module) in model.NamedModules())
        {
            var (weight, bias) = module switch
            {
                Linear l => (l.Weight, l.Bias),
                Conv2d c => (c.Weight, c.Bias),
                _ => ((Tensor?)null, (Tensor?)null),
            };
            if (weight is null) continue;
            if (Init == InitScheme.Glorot) Nn.Init.XavierUniform(weight, rng: rng);
            else Nn.Init.KaimingNormal(weight, rng: rng);
            bias?.Fill(0);
        }
    }
}
