using BatchNormLab.Nn;

namespace BatchNormLab.Models;

/// <summary>
/// ResNet for CIFAR (He et al. 2016, §4.2): depth 6n+2; a 3×3 conv to 16 channels, three stages of
/// n basic blocks at 16, 32, 64 channels (the first block of stages 2 and 3 halves the plane with
/// stride 2), global average pooling and a Linear head. Shortcuts that change shape are a 1×1
/// strided conv [+ BN] (option B). Without shortcuts (Li et al. 2018's "noshort" nets) every block is
/// its two convs alone, the projections dropped too. Keys follow the common PyTorch port: conv1, bn1,
/// layer1.0.conv1, layer1.0.bn1, …, layer2.0.shortcut.0, linear.
/// </summary>
public sealed class ResNetCifar : Module
{
    readonly ModelOptions options;
    readonly Conv2d conv1;
    readonly Module? bn1;
    readonly Sequential[] stages = new Sequential[3];
    readonly Linear head;

    /// <summary>Builds the network and initialises it from <paramref name="rng"/> per <paramref name="options"/>.</summary>
    /// <param name="depth">6n+2 with n ≥ 1: 20, 56, 110, ….</param>
    /// <param name="inChannels">Channels of the input images.</param>
    /// <param name="classes">Outputs of the Linear head.</param>
    /// <param name="options">Normalisation (one layer per slot: not the noisy kinds), placement, activation and initialisation.</param>
    /// <param name="rng">The generator of the initial weights and of any layer seeds.</param>
    /// <param name="shortcuts">False drops every skip connection and projection (a "noshort" net).</param>
    public ResNetCifar(int depth, int inChannels, int classes, ModelOptions options, Rng rng, bool shortcuts = true)
    {
        if (depth < 8 || (depth - 2) % 6 != 0)
            throw new ArgumentException($"ResNet-CIFAR depth must be 6n+2 with n ≥ 1 (20, 56, 110, …), got {depth}");
        if (options.Norm is Norm.NoisyBatchNorm or Norm.Noise)
            throw new ArgumentException($"ResNet-CIFAR takes one norm layer per slot (none, batch-norm, l1, l2, linf, group-norm, layer-norm, instance-norm, batch-renorm or ghost-batch-norm), not {options.Norm}");
        int blocks = (depth - 2) / 6;
        this.options = options;
        conv1 = RegisterModule("conv1", new Conv2d(inChannels, 16, 3, padding: 1, bias: false, rng: rng));
        bn1 = options.NormLayers(16, spatial: true, rng).SingleOrDefault() is { } norm ? RegisterModule("bn1", norm) : null;
        int channels = 16;
        for (int s = 0; s < 3; s++)
        {
            int width = 16 << s;
            stages[s] = RegisterModule($"layer{s + 1}", new Sequential());
            for (int b = 0; b < blocks; b++)
            {
                stages[s].Add(new BasicBlock(channels, width, b == 0 && s > 0 ? 2 : 1, shortcuts, options, rng));
                channels = width;
            }
        }
        head = RegisterModule("linear", new Linear(channels, classes, rng: rng));
        options.Initialise(this, rng);
    }

    /// <summary>The residual blocks in forward order (3n of them): where depth-wise probes read activations.</summary>
    public IReadOnlyList<Module> Blocks => stages.SelectMany(s => Enumerable.Range(0, s.Count).Select(i => s[i])).ToList();

    /// <inheritdoc/>
    protected override Tensor Compute(Tensor input)
    {
        var x = options.NormActivate(conv1.Forward(input), bn1);
        foreach (var stage in stages) x = stage.Forward(x);
        return head.Forward(x.AvgPool2d(x.Size(2)).Flatten());
    }

    /// <summary>x → conv3×3 → [BN] → act → conv3×3 → [BN], plus the shortcut (when the net has them), → act.</summary>
    sealed class BasicBlock : Module
    {
        readonly ModelOptions options;
        readonly bool shortcuts;
        readonly Conv2d conv1, conv2;
        readonly Module? bn1, bn2;
        readonly Sequential? shortcut;

        public BasicBlock(int inChannels, int outChannels, int stride, bool shortcuts, ModelOptions options, Rng rng)
        {
            (this.options, this.shortcuts) = (options, shortcuts);
            conv1 = RegisterModule("conv1", new Conv2d(inChannels, outChannels, 3, stride, 1, bias: false, rng: rng));
            bn1 = options.NormLayers(outChannels, spatial: true, rng).SingleOrDefault() is { } norm1 ? RegisterModule("bn1", norm1) : null;
            conv2 = RegisterModule("conv2", new Conv2d(outChannels, outChannels, 3, 1, 1, bias: false, rng: rng));
            bn2 = options.NormLayers(outChannels, spatial: true, rng).SingleOrDefault() is { } norm2 ? RegisterModule("bn2", norm2) : null;
            if (shortcuts && (stride != 1 || inChannels != outChannels))
            {
                shortcut = RegisterModule("shortcut", new Sequential(new Conv2d(inChannels, outChannels, 1, stride, bias: false, rng: rng)));
                foreach (var m in options.NormLayers(outChannels, spatial: true, rng)) shortcut.Add(m);
            }
        }

        protected override Tensor Compute(Tensor input)
        {
            var x = options.NormActivate(conv1.Forward(input), bn1);
            x = conv2.Forward(x);
            if (bn2 is not null) x = bn2.Forward(x);
            if (shortcuts) x += shortcut is null ? input : shortcut.Forward(input);
            return options.Activate(x);
        }
    }
}
