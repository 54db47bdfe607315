using System.Text.Json.Serialization;
using BatchNormLab.Nn;

namespace BatchNormLab.Models;

/// <summary>
/// Which normalisation a model puts after its linear/conv layers: BatchNorm; BatchNorm followed by
/// the noise of <see cref="NoisyBatchNorm"/>; that noise alone (no BN); or an ℓp normalisation
/// (<see cref="LpNorm"/>, p = 1, 2, ∞) in place of BN.
/// </summary>
public enum Norm
{
    None,
    BatchNorm,
    NoisyBatchNorm,
    Noise,
    [JsonStringEnumMemberName("l1")] L1,
    [JsonStringEnumMemberName("l2")] L2,
    [JsonStringEnumMemberName("linf")] LInf,
}

/// <summary>Where the normalisation goes relative to the activation: BN papers use before (conv → BN → ReLU).</summary>
public enum NormPlacement { BeforeActivation, AfterActivation }

public enum Activation { [JsonStringEnumMemberName("relu")] ReLU, Sigmoid, Tanh }

/// <summary>How weights start: PyTorch's defaults, Glorot/Xavier uniform (biases zero), or Kaiming normal (biases zero).</summary>
public enum InitScheme { [JsonStringEnumMemberName("pytorch")] PyTorch, Glorot, Kaiming }

/// <summary>The choices every model takes.</summary>
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
        }
    }

    Module BatchNorm(int features, bool spatial) => spatial ? new BatchNorm2d(features, affine: NormAffine) : new BatchNorm1d(features, affine: NormAffine);

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
