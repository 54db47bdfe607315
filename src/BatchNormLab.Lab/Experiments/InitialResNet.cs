using BatchNormLab.Kernels;

namespace BatchNormLab.Experiments;

/// <summary>
/// The setting of Bjorck et al.'s measurements at initialisation (Figs. 2–4): a ResNet for CIFAR with
/// and without BN, He (Kaiming normal) initialisation as in the ResNet paper, and mini-batches of the
/// first shuffled epoch, used in training mode (batch statistics: the forward pass SGD takes). Each seed
/// gives a new initialisation and a new shuffle; the networks with and without BN of one seed see the same mini-batches.
/// Paper: ResNet-110 on CIFAR-10, batch 128. Quick: ResNet-32 on Fashion-MNIST, batch 128.
/// Tiny: ResNet-8 on the synthetic Gaussian mixture laid out as 2×4×4 images ("gaussian-images"), batch 32 (seconds; for tests).
/// </summary>
static class InitialResNet
{
    public static ModelSpec Spec(Preset preset, Norm norm) =>
        new(preset switch { Preset.Tiny => "resnet8", Preset.Quick => "resnet32", _ => "resnet110" }, new ModelOptions(norm, Init: InitScheme.Kaiming));

    static int BatchSize(Preset preset) => preset == Preset.Tiny ? 32 : 128;

    static string DatasetOf(Preset preset, string? dataset) =>
        dataset ?? preset switch { Preset.Tiny => "gaussian-images", Preset.Quick => "fashion-mnist", _ => "cifar10" };

    /// <summary>A net initialised from <paramref name="seed"/> and the 1-based <paramref name="batchNumbers"/> of the first epoch shuffled by it (the same batches for every net of that seed).</summary>
    public static (Module Model, Batch[] Batches) Build(ExperimentContext context, ulong seed, Norm norm, IReadOnlyList<int> batchNumbers)
    {
        var train = context.Data(DatasetOf(context.Preset, context.Dataset)).Train;
        var model = Spec(context.Preset, norm).Build(train.Inputs.Shape[1..], train.Classes, new Rng(seed));
        var loader = new DataLoader(train, BatchSize(context.Preset), shuffle: true, dropLast: true, seed);
        var wanted = batchNumbers.ToHashSet();
        var batches = loader.Epoch(0).Take(batchNumbers.Max()).Where(b => wanted.Contains(b.Index + 1)).ToArray();
        return (model, batches);
    }

    /// <summary>The label of <paramref name="norm"/>'s net initialised from <paramref name="seed"/>, the subject of its numbers: "BN, seed 1".</summary>
    public static string Label(Norm norm, ulong seed) => $"{Presets.Label(norm)}, seed {seed}";

    /// <summary>The setting in words, for the report.</summary>
    public static string Describe(Preset preset, string? dataset) =>
        $"{Spec(preset, Norm.BatchNorm).Name} with and without BN (conv → BN → ReLU), Kaiming-normal initialisation, at initialisation, on {(DatasetOf(preset, dataset) is "gaussian-images" ? "a synthetic Gaussian mixture as 2×4×4 images" : DatasetOf(preset, dataset))}, " +
        $"mini-batches of {BatchSize(preset)} from the first shuffled epoch, in training mode (batch statistics)";

    /// <summary>Where the preset departs from Bjorck et al.'s ResNet-110 on CIFAR-10.</summary>
    public static string Deviations(Preset preset, string? dataset)
    {
        string instead = DatasetOf(preset, dataset) is "cifar10" ? "" : $"{DatasetOf(preset, dataset)} instead of CIFAR-10. ";
        return preset switch
        {
            Preset.Tiny => "Not the paper's setting at all: ResNet-8 on tiny images, so that the code runs in seconds. Its verdict says nothing about the paper.",
            Preset.Quick => instead + "ResNet-32 instead of ResNet-110, to fit minutes on 2 cores; with fewer blocks, growth with depth is smaller than the paper's.",
            _ => instead + "The initialisation (Kaiming normal, as He et al.) and batch size 128 are our reading of the paper.",
        };
    }
}
