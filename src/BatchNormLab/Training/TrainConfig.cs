using System.Text.Json;
using System.Text.Json.Serialization;
using BatchNormLab.Data;
using BatchNormLab.IO;
using BatchNormLab.Models;

namespace BatchNormLab.Training;

/// <summary>The training loss.</summary>
public enum LossKind
{
    /// <summary>Softmax cross-entropy on class labels.</summary>
    CrossEntropy,
    /// <summary>Mean squared error on regression targets.</summary>
    Mse
}

/// <summary>The loss a <see cref="LossKind"/> names: the one place that picks cross-entropy on class labels or MSE on regression targets.</summary>
public static class TrainingLoss
{
    /// <summary>The mean loss of <paramref name="output"/> on <paramref name="batch"/> (targets taken in the output's dtype); <paramref name="dataset"/> names the data in the error when the batch lacks what the loss needs.</summary>
    public static Tensor Of(LossKind kind, Tensor output, Batch batch, string? dataset = null) => kind switch
    {
        LossKind.CrossEntropy => output.CrossEntropy(batch.Labels
            ?? throw new ArgumentException($"cross-entropy needs class labels; {(dataset is null ? "the data has" : $"dataset {dataset} has")} regression targets (use --loss mse)")),
        _ => output.MseLoss((batch.Targets
            ?? throw new ArgumentException($"MSE needs regression targets; {(dataset is null ? "the data has" : $"dataset {dataset} has")} class labels (use --loss cross-entropy)")).To(output.DType)),
    };
}

/// <summary>Everything that determines a training run; saved as config.json and inside checkpoints.</summary>
public sealed record TrainConfig
{
    /// <summary>The architecture and its normalisation options.</summary>
    public required ModelSpec Model { get; init; }
    /// <summary>fashion-mnist, mnist, cifar10, gaussian-mixture or linear-regression.</summary>
    public required string Dataset { get; init; }
    /// <summary>Training steps (SGD updates) in the run; at least 1.</summary>
    public required int Steps { get; init; }
    /// <summary>Examples per training batch (default 128).</summary>
    public int BatchSize { get; init; } = 128;
    /// <summary>The schedule's base learning rate η (default 0.1).</summary>
    public double LearningRate { get; init; } = 0.1;
    /// <summary>SGD momentum μ (default 0: none).</summary>
    public double Momentum { get; init; }
    /// <summary>SGD weight decay λ (default 0).</summary>
    public double WeightDecay { get; init; }
    /// <summary>Whether SGD uses Nesterov momentum (needs momentum &gt; 0).</summary>
    public bool Nesterov { get; init; }
    /// <summary>The learning-rate schedule's kind (default constant).</summary>
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Constant;
    /// <summary>Steps of linear learning-rate warm-up (default 0).</summary>
    public int WarmupSteps { get; init; }
    /// <summary>Steps between decays of a step schedule.</summary>
    public int StepEvery { get; init; }
    /// <summary>Decay factor of a step schedule (default 0.1).</summary>
    public double Gamma { get; init; } = 0.1;
    /// <summary>The training and evaluation loss (default cross-entropy).</summary>
    public LossKind Loss { get; init; } = LossKind.CrossEntropy;
    /// <summary>Whether training batches get random crops and flips (<see cref="Data.Augment"/>'s defaults).</summary>
    public bool Augment { get; init; }
    /// <summary>Seed of the weight initialisation, the data order and augmentation, and synthetic data sets.</summary>
    public ulong Seed { get; init; }
    /// <summary>The thread count `bnlab train` runs with (results are bitwise the same for any); experiments set theirs per context.</summary>
    public int Threads { get; init; } = 2;
    /// <summary>Evaluate on the test set every this many steps (0: only at the end).</summary>
    public int EvalEvery { get; init; }
    /// <summary>Write a checkpoint every this many steps (0: only at the end).</summary>
    public int CheckpointEvery { get; init; }
    /// <summary>A loss above this multiple of the first step's loss (or not finite) ends the run as diverged.</summary>
    public double DivergenceFactor { get; init; } = 1e3;
    /// <summary>Use only the first this many training examples (0: all), for quick runs.</summary>
    public int TrainLimit { get; init; }
    /// <summary>Evaluate on only the first this many test examples (0: all).</summary>
    public int TestLimit { get; init; }

    /// <summary>The learning-rate schedule these settings describe.</summary>
    public Schedule MakeSchedule() => new(Schedule, LearningRate, Steps, WarmupSteps, StepEvery, Gamma);

    /// <summary>Throws with a message naming the setting that is out of range.</summary>
    public void Validate()
    {
        if (Steps < 1) throw new ArgumentOutOfRangeException("steps", Steps, "the run needs at least one step");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException("batch-size", BatchSize, "the batch size must be ≥ 1");
        if (BatchSize == 1 && Model.Options.UsesBatchStatistics)
            throw new ArgumentOutOfRangeException("batch-size", BatchSize, $"{Model.Options.Norm} in training needs a batch size of at least 2 (one value per channel has no variance)");
        Model.Options.Validate();
        if (Threads < 1) throw new ArgumentOutOfRangeException("threads", Threads, "threads must be ≥ 1");
        if (!(Momentum >= 0)) throw new ArgumentOutOfRangeException("momentum", Momentum, "momentum must be ≥ 0");
        if (!(WeightDecay >= 0)) throw new ArgumentOutOfRangeException("weight-decay", WeightDecay, "weight decay must be ≥ 0");
        if (Nesterov && Momentum <= 0) throw new ArgumentException("--nesterov needs --momentum > 0");
        if (EvalEvery < 0 || CheckpointEvery < 0 || TrainLimit < 0 || TestLimit < 0) throw new ArgumentException("--eval-every, --checkpoint-every and limits must be ≥ 0");
        if (!(DivergenceFactor > 1)) throw new ArgumentOutOfRangeException("divergence-factor", DivergenceFactor, "must be > 1");
        if (!ModelSpec.IsKnown(Model.Name)) throw new ArgumentException($"unknown model '{Model.Name}'; models: {string.Join(", ", ModelSpec.Names)}");
        MakeSchedule().Validate();
    }

    /// <summary>JSON settings of config files: indented, snake_case properties, kebab-case enum names.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>This config as JSON (the format of config.json).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses a config written by <see cref="ToJson"/>; <paramref name="source"/> names the origin in errors.</summary>
    public static TrainConfig FromJson(string json, string source) =>
        JsonSerializer.Deserialize<TrainConfig>(json, Json) ?? throw new DataException($"{source}: empty config");
}
