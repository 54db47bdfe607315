using System.CommandLine;
using BatchNormLab.Data;
using BatchNormLab.Models;
using BatchNormLab.Nn;
using BatchNormLab.Store;
using BatchNormLab.Training;

namespace BatchNormLab.Cli;

/// <summary>
/// <c>bnlab train</c>: one training run per --norm value (bn, none or both), each in its own output
/// directory, with a live progress line and a summary table; --resume continues a run from its checkpoint.
/// </summary>
static class TrainCommand
{
    static readonly Option<string> Model = new("--model") { Description = $"Model: {string.Join(", ", ModelSpec.Names)} (any resnet6n+2)", DefaultValueFactory = _ => "mlp" };
    static readonly Option<string[]> Norm = new("--norm") { Description = "Normalisation: bn, none, noisy-bn (BN + the paper's noise), noise (the noise alone), l1, l2, linf (ℓp of the centred values instead of BN), l1-uncentred, l2-uncentred, linf-uncentred (ℓp of the values themselves: only the scale is normalised), gn (GroupNorm, --groups), ln (LayerNorm; on conv layers GroupNorm with one group), in (InstanceNorm, conv models only), brn (Batch Renorm, --renorm-schedule), ghost-bn (Ghost BN, --ghost-batch-size); several as 'bn,none' (one run each, compared)", DefaultValueFactory = _ => ["bn"], AllowMultipleArgumentsPerToken = true, CustomParser = r => r.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries)).ToArray() };
    static readonly Option<int> Groups = new("--groups") { Description = "GroupNorm: at most this many groups per layer (the largest divisor of the channel count not above it; on Linear layers also at most half the features)", DefaultValueFactory = _ => 32 };
    static readonly Option<int> GhostBatchSize = new("--ghost-batch-size") { Description = "Ghost BN: the virtual batch size (≥ 2)", DefaultValueFactory = _ => 32 };
    static readonly Option<string?> RenormSchedule = new("--renorm-schedule") { Description = "Batch Renorm schedule as key=value pairs, any of r_max, d_max (final bounds), fixed_steps (steps of plain BN), r_max_steps, d_max_steps (where the linear ramps end); default r_max=3,d_max=5,fixed_steps=5000,r_max_steps=40000,d_max_steps=25000 (Ioffe 2017)" };
    static readonly Option<string> Placement = new("--norm-placement") { Description = "Where BN goes: before or after the activation", DefaultValueFactory = _ => "before" };
    static readonly Option<bool> NormAffine = new("--norm-affine") { Description = "BN layers' own scale γ and shift β (PyTorch's affine): true (default), or false for γ = 1, β = 0 fixed", DefaultValueFactory = _ => true };
    static readonly Option<string> ActivationOption = new("--activation") { Description = "relu, sigmoid or tanh", DefaultValueFactory = _ => "relu" };
    static readonly Option<string> InitOption = new("--init") { Description = "Weight initialisation: pytorch (default), glorot or kaiming", DefaultValueFactory = _ => "pytorch" };
    static readonly Option<double> Width = new("--width") { Description = "VGG width multiplier (e.g. 0.25); DLN width", DefaultValueFactory = _ => 1.0 };
    static readonly Option<string> Hidden = new("--hidden") { Description = "MLP hidden widths, comma-separated", DefaultValueFactory = _ => "256,256" };
    static readonly Option<int> Depth = new("--depth") { Description = "Deep linear network depth", DefaultValueFactory = _ => DeepLinear.DefaultDepth };
    static readonly Option<string> DatasetOption = new("--dataset") { Description = $"Data: {string.Join(", ", DatasetCatalog.Names)}", DefaultValueFactory = _ => "fashion-mnist" };
    static readonly Option<string?> DataDir = new("--data") { Description = "Directory with the dataset's files (else $BNLAB_DATA, else /usr/share/datasets/fashion-mnist)" };
    static readonly Option<double> Lr = new("--lr") { Description = "Learning rate", DefaultValueFactory = _ => 0.1 };
    static readonly Option<double> Momentum = new("--momentum") { Description = "SGD momentum", DefaultValueFactory = _ => 0.0 };
    static readonly Option<bool> Nesterov = new("--nesterov") { Description = "Nesterov momentum" };
    static readonly Option<double> WeightDecay = new("--weight-decay") { Description = "L2 weight decay", DefaultValueFactory = _ => 0.0 };
    static readonly Option<string> ScheduleOption = new("--schedule") { Description = "Learning-rate schedule: constant, step or cosine", DefaultValueFactory = _ => "constant" };
    static readonly Option<int> Warmup = new("--warmup") { Description = "Linear warm-up steps", DefaultValueFactory = _ => 0 };
    static readonly Option<int> StepEvery = new("--step-every") { Description = "Step schedule: multiply the rate by --gamma every N steps", DefaultValueFactory = _ => 0 };
    static readonly Option<double> Gamma = new("--gamma") { Description = "Step schedule factor", DefaultValueFactory = _ => 0.1 };
    static readonly Option<string> LossOption = new("--loss") { Description = "cross-entropy or mse (default: by dataset)" };
    static readonly Option<int> BatchSize = new("--batch-size") { Description = "Mini-batch size (drop-last)", DefaultValueFactory = _ => 128 };
    static readonly Option<int?> Steps = new("--steps") { Description = "Training steps (or --epochs)" };
    static readonly Option<double?> Epochs = new("--epochs") { Description = "Training epochs (may be fractional)" };
    static readonly Option<ulong> Seed = new("--seed") { Description = "Seed of the initialisation, data order and augmentation", DefaultValueFactory = _ => 0UL };
    static readonly Option<int> Threads = new("--threads") { Description = "Compute threads (results are bitwise reproducible for a given seed)", DefaultValueFactory = _ => Math.Min(2, Environment.ProcessorCount) };
    static readonly Option<bool> Augment = new("--augment") { Description = "Standard augmentation: pad 4 + random crop, horizontal flip" };
    static readonly Option<int> EvalEvery = new("--eval-every") { Description = "Evaluate on the test set every N steps (0: at the end)", DefaultValueFactory = _ => 0 };
    static readonly Option<int> CheckpointEvery = new("--checkpoint-every") { Description = "Checkpoint every N steps (0: at the end)", DefaultValueFactory = _ => 0 };
    static readonly Option<int> TrainLimit = new("--train-limit") { Description = "Use only the first N training examples", DefaultValueFactory = _ => 0 };
    static readonly Option<int> TestLimit = new("--test-limit") { Description = "Evaluate on only the first N test examples", DefaultValueFactory = _ => 0 };
    static readonly Option<string> Out = new("--out") { Description = "Output directory (config.json, metrics.csv, eval.csv, checkpoints, summary.json)", DefaultValueFactory = _ => "runs/train" };
    static readonly Option<bool> Resume = new("--resume") { Description = "Continue the run in --out from its last checkpoint (bitwise the same as an uninterrupted run)" };

    public static Command Create()
    {
        var command = new Command("train", "Train a model with SGD; writes metrics, checkpoints and a summary to --out.");
        foreach (var option in new Option[] { Model, Norm, Groups, GhostBatchSize, RenormSchedule, Placement, NormAffine, ActivationOption, InitOption, Width, Hidden, Depth, DatasetOption, DataDir, Lr, Momentum,
                     Nesterov, WeightDecay, ScheduleOption, Warmup, StepEvery, Gamma, LossOption, BatchSize, Steps, Epochs, Seed, Threads, Augment,
                     EvalEvery, CheckpointEvery, TrainLimit, TestLimit, Out, Resume, RunsCommand.Db, JsonOutput.Option })
            command.Options.Add(option);
        command.SetAction(Run);
        return command;
    }

    static int Run(ParseResult p)
    {
        var norms = p.GetValue(Norm)!.Select(ParseNorm).Distinct().ToList();
        string datasetName = p.GetValue(DatasetOption)!;
        var (train, test) = DatasetCatalog.Load(datasetName, p.GetValue(DataDir), p.GetValue(Seed));
        if (p.GetValue(TrainLimit) is > 0 and int tl) train = train.Take(tl);
        if (p.GetValue(TestLimit) is > 0 and int xl) test = test.Take(xl);
        int batchesPerEpoch = train.Count / Math.Max(1, p.GetValue(BatchSize));
        int steps = (p.GetValue(Steps), p.GetValue(Epochs)) switch
        {
            (int s, null) => s,
            (null, double e) when e > 0 && batchesPerEpoch > 0 => Math.Max(1, (int)Math.Round(e * batchesPerEpoch)),
            (null, double e) => throw new ArgumentException($"--epochs {e}: needs a positive number and a batch size (--batch-size {p.GetValue(BatchSize)}) no larger than the {train.Count} training examples"),
            (null, null) => throw new ArgumentException("give the length of the run: --steps N or --epochs N"),
            _ => throw new ArgumentException("give --steps or --epochs, not both"),
        };
        var runs = new List<RunReport>();
        using var store = RunStore.Open(p.GetValue(RunsCommand.Db)!, create: true);
        long id = store.StartRun(RunKind.Train, RunsCommand.CommandLine(), null, p.GetValue(Seed), p.GetValue(Threads), p.GetValue(Out));
        store.Complete(id, () =>
        {
            foreach (var norm in norms) runs.Add(TrainOne(p, norm, norms.Count, datasetName, steps, train, test, store, id));
        });
        if (p.GetValue(JsonOutput.Option))
            JsonOutput.Print(new
            {
                Run = id, Database = Path.GetFullPath(store.Path),
                Runs = runs.Select(r => new
                {
                    r.Name, Directory = Path.GetFullPath(r.Directory), r.Outcome.StepsDone, r.Outcome.DivergedAtStep, LastTrainingLoss = r.Last?.Loss, LastTrainingAccuracy = r.Last?.Accuracy,
                    TestLoss = r.Outcome.FinalEvaluation?.Loss, TestAccuracy = r.Outcome.FinalEvaluation?.Accuracy, r.Seconds, StepsPerSecond = r.StepsRun / Math.Max(r.Seconds, 1e-9),
                }),
            });
        else
        {
            RunReport.PrintTable(runs);
            Console.WriteLine($"recorded as run {id} in {store.Path}");
        }
        return runs.All(r => r.Outcome.Diverged) ? ExitCodes.Diverged : ExitCodes.Ok;
    }

    /// <summary>One --norm value's run, recorded in the run database with its final numbers and files.</summary>
    static RunReport TrainOne(ParseResult p, Norm norm, int normCount, string datasetName, int steps, Dataset train, Dataset test, RunStore store, long runId)
    {
        var config = new TrainConfig
        {
            Model = new ModelSpec(p.GetValue(Model)!, new ModelOptions(norm, ParsePlacement(p.GetValue(Placement)!), ParseActivation(p.GetValue(ActivationOption)!), ParseInit(p.GetValue(InitOption)!))
                {
                    Groups = p.GetValue(Groups),
                    GhostBatchSize = p.GetValue(GhostBatchSize),
                    Renorm = p.GetValue(RenormSchedule) is string schedule ? ParseRenormSchedule(schedule) : null,
                    NormAffine = p.GetValue(NormAffine),
                },
                ParseHidden(p.GetValue(Hidden)!), p.GetValue(Width), p.GetValue(Depth)),
            Dataset = datasetName,
            Steps = steps,
            BatchSize = p.GetValue(BatchSize),
            LearningRate = p.GetValue(Lr),
            Momentum = p.GetValue(Momentum),
            Nesterov = p.GetValue(Nesterov),
            WeightDecay = p.GetValue(WeightDecay),
            Schedule = ParseSchedule(p.GetValue(ScheduleOption)!),
            WarmupSteps = p.GetValue(Warmup),
            StepEvery = p.GetValue(StepEvery),
            Gamma = p.GetValue(Gamma),
            Loss = p.GetValue(LossOption) is string l ? ParseLoss(l) : train.Labels is null ? LossKind.Mse : LossKind.CrossEntropy,
            Augment = p.GetValue(Augment),
            Seed = p.GetValue(Seed),
            Threads = p.GetValue(Threads),
            EvalEvery = p.GetValue(EvalEvery),
            CheckpointEvery = p.GetValue(CheckpointEvery),
            TrainLimit = p.GetValue(TrainLimit),
            TestLimit = p.GetValue(TestLimit),
        };
        config.Validate();
        string outDir = normCount == 1 ? p.GetValue(Out)! : Path.Combine(p.GetValue(Out)!, NormName(norm));
        var run = TrainingSession.Run(config, train, test, outDir, p.GetValue(Resume));
        store.RecordNumbers(runId, run.Name, run.Numbers(),
            new[] { "config.json", "metrics.csv", "eval.csv", "summary.json", Checkpoint.ModelFile, Checkpoint.StateFile }.Select(f => Path.Combine(outDir, f)).Where(File.Exists));
        return run;
    }

    /// <summary>The --norm names, in the order the help lists them.</summary>
    static readonly (string Name, Norm Norm)[] NormNames =
        [("bn", Models.Norm.BatchNorm), ("none", Models.Norm.None), ("noisy-bn", Models.Norm.NoisyBatchNorm), ("noise", Models.Norm.Noise),
         ("l1", Models.Norm.L1), ("l2", Models.Norm.L2), ("linf", Models.Norm.LInf), ("l1-uncentred", Models.Norm.L1Uncentred), ("l2-uncentred", Models.Norm.L2Uncentred), ("linf-uncentred", Models.Norm.LInfUncentred), ("gn", Models.Norm.GroupNorm), ("ln", Models.Norm.LayerNorm),
         ("in", Models.Norm.InstanceNorm), ("brn", Models.Norm.BatchRenorm), ("ghost-bn", Models.Norm.GhostBatchNorm)];

    static Norm ParseNorm(string s) =>
        NormNames.FirstOrDefault(n => n.Name == s.ToLowerInvariant()) is { Name: not null } found ? found.Norm
        : throw new ArgumentException($"--norm '{s}': expected one of {string.Join(", ", NormNames.Select(n => n.Name))}");

    public static string NormName(Norm n) => NormNames.First(x => x.Norm == n).Name;

    static NormPlacement ParsePlacement(string s) => s.ToLowerInvariant() switch
    {
        "before" => NormPlacement.BeforeActivation,
        "after" => NormPlacement.AfterActivation,
        _ => throw new ArgumentException($"--norm-placement '{s}': expected before or after"),
    };

    static Activation ParseActivation(string s) => s.ToLowerInvariant() switch
    {
        "relu" => Activation.ReLU,
        "sigmoid" => Activation.Sigmoid,
        "tanh" => Activation.Tanh,
        _ => throw new ArgumentException($"--activation '{s}': expected relu, sigmoid or tanh"),
    };

    static InitScheme ParseInit(string s) => s.ToLowerInvariant() switch
    {
        "pytorch" => InitScheme.PyTorch,
        "glorot" or "xavier" => InitScheme.Glorot,
        "kaiming" or "he" => InitScheme.Kaiming,
        _ => throw new ArgumentException($"--init '{s}': expected pytorch, glorot or kaiming"),
    };

    static ScheduleKind ParseSchedule(string s) => s.ToLowerInvariant() switch
    {
        "constant" => ScheduleKind.Constant,
        "step" => ScheduleKind.Step,
        "cosine" => ScheduleKind.Cosine,
        _ => throw new ArgumentException($"--schedule '{s}': expected constant, step or cosine"),
    };

    static LossKind ParseLoss(string s) => s.ToLowerInvariant() switch
    {
        "cross-entropy" or "ce" => LossKind.CrossEntropy,
        "mse" => LossKind.Mse,
        _ => throw new ArgumentException($"--loss '{s}': expected cross-entropy or mse"),
    };

    /// <summary>"r_max=3,d_max=5,…": the given settings over the paper's defaults.</summary>
    static BatchRenormSchedule ParseRenormSchedule(string s)
    {
        var schedule = new BatchRenormSchedule();
        foreach (var part in s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pair = part.Split('=', 2, StringSplitOptions.TrimEntries);
            string key = pair[0].ToLowerInvariant();
            bool isBound = key is "r_max" or "d_max";
            double bound = 0;
            long steps = 0;
            if (pair.Length != 2 || (isBound ? !double.TryParse(pair[1], System.Globalization.CultureInfo.InvariantCulture, out bound) : !long.TryParse(pair[1], out steps)))
                throw new ArgumentException($"--renorm-schedule '{s}': expected key=value pairs such as r_max=3,d_max=5,fixed_steps=5000,r_max_steps=40000,d_max_steps=25000");
            schedule = key switch
            {
                "r_max" => schedule with { RMax = bound },
                "d_max" => schedule with { DMax = bound },
                "fixed_steps" => schedule with { FixedSteps = steps },
                "r_max_steps" => schedule with { RMaxSteps = steps },
                "d_max_steps" => schedule with { DMaxSteps = steps },
                _ => throw new ArgumentException($"--renorm-schedule: unknown setting '{pair[0]}'; expected r_max, d_max, fixed_steps, r_max_steps or d_max_steps"),
            };
        }
        try { schedule.Validate(); }
        catch (ArgumentOutOfRangeException e)
        {
            throw new ArgumentException($"--renorm-schedule '{s}': {e.Message.Split('\n')[0].Replace($" (Parameter '{e.ParamName}')", "")}");
        }
        return schedule;
    }

    static int[] ParseHidden(string s)
    {
        var parts = s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var widths = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out widths[i]) || widths[i] < 1)
                throw new ArgumentException($"--hidden '{s}': expected comma-separated widths ≥ 1, e.g. 256,256");
        return widths;
    }
}
