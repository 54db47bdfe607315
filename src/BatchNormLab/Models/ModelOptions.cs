using System.Text.Json.Serialization;
using BatchNormLab.Nn;

namespace BatchNormLab.Models;

/// <summary>Which normalisation a model puts after its linear/conv layers.</summary>
public enum Norm { None, BatchNorm }

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
    internal Module MakeActivation() => Activation switch
    {
        Activation.ReLU => new ReLU(),
        Activation.Sigmoid => new Sigmoid(),
        Activation.Tanh => new Tanh(),
        _ => throw new ArgumentOutOfRangeException(nameof(Activation), Activation, null),
    };

    /// <summary>The layer, then normalisation and activation in the chosen order (the activation alone when <paramref name="activate"/> is on and norm is none).</summary>
    internal IEnumerable<Module> Block(Module layer, Func<Module> makeNorm, bool activate = true)
    {
        yield return layer;
        bool norm = Norm == Norm.BatchNorm;
        if (norm && (Placement == NormPlacement.BeforeActivation || !activate)) yield return makeNorm();
        if (activate) yield return MakeActivation();
        if (norm && Placement == NormPlacement.AfterActivation && activate) yield return makeNorm();
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
