using System.Globalization;
using BatchNormLab.Data;
using BatchNormLab.IO;
using BatchNormLab.Nn;
using BatchNormLab.Training;

namespace BatchNormLab.Experiments;

/// <summary>One training run inside an experiment: its config, the model after training, and every step's and evaluation's metrics.</summary>
public sealed class TrainedRun
{
    public required string Label { get; init; }
    public required TrainConfig Config { get; init; }
    public required Module Model { get; init; }
    public required List<StepMetrics> Steps { get; init; }
    public required List<EvalMetrics> Evaluations { get; init; }
    public required TrainingOutcome Outcome { get; init; }

    /// <summary>Final test accuracy, or NaN when the run diverged or had no evaluation.</summary>
    public double TestAccuracy => Outcome.Diverged ? double.NaN : Outcome.FinalEvaluation?.Accuracy ?? double.NaN;

    /// <summary>Mean training loss over the last <paramref name="window"/> steps (NaN when diverged).</summary>
    public double FinalTrainLoss(int window = 20) =>
        Outcome.Diverged || Steps.Count == 0 ? double.NaN : Steps.TakeLast(window).Average(s => s.Loss);

    /// <summary>Trains <paramref name="config"/> on the context's data, with extra callbacks, reporting progress; writes the run's metrics.csv.</summary>
    public static TrainedRun Train(ExperimentContext context, string experiment, string label, TrainConfig config,
        Func<Trainer, IEnumerable<ITrainingCallback>>? callbacks = null, Func<Module, Module>? adapt = null)
    {
        var (train, test) = context.Data(config.Dataset);
        if (config.TrainLimit > 0 && config.TrainLimit < train.Count) train = train.Take(config.TrainLimit);
        if (config.TestLimit > 0 && config.TestLimit < test.Count) test = test.Take(config.TestLimit);
        var model = config.Model.Build(train.Inputs.Shape[1..], train.Labels is null ? train.Targets!.Size(1) : train.Classes, new Rng(config.Seed));
        if (adapt is not null) model = adapt(model);
        var trainer = new Trainer(config, model, train, test);
        var log = new Log(context, experiment, label);
        trainer.Callbacks.Add(log);
        if (callbacks is not null) trainer.Callbacks.AddRange(callbacks(trainer));
        context.Progress.RunStarted(experiment, label, config.Steps);
        var outcome = trainer.Run();
        context.Progress.RunFinished(experiment, label, outcome);
        var run = new TrainedRun { Label = label, Config = config, Model = model, Steps = log.Steps, Evaluations = log.Evaluations, Outcome = outcome };
        run.WriteMetrics(Path.Combine(context.DirectoryOf(experiment), FileName(label) + ".metrics.csv"));
        return run;
    }

    /// <summary>A label as a file name: "BN, lr 0.5" → "bn-lr-0.5".</summary>
    public static string FileName(string label) =>
        string.Join('-', label.ToLowerInvariant().Split([' ', ',', '/', '='], StringSplitOptions.RemoveEmptyEntries));

    void WriteMetrics(string path)
    {
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

    sealed class Log(ExperimentContext context, string experiment, string label) : ITrainingCallback
    {
        public List<StepMetrics> Steps { get; } = [];
        public List<EvalMetrics> Evaluations { get; } = [];

        public void OnStep(Trainer trainer, StepMetrics m)
        {
            Steps.Add(m);
            context.Progress.Step(experiment, label, m);
        }

        public void OnEvaluation(Trainer trainer, EvalMetrics m) => Evaluations.Add(m);
    }
}
