using BatchNormLab.Nn;

namespace BatchNormLab.Models;

/// <summary>
/// VGG (Simonyan and Zisserman) for small images, as used on CIFAR-10 in the BN papers: 3×3 convs
/// (padding 1) with [BN] and activation, 2×2 max pools, then Flatten and one Linear head. Keys are
/// those of a module with children <c>features</c> (an nn.Sequential) and <c>classifier</c> (an nn.Linear).
/// A width multiplier scales every conv; a pool that would shrink a plane below 1×1 (28×28 input
/// reaches 1×1 after four pools) is left out, so the head always sees 1×1 planes.
/// </summary>
public sealed class Vgg : Module
{
    /// <summary>Channel counts, 0 for a max pool.</summary>
    public static readonly IReadOnlyDictionary<int, int[]> Configurations = new Dictionary<int, int[]>
    {
        [11] = [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        [13] = [64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        [16] = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
        [19] = [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0],
    };

    /// <summary>The conv, norm, activation and pool layers, ending with Flatten (state-dict prefix <c>features</c>).</summary>
    public Sequential Features { get; }
    /// <summary>The Linear head (state-dict prefix <c>classifier</c>).</summary>
    public Linear Classifier { get; }

    /// <summary>Builds the network and initialises it from <paramref name="rng"/> per <paramref name="options"/>.</summary>
    /// <param name="depth">11, 13, 16 or 19.</param>
    /// <param name="inChannels">Channels of the input images.</param>
    /// <param name="imageSize">Side of the square input images, in pixels.</param>
    /// <param name="classes">Outputs of the Linear head.</param>
    /// <param name="width">Multiplier of every conv's channels (e.g. 0.25); at least one channel each.</param>
    /// <param name="options">Normalisation, placement, activation and initialisation.</param>
    /// <param name="rng">The generator of the initial weights.</param>
    public Vgg(int depth, int inChannels, int imageSize, int classes, double width, ModelOptions options, Rng rng)
    {
        if (!Configurations.TryGetValue(depth, out var config))
            throw new ArgumentException($"VGG depth must be one of {string.Join(", ", Configurations.Keys)}, got {depth}");
        if (!(width > 0) || inChannels < 1 || imageSize < 1 || classes < 1)
            throw new ArgumentException($"VGG needs width > 0, channels, image size and classes ≥ 1 (got {width}, {inChannels}, {imageSize}, {classes})");
        Features = RegisterModule("features", new Sequential());
        int channels = inChannels, size = imageSize;
        foreach (int v in config)
        {
            if (v == 0)
            {
                if (size < 2) continue;
                Features.Add(new MaxPool2d(2));
                size /= 2;
                continue;
            }
            int outChannels = Math.Max(1, (int)Math.Round(v * width));
            if (options.Norm == Norm.InstanceNorm && size == 1)
                throw new ArgumentException($"instance-norm needs more than one value per channel and image, but vgg{depth} on {imageSize}×{imageSize} input " +
                    "reaches 1×1 planes (use 32×32 input, or group-norm / layer-norm)");
            foreach (var m in options.Block(new Conv2d(channels, outChannels, 3, padding: 1, rng: rng), outChannels, spatial: true, rng))
                Features.Add(m);
            channels = outChannels;
        }
        Features.Add(new Flatten());
        Classifier = RegisterModule("classifier", new Linear(channels * size * size, classes, rng: rng));
        options.Initialise(this, rng);
    }

    /// <inheritdoc/>
    protected override Tensor Compute(Tensor input) => Classifier.Forward(Features.Forward(input));
}
