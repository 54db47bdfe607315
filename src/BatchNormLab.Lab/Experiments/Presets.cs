namespace BatchNormLab.Experiments;

/// <summary>
/// The VGG training setting of Santurkar et al. §2 per preset. Paper: VGG-16 on CIFAR-10, plain SGD,
/// batch 128, constant LR, Glorot init, no augmentation, 15,000 steps. Quick: a VGG-11 at ⅛ width on
/// Fashion-MNIST for a few hundred steps (minutes on 2 cores). Tiny: an MLP on a synthetic Gaussian
/// mixture (seconds; for tests: it exercises the code, not the claim).
/// </summary>
public static class Presets
{
    /// <summary>The VGG training setting of <paramref name="preset"/> for one network, learning rate and seed.</summary>
    /// <param name="preset">Which setting: the paper's, the quick VGG-11 or the tiny MLP.</param>
    /// <param name="norm">The normalisation the network's layers use.</param>
    /// <param name="learningRate">The constant SGD learning rate.</param>
    /// <param name="seed">The seed of the initialisation and of the batch order.</param>
    /// <param name="dataset">Another image dataset than the preset's (the model adapts to its size and channels); null keeps the preset's.</param>
    public static TrainConfig Vgg(Preset preset, Norm norm, double learningRate, ulong seed, string? dataset = null)
    {
        var config = Default(preset, norm, learningRate, seed);
        return dataset is null ? config : config with { Dataset = dataset };
    }

    static TrainConfig Default(Preset preset, Norm norm, double learningRate, ulong seed) => preset switch
    {
        Preset.Tiny => new TrainConfig
        {
            Model = new ModelSpec("mlp", new ModelOptions(norm, Init: InitScheme.Glorot), [32, 32, 32]),
            Dataset = "gaussian-mixture", Steps = 40, BatchSize = 64, LearningRate = learningRate, Seed = seed, EvalEvery = 20,
        },
        Preset.Quick => new TrainConfig
        {
            Model = new ModelSpec("vgg11", new ModelOptions(norm, Init: InitScheme.Glorot), Width: 0.125),
            Dataset = "fashion-mnist", Steps = 500, BatchSize = 128, LearningRate = learningRate, Seed = seed, EvalEvery = 100, TestLimit = 2000,
        },
        _ => new TrainConfig
        {
            Model = new ModelSpec("vgg16", new ModelOptions(norm, Init: InitScheme.Glorot)),
            Dataset = "cifar10", Steps = 15_000, BatchSize = 128, LearningRate = learningRate, Seed = seed, EvalEvery = 1000,
        },
    };

    /// <summary>How experiments name a network by its normalisation: "standard", "BN", "noisy BN", "noise without BN", "L1", "L2", "L∞" (and "… uncentred"), "GN", "LN", "IN", "Batch Renorm", "ghost BN".</summary>
    public static string Label(Norm norm) => norm switch
    {
        Norm.None => "standard",
        Norm.BatchNorm => "BN",
        Norm.NoisyBatchNorm => "noisy BN",
        Norm.Noise => "noise without BN",
        Norm.L1 => "L1",
        Norm.L2 => "L2",
        Norm.LInf => "L∞",
        Norm.L1Uncentred => "L1 uncentred",
        Norm.L2Uncentred => "L2 uncentred",
        Norm.LInfUncentred => "L∞ uncentred",
        Norm.GroupNorm => "GN",
        Norm.LayerNorm => "LN",
        Norm.InstanceNorm => "IN",
        Norm.BatchRenorm => "Batch Renorm",
        Norm.GhostBatchNorm => "ghost BN",
        _ => throw new ArgumentOutOfRangeException(nameof(norm), norm, null),
    };

    /// <summary>The VGG setting at LR 0.1 (the paper's default rate) for each of <paramref name="norms"/> and each of the context's seeds, shared between experiments (<see cref="TrainedRun.Shared"/>).</summary>
    public static List<SeededRuns> SharedRuns(ExperimentContext context, string experiment, IEnumerable<Norm> norms) =>
        [.. SeededRuns.TrainAll(context, experiment, norms, Label, (n, seed) => Vgg(context.Preset, n, 0.1, seed, context.Dataset)).Values];

    /// <summary>
    /// The deep linear network of Santurkar et al. (Figs. 3 and 9): 25 linear layers of width 10 regressing
    /// y = A·x on 1,000 Gaussian inputs with full-batch gradient descent. The loss is the mean squared error.
    /// </summary>
    public static TrainConfig Dln(Preset preset, Norm norm, ulong seed) => new()
    {
        Model = new ModelSpec("dln", new ModelOptions(norm, Init: InitScheme.Glorot), Width: DeepLinear.DefaultWidth, Depth: DeepLinear.DefaultDepth),
        Dataset = "linear-regression",
        Loss = LossKind.Mse,
        Steps = preset switch { Preset.Tiny => 40, Preset.Quick => 400, _ => 10_000 },
        BatchSize = 1000,
        LearningRate = 0.005,
        Seed = seed,
        DivergenceFactor = 1e6,
    };

    /// <summary>The DLN's settings in words, for the report.</summary>
    public static string DescribeDln(Preset preset)
    {
        var c = Dln(preset, Norm.None, 0);
        return $"{c.Model.Depth} linear layers of width {c.Model.Width}, y = A·x regression on {c.BatchSize} Gaussian inputs, full-batch gradient descent at LR {c.LearningRate.ToString(CultureInfo.InvariantCulture)}, {c.Steps} steps, MSE loss, Glorot init";
    }

    /// <summary>Where the DLN departs from the paper's, whatever the preset.</summary>
    public const string DlnDeviations = "DLN: the loss is the mean squared error (the paper sums it), so its learning rate is scaled up accordingly (the paper's 1e-6, 1e-7 in Fig. 3, are on a summed loss).";

    /// <summary>The settings in words, for the report.</summary>
    public static string Describe(Preset preset, string? dataset = null)
    {
        var c = Vgg(preset, Norm.BatchNorm, 0.1, 0);
        string width = c.Model.Width == 1 ? "" : $" at width ×{c.Model.Width}";
        string test = c.TestLimit > 0 ? $"the first {c.TestLimit} test examples, and at the end on the whole test set (the accuracy compared)" : "the whole test set";
        return $"{c.Model.Name}{width} on {c.Dataset}, plain SGD, batch {c.BatchSize}, constant learning rate, Glorot initialisation, no augmentation, {c.Steps} steps, evaluated every {c.EvalEvery} steps on {test}";
    }

    /// <summary>Where the preset (on <paramref name="dataset"/>, when not its own) departs from the paper's setting.</summary>
    public static string Deviations(Preset preset, string? dataset = null)
    {
        string data = Vgg(preset, Norm.BatchNorm, 0.1, 0, dataset).Dataset;
        string instead = data == "cifar10" ? "" : $"{DatasetName(data)} instead of CIFAR-10. ";
        return preset switch
        {
            Preset.Tiny => $"Not the paper's setting at all: a 3-layer MLP on {(data == "gaussian-mixture" ? "a synthetic 10-class Gaussian mixture" : DatasetName(data))}, 40 steps, so that the code runs in seconds. Its verdict says nothing about the paper.",
            Preset.Quick => instead + "VGG-11 at ⅛ width instead of a full VGG, 500 steps instead of 15,000, test accuracy along the way on 2,000 test images (at the end on all 10,000).",
            _ => instead + "The VGG variant (VGG-16) is our reading of the paper, which names layers up to #13.",
        };
    }

    static string DatasetName(string dataset) => dataset switch
    {
        "fashion-mnist" => "Fashion-MNIST (28×28 grey)",
        "gaussian-mixture" => "a synthetic Gaussian mixture",
        _ => dataset,
    };
}
