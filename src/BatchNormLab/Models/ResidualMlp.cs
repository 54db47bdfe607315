using BatchNormLab.Nn;

namespace BatchNormLab.Models;

/// <summary>
/// The fully connected analogue of ResNet-CIFAR, for comparing skip connections, BN and neither at a
/// cost an image MLP allows: Flatten, a Linear stem to <c>width</c> units [+ BN] → activation, then
/// (depth − 2)/2 blocks x → Linear → [BN] → act → Linear → [BN], plus x when the net has shortcuts,
/// → act, and a Linear head: depth weight layers in all. Without shortcuts it is the same stack of
/// layers with the same initial weights for a given seed (Li et al. 2018's "noshort" nets).
/// Keys: stem, stem_norm, blocks.0.fc1, blocks.0.bn1, blocks.0.fc2, blocks.0.bn2, …, head.
/// </summary>
public sealed class ResidualMlp : Module
{
    readonly ModelOptions options;
    readonly Linear stem, head;
    readonly Module? stemNorm;
    readonly Sequential blocks;

    /// <summary>Builds the network and initialises it from <paramref name="rng"/> per <paramref name="options"/>.</summary>
    /// <param name="depth">Weight layers in all: an even number ≥ 4 (stem, two per block, head).</param>
    /// <param name="inputs">Input features (after flattening).</param>
    /// <param name="width">Units of the stem and every block.</param>
    /// <param name="outputs">Outputs of the Linear head.</param>
    /// <param name="shortcuts">Whether the blocks add their input (false: a "noshort" net).</param>
    /// <param name="options">Normalisation (one layer per slot: not the noisy kinds or instance-norm), placement, activation and initialisation.</param>
    /// <param name="rng">The generator of the initial weights.</param>
    public ResidualMlp(int depth, int inputs, int width, int outputs, bool shortcuts, ModelOptions options, Rng rng)
    {
        if (depth < 4 || depth % 2 != 0) throw new ArgumentException($"a residual MLP's depth counts its weight layers, 2 per block plus stem and head: an even number ≥ 4, got {depth}");
        if (inputs < 1 || width < 1 || outputs < 1) throw new ArgumentException($"residual MLP widths must be ≥ 1 (inputs {inputs}, width {width}, outputs {outputs})");
        if (options.Norm is Models.Norm.NoisyBatchNorm or Models.Norm.Noise or Models.Norm.InstanceNorm)
            throw new ArgumentException($"a residual MLP takes one norm layer per slot over features (none, batch-norm, l1, l2, linf, group-norm, layer-norm, batch-renorm or ghost-batch-norm), not {options.Norm}");
        this.options = options;
        stem = RegisterModule("stem", new Linear(inputs, width, rng: rng));
        stemNorm = NormLayer(options, width, rng) is { } n ? RegisterModule("stem_norm", n) : null;
        blocks = RegisterModule("blocks", new Sequential());
        for (int b = 0; b < (depth - 2) / 2; b++) blocks.Add(new Block(width, shortcuts, options, rng));
        head = RegisterModule("head", new Linear(width, outputs, rng: rng));
        options.Initialise(this, rng);
    }

    /// <inheritdoc/>
    protected override Tensor Compute(Tensor input)
    {
        var x = options.NormActivate(stem.Forward(input.Flatten()), stemNorm);
        return head.Forward(blocks.Forward(x));
    }

    static Module? NormLayer(ModelOptions options, int features, Rng rng) => options.NormLayers(features, spatial: false, rng).SingleOrDefault();

    /// <summary>x → Linear → [BN] → act → Linear → [BN], plus x with shortcuts, → act.</summary>
    sealed class Block : Module
    {
        readonly ModelOptions options;
        readonly bool shortcut;
        readonly Linear fc1, fc2;
        readonly Module? bn1, bn2;

        public Block(int width, bool shortcut, ModelOptions options, Rng rng)
        {
            (this.options, this.shortcut) = (options, shortcut);
            fc1 = RegisterModule("fc1", new Linear(width, width, rng: rng));
            bn1 = NormLayer(options, width, rng) is { } n1 ? RegisterModule("bn1", n1) : null;
            fc2 = RegisterModule("fc2", new Linear(width, width, rng: rng));
            bn2 = NormLayer(options, width, rng) is { } n2 ? RegisterModule("bn2", n2) : null;
        }

        protected override Tensor Compute(Tensor input)
        {
            var x = fc2.Forward(options.NormActivate(fc1.Forward(input), bn1));
            if (bn2 is not null) x = bn2.Forward(x);
            if (shortcut) x += input;
            return options.Activate(x);
        }
    }
}
