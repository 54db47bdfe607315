using BatchNormLab.IO;
using BatchNormLab.Runs;

namespace BatchNormLab.Experiments;

/// <summary>One training run inside an experiment: its config, the model after training, and every step's and evaluation's metrics.</summary>
public sealed record TrainedRun
{
    /// <summary>The run's name in the experiment's tables and figures, e.g. "BN, seed 2"; its files are named after it.</summary>
    public required string Label { get; init; }
    /// <summary>The training setting the run was trained with.</summary>
    public required TrainConfig Config { get; init; }
    /// <summary>The model after its last step done.</summary>
    public required Module Model { get; init; }
    /// <summary>Every training step's metrics (loss, accuracy, gradient norm, …), in step order.</summary>
    public required List<StepMetrics> Steps { get; init; }
    /// <summary>Every test evaluation's loss and accuracy, in step order.</summary>
    public required List<EvalMetrics> Evaluations { get; init; }
    /// <summary>How the run ended: steps done, whether and where it diverged, and the final evaluation.</summary>
    public required TrainingOutcome Outcome { get; init; }

    /// <summary>The experiment that trained it (another may reuse it: <see cref="Shared"/>).</summary>
    public required string Experiment { get; init; }

    /// <summary>Copies of the weights and buffers after each of <see cref="SnapshotSteps"/>, by step.</summary>
    public required IReadOnlyDictionary<int, IReadOnlyList<StateEntry>> Snapshots { get; init; }

    /// <summary>One example's input shape and the model's outputs, to rebuild it.</summary>
    public required int[] InputShape { get; init; }
    /// <summary>The model's number of outputs (classes, or targets for a regression).</summary>
    public required int Outputs { get; init; }

    /// <summary>Pre-activation distributions recorded during training (runs from <see cref="Shared"/> have them).</summary>
    public ActivationProbe? Activations { get; init; }

    /// <summary>The measurement callbacks attached during training (runs from <see cref="ProbedRuns"/> have them).</summary>
    public IReadOnlyList<ITrainingCallback> Probes { get; init; } = [];

    /// <summary>Final test accuracy, or NaN when the run diverged or had no evaluation.</summary>
    public double TestAccuracy => Outcome.Diverged ? double.NaN : Outcome.FinalEvaluation?.Accuracy ?? double.NaN;

    /// <summary>Mean training loss over the last <paramref name="window"/> steps (NaN when diverged).</summary>
    public double FinalTrainLoss(int window = 50) => FinalMean(s => s.Loss, window);

    /// <summary>Mean training accuracy over the last <paramref name="window"/> steps (NaN when diverged).</summary>
    public double FinalTrainAccuracy(int window = 50) => FinalMean(s => s.Accuracy, window);

    double FinalMean(Func<StepMetrics, double> metric, int window) =>
        Outcome.Diverged || Steps.Count == 0 ? double.NaN : Steps.TakeLast(window).Average(metric);

    /// <summary>
    /// Trains <paramref name="config"/> on the context's data, with extra callbacks, reporting progress; writes the run's metrics.csv.
    /// With <paramref name="progress"/>, it resumes from the progress saved there, if any, and saves its own as it trains.
    /// Evaluations during training use the config's test subset (<see cref="TrainConfig.TestLimit"/>, cheap enough for a
    /// curve); the final one, which verdicts compare, is on the whole test set: on 2,000 examples the test sample alone
    /// puts ~0.6 points of noise between two networks' accuracies, on 10,000 less than half that.
    /// </summary>
    public static TrainedRun Train(ExperimentContext context, string experiment, string label, TrainConfig config,
        Func<Trainer, IEnumerable<ITrainingCallback>>? callbacks = null, Func<Module, Module>? adapt = null, RunProgress? progress = null)
    {
        var (train, wholeTest) = context.Data(config.Dataset);
        if (config.TrainLimit > 0 && config.TrainLimit < train.Count) train = train.Take(config.TrainLimit);
        var test = config.TestLimit > 0 && config.TestLimit < wholeTest.Count ? wholeTest.Take(config.TestLimit) : wholeTest;
        int[] shape = train.Inputs.Shape[1..];
        int outputs = train.Labels is null ? train.Targets!.Size(1) : train.Classes;
        var model = config.Model.Build(shape, outputs, new Rng(config.Seed));
        if (adapt is not null) model = adapt(model);
        var trainer = new Trainer(config, model, train, test);
        var log = new Log(context, experiment, label, SnapshotSteps(config));
        trainer.Callbacks.Add(log);
        var probes = callbacks?.Invoke(trainer).ToList() ?? [];
        trainer.Callbacks.AddRange(probes);
        var saving = progress?.Attach(trainer, log.Steps, log.Evaluations, log.Snapshots, probes);
        context.Progress.RunStarted(experiment, label, config.Steps);
        if (saving?.SetAside is { } why) context.Progress.Message(experiment, $"{label}: cannot resume from its saved progress ({why}); deleted it, training from the start");
        if (saving is { Resumed: > 0 }) context.Progress.Message(experiment, $"{label}: resumed at step {saving.Resumed} of {config.Steps} from {progress!.File}");
        TrainingOutcome outcome;
        // Saves end with the training: a stop signal during the final evaluation does not wait for a step.
        using (saving) outcome = trainer.Run();
        if (!outcome.Diverged && outcome.FinalEvaluation is not null && test.Count < wholeTest.Count)
            outcome = outcome with { FinalEvaluation = Trainer.Evaluate(model, wholeTest, config.Loss, config.BatchSize, outcome.StepsDone) };
        context.Progress.RunFinished(experiment, label, outcome);
        var run = new TrainedRun
        {
            Label = label, Experiment = experiment, Config = config, Model = model, Steps = log.Steps, Evaluations = log.Evaluations, Outcome = outcome,
            Snapshots = log.Snapshots, InputShape = shape, Outputs = outputs,
        };
        run.WriteMetrics(context, experiment);
        return run;
    }

    /// <summary>
    /// A run of <paramref name="experiment"/>'s own (its callbacks are its own, so no other experiment shares it), trained
    /// by <paramref name="train"/> once per context: the second stage over more seeds (<see cref="Experiment.Run"/>)
    /// gets the first stage's runs back instead of training them again.
    /// </summary>
    public static TrainedRun Once(ExperimentContext context, string experiment, string label, TrainConfig config, Func<RunProgress?, TrainedRun> train) =>
        context.Shared($"{experiment} {config.ToJson()}", experiment, label, config, train, out _);

    /// <summary>
    /// A run of the VGG setting (<see cref="Presets.Vgg"/>) that several experiments use: lr-sweep,
    /// activations, noisy-bn and lp-norm train some of the same configurations, so each trains once per
    /// context, recording its activation distributions (<see cref="ActivationLayers"/>), and later
    /// experiments reuse it under their own label, its metrics file written into their directory too. The
    /// VGG runs that ics, landscape and theory probe (<see cref="ProbedRuns"/>) carry their probes too,
    /// whichever experiment asks first, so each of those configurations is trained once.
    /// </summary>
    public static TrainedRun Shared(ExperimentContext context, string experiment, string label, TrainConfig config)
    {
        var run = context.Shared(config.ToJson(), experiment, label, config, progress =>
        {
            ActivationProbe? probe = null;
            IReadOnlyList<ITrainingCallback> probes = [];
            bool probed = ProbedRuns.IsProbedVgg(context, config);
            int every = Math.Max(1, config.Steps / 50);
            return Train(context, experiment, label, config, t =>
            {
                probe = new ActivationProbe(t.Model, ActivationLayers(t.Model), every);
                probes = probed ? ProbedRuns.Attach(t, ProbedNetwork.Vgg, context.Preset) : [];
                return [probe, .. probes];
            }, progress: progress) with { Activations = probe, Probes = probes };
        }, out bool own);
        if (own) return run;
        context.Progress.Message(experiment, $"{label}: the same run as {run.Experiment}'s \"{run.Label}\", reused");
        run = run with { Label = label };
        run.WriteMetrics(context, experiment);
        return run;
    }

    /// <summary>The layers whose activations shared runs record: the paper's #3, #9 and #13 of VGG-16's 13 convs, scaled to this model (all weight layers but the head).</summary>
    public static int[] ActivationLayers(Module model) => WeightLayer.Scaled([3, 9, 13], 13, WeightLayer.Of(model).Count - 1);

    /// <summary>The steps after which every run keeps a copy of its model: a tenth and half of the way (cheap next to training; analyses of the model during training read them).</summary>
    public static int[] SnapshotSteps(TrainConfig config) => new[] { config.Steps / 10, config.Steps / 2 }.Where(s => s > 0).Distinct().ToArray();

    /// <summary>A fresh model as this run's was after <paramref name="step"/> steps: a snapshot step, or the last step done.</summary>
    public Module ModelAt(int step)
    {
        IReadOnlyList<StateEntry> state = step == Outcome.StepsDone ? Model.StateDict()
            : Snapshots.TryGetValue(step, out var kept) ? kept
            : throw new ArgumentException($"run '{Label}' has no copy of its model at step {step}; it has steps {string.Join(", ", Snapshots.Keys.Append(Outcome.StepsDone))}");
        var copy = Config.Model.Build(InputShape, Outputs, new Rng(Config.Seed));
        copy.LoadStateDict(state);
        return copy;
    }

    /// <summary>A label as a file name: "BN, lr 0.5" → "bn-lr-0.5".</summary>
    public static string FileName(string label) =>
        string.Join('-', label.ToLowerInvariant().Split([' ', ',', '/', '='], StringSplitOptions.RemoveEmptyEntries));

    void WriteMetrics(ExperimentContext context, string experiment)
    {
        string path = Path.Combine(context.DirectoryOf(experiment), FileName(Label) + ".metrics.csv");
        static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var evals = Evaluations.ToDictionary(e => e.Step);
        var lines = new List<string> { RunRecorder.MetricsHeader.Replace(",seconds", "") + ",test_loss,test_accuracy" };
        foreach (var s in Steps)
        {
            string test = evals.TryGetValue(s.Step + 1, out var e) ? $"{R(e.Loss)},{R(e.Accuracy)}" : ",";
            lines.Add($"{s.Step},{s.Epoch},{R(s.Loss)},{R(s.Accuracy)},{R(s.LearningRate)},{R(s.GradNorm)},{test}");
        }
        AtomicFile.WriteAllText(path, string.Join('\n', lines) + "\n");
    }

    sealed class Log(ExperimentContext context, string experiment, string label, int[] snapshotSteps) : ITrainingCallback
    {
        public List<StepMetrics> Steps { get; } = [];
        public List<EvalMetrics> Evaluations { get; } = [];
        public Dictionary<int, IReadOnlyList<StateEntry>> Snapshots { get; } = [];

        public void OnStep(Trainer trainer, StepMetrics m)
        {
            Steps.Add(m);
            if (snapshotSteps.Contains(m.Step + 1)) Snapshots[m.Step + 1] = ModelState.CopyOfStateDict(trainer.Model);
            context.Progress.Step(experiment, label, m);
        }

        public void OnEvaluation(Trainer trainer, EvalMetrics m) => Evaluations.Add(m);
    }
}
