using BatchNormLab.Nn;

namespace BatchNormLab.Models;

/// <summary>
/// Multi-layer perceptron: Flatten, then per hidden width Linear → [BN] → activation, then a Linear
/// head. A plain Sequential, so the state-dict keys are those of the same nn.Sequential in PyTorch
/// ("1.weight", "2.running_mean", …).
/// </summary>
public static class Mlp
{
    /// <summary>Builds the MLP from <paramref name="inputs"/> (flattened) features through one block per <paramref name="hidden"/> width to <paramref name="outputs"/>, initialised per <paramref name="options"/> from <paramref name="rng"/>.</summary>
    public static Sequential Create(int inputs, IReadOnlyList<int> hidden, int outputs, ModelOptions options, Rng rng)
    {
        if (inputs < 1 || outputs < 1 || hidden.Any(w => w < 1))
            throw new ArgumentException($"MLP widths must be ≥ 1 (inputs {inputs}, hidden [{string.Join(", ", hidden)}], outputs {outputs})");
        var model = new Sequential(new Flatten());
        int width = inputs;
        foreach (int h in hidden)
        {
            foreach (var m in options.Block(new Linear(width, h, rng: rng), h, spatial: false, rng)) model.Add(m);
            width = h;
        }
        model.Add(new Linear(width, outputs, rng: rng));
        options.Initialise(model, rng);
        return model;
    }
}

/// <summary>
/// The deep linear network of Santurkar et al. 2018 (Figs. 3, 4): <c>depth</c> bias-free Linear(width, width) layers, no
/// activation, optionally BN after each but the last; it computes W_depth·…·W_1·x (plus BN's effect).
/// </summary>
public static class DeepLinear
{
    /// <summary>Default number of Linear layers: 25.</summary>
    public const int DefaultDepth = 25;
    /// <summary>Default width: 10 units, which are also the input and output sizes.</summary>
    public const int DefaultWidth = 10;

    /// <summary>Builds <paramref name="depth"/> bias-free Linear(<paramref name="width"/>, <paramref name="width"/>) layers, each but the last followed by the options' normalisation, initialised from <paramref name="rng"/>.</summary>
    public static Sequential Create(int depth, int width, ModelOptions options, Rng rng)
    {
        if (depth < 1 || width < 1) throw new ArgumentException($"deep linear network needs depth and width ≥ 1 (got {depth}, {width})");
        var model = new Sequential();
        for (int i = 0; i < depth; i++)
        {
            var layer = new Linear(width, width, bias: false, rng: rng);
            if (i == depth - 1) model.Add(layer);
            else foreach (var m in options.Block(layer, width, spatial: false, rng, activate: false)) model.Add(m);
        }
        options.Initialise(model, rng);
        return model;
    }
}
