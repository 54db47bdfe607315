using System.Text.RegularExpressions;
using BatchNormLab.Nn;

namespace BatchNormLab.Models;

/// <summary>
/// What a model is, in a form that can be written to a run's config and read back to rebuild it:
/// a name (mlp, dln, vgg11/13/16/19, resnet20/56/110 or any resnet{6n+2}, resmlp{depth}; a resnet or
/// resmlp name ending in "-noshort" drops the skip connections) and its options.
/// </summary>
/// <param name="Name">The model's name (see above).</param>
/// <param name="Options">Normalisation, placement, activation and initialisation.</param>
/// <param name="Hidden">MLP hidden widths.</param>
/// <param name="Width">VGG width multiplier; the DLN's and the residual MLP's width in units.</param>
/// <param name="Depth">DLN depth (layers).</param>
public sealed record ModelSpec(string Name, ModelOptions Options, IReadOnlyList<int>? Hidden = null, double Width = 1, int Depth = DeepLinear.DefaultDepth)
{
    /// <summary>The MLP's hidden widths when <see cref="Hidden"/> is null: two layers of 256.</summary>
    public static readonly IReadOnlyList<int> DefaultHidden = [256, 256];

    /// <summary>The standard model names, listed in errors; <see cref="IsKnown"/> also accepts other ResNet and residual-MLP depths.</summary>
    public static readonly string[] Names = ["mlp", "dln", "vgg11", "vgg13", "vgg16", "vgg19", "resnet20", "resnet56", "resnet110", "resnet56-noshort", "resmlp20", "resmlp20-noshort"];

    /// <summary>Builds the model for inputs of shape <paramref name="sample"/> (one example: [C,H,W] or [D]) and <paramref name="outputs"/> classes or targets.</summary>
    public Module Build(IReadOnlyList<int> sample, int outputs, Rng rng)
    {
        int features = sample.Aggregate(1, (a, b) => a * b);
        switch (Name)
        {
            case "mlp":
                return Mlp.Create(features, Hidden ?? DefaultHidden, outputs, Options, rng);
            case "dln":
                int width = (int)Width;
                if (features != width || outputs != width)
                    throw new ArgumentException($"the deep linear network maps {width} inputs to {width} outputs; the data has {features} inputs and {outputs} outputs");
                return DeepLinear.Create(Depth, width, Options, rng);
        }
        var resmlp = Regex.Match(Name, @"^resmlp(\d+)(-noshort)?$");
        if (resmlp.Success) return new ResidualMlp(int.Parse(resmlp.Groups[1].Value), features, (int)Width, outputs, !resmlp.Groups[2].Success, Options, rng);
        var vgg = Regex.Match(Name, @"^vgg(\d+)$");
        var resnet = Regex.Match(Name, @"^resnet(\d+)(-noshort)?$");
        if ((vgg.Success || resnet.Success) && sample.Count != 3)
            throw new ArgumentException($"{Name} needs image inputs [C, H, W], got [{string.Join(", ", sample)}]");
        if (vgg.Success)
        {
            if (sample[1] != sample[2]) throw new ArgumentException($"{Name} needs square images, got {sample[1]}×{sample[2]}");
            return new Vgg(int.Parse(vgg.Groups[1].Value), sample[0], sample[1], outputs, Width, Options, rng);
        }
        if (resnet.Success) return new ResNetCifar(int.Parse(resnet.Groups[1].Value), sample[0], outputs, Options, rng, shortcuts: !resnet.Groups[2].Success);
        throw new ArgumentException($"unknown model '{Name}'; models: {string.Join(", ", Names)}");
    }

    /// <summary>Checks the name without building (for argument validation).</summary>
    public static bool IsKnown(string name) =>
        name is "mlp" or "dln"
        || (Regex.Match(name, @"^vgg(\d+)$") is { Success: true } v && Vgg.Configurations.ContainsKey(int.Parse(v.Groups[1].Value)))
        || (Regex.Match(name, @"^resnet(\d+)(-noshort)?$") is { Success: true } r && int.TryParse(r.Groups[1].Value, out int d) && d >= 8 && (d - 2) % 6 == 0)
        || (Regex.Match(name, @"^resmlp(\d+)(-noshort)?$") is { Success: true } m && int.TryParse(m.Groups[1].Value, out int layers) && layers >= 4 && layers % 2 == 0);
}
