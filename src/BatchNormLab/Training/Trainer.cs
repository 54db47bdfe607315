using System.Diagnostics;
using BatchNormLab.Data;
using BatchNormLab.Nn;

namespace BatchNormLab.Training;

/// <summary>What one training step measured. Accuracy is NaN for regression.</summary>
/// <param name="Step">The step's 0-based index.</param>
/// <param name="Epoch">The epoch the batch came from.</param>
/// <param name="Loss">The batch's mean loss, before the update.</param>
/// <param name="Accuracy">Fraction of the batch classified correctly.</param>
/// <param name="LearningRate">The scheduled rate of this step.</param>
/// <param name="GradNorm">‖∇‖₂ over all parameters; NaN when the loss was not finite (no backward ran).</param>
/// <param name="Seconds">Wall-clock seconds since the current <see cref="Trainer.Run"/> call began.</param>
public sealed record StepMetrics(int Step, int Epoch, double Loss, double Accuracy, double LearningRate, double GradNorm, double Seconds);

/// <summary>Loss and accuracy over a whole evaluation set, in eval mode.</summary>
/// <param name="Step">Steps done when the evaluation ran.</param>
/// <param name="Loss">Mean loss per example.</param>
/// <param name="Accuracy">Fraction classified correctly; NaN for regression.</param>
public sealed record EvalMetrics(int Step, double Loss, double Accuracy);

/// <summary>Hooks for experiments and front ends; every method is optional.</summary>
public interface ITrainingCallback
{
    /// <summary>Before step <paramref name="step"/>'s forward pass, with its batch.</summary>
    void OnBatch(Trainer trainer, int step, Batch batch) { }
    /// <summary>After the gradient of step <c>metrics.Step</c> is known, before the optimizer applies it.</summary>
    void OnGradient(Trainer trainer, StepMetrics metrics) { }
    /// <summary>After the update of step <c>metrics.Step</c>.</summary>
    void OnStep(Trainer trainer, StepMetrics metrics) { }
    /// <summary>After each evaluation on the test set.</summary>
    void OnEvaluation(Trainer trainer, EvalMetrics metrics) { }
    /// <summary>After step <c>metrics.Step</c> and the evaluation due at <see cref="Trainer.Step"/>, if any: the state a checkpoint must capture.</summary>
    void OnStepDone(Trainer trainer, StepMetrics metrics) { }
}

/// <summary>How a run ended.</summary>
/// <param name="StepsDone">Steps completed when the run stopped.</param>
/// <param name="Diverged">Whether the run stopped because it diverged.</param>
/// <param name="DivergedAtStep">The step whose loss or gradient diverged; null otherwise.</param>
/// <param name="DivergenceReason">Why the run was judged diverged; null otherwise.</param>
/// <param name="FinalEvaluation">The last evaluation of this run call; null when none ran or the run diverged.</param>
public sealed record TrainingOutcome(int StepsDone, bool Diverged, int? DivergedAtStep, string? DivergenceReason, EvalMetrics? FinalEvaluation);

/// <summary>
/// The training loop: for each step, a batch from the seeded loader (epoch = step / batches per epoch,
/// so a resumed run sees the same batches), forward in training mode, loss, backward, gradient norm,
/// learning rate from the schedule, SGD update; evaluation every <see cref="TrainConfig.EvalEvery"/> steps.
/// A non-finite loss or gradient, or a loss above DivergenceFactor × the first loss, stops the run
/// as diverged: a result, not an exception.
/// </summary>
public sealed class Trainer
{
    /// <summary>The run's settings, validated at construction.</summary>
    public TrainConfig Config { get; }
    /// <summary>The model being trained, in place.</summary>
    public Module Model { get; }
    /// <summary>SGD over the model's parameters, with the config's momentum, weight decay and Nesterov flag (no dampening).</summary>
    public Sgd Optimizer { get; }
    /// <summary>The learning-rate schedule built from the config.</summary>
    public Schedule Schedule { get; }
    /// <summary>The training batches: shuffled by the config's seed, last partial batch dropped, augmented when configured.</summary>
    public DataLoader Loader { get; }
    /// <summary>The evaluation set, or null to train without evaluating.</summary>
    public Dataset? TestSet { get; }
    /// <summary>Hooks called during <see cref="Run"/>, in list order.</summary>
    public List<ITrainingCallback> Callbacks { get; } = [];

    /// <summary>The next step to run (steps done so far).</summary>
    public int Step { get; private set; }

    /// <summary>The loss of step 0, the reference for divergence; restored on resume.</summary>
    public double FirstLoss { get; private set; } = double.NaN;

    /// <summary>Validates <paramref name="config"/> and sets up the optimizer, schedule and loader for training <paramref name="model"/> on <paramref name="train"/>, evaluating on <paramref name="test"/>.</summary>
    public Trainer(TrainConfig config, Module model, Dataset train, Dataset? test)
    {
        config.Validate();
        (Config, Model, TestSet) = (config, model, test);
        Optimizer = new Sgd(model.Parameters(), config.LearningRate, config.Momentum, 0, config.WeightDecay, config.Nesterov);
        Schedule = config.MakeSchedule();
        Loader = new DataLoader(train, config.BatchSize, shuffle: true, dropLast: true, config.Seed, config.Augment ? new Augment() : null);
    }

    /// <summary>Continues from a restored state (see <see cref="Checkpoint"/>).</summary>
    public void Restore(int step, double firstLoss)
    {
        if (step < 0 || step > Config.Steps) throw new ArgumentOutOfRangeException(nameof(step), step, $"a checkpoint step must be within the run's {Config.Steps} steps");
        (Step, FirstLoss) = (step, firstLoss);
    }

    /// <summary>Runs until <see cref="TrainConfig.Steps"/> (or <paramref name="until"/>), divergence, or cancellation.</summary>
    public TrainingOutcome Run(int? until = null, CancellationToken cancel = default)
    {
        int end = Math.Min(until ?? Config.Steps, Config.Steps);
        var clock = Stopwatch.StartNew();
        EvalMetrics? last = null;
        while (Step < end && !cancel.IsCancellationRequested)
        {
            int epoch = Step / Loader.BatchesPerEpoch;
            foreach (var batch in Loader.Epoch(epoch, Step % Loader.BatchesPerEpoch))
            {
                if (Step >= end || cancel.IsCancellationRequested) break;
                var metrics = TrainStep(batch, epoch, clock);
                if (Diverged(metrics) is string reason)
                    return new TrainingOutcome(Step, true, metrics.Step, reason, null);
                Step++;
                foreach (var c in Callbacks) c.OnStep(this, metrics);
                if (TestSet is not null && (Step == Config.Steps || Config.EvalEvery > 0 && Step % Config.EvalEvery == 0))
                    last = Evaluate();
                foreach (var c in Callbacks) c.OnStepDone(this, metrics);
            }
        }
        // Restored at its end: the run that got there evaluated before its checkpoint, so report without recording it again.
        if (Step == Config.Steps && last is null && TestSet is not null) last = Evaluate(Model, TestSet, Config.Loss, Config.BatchSize, Step);
        return new TrainingOutcome(Step, false, null, null, last);
    }

    StepMetrics TrainStep(Batch batch, int epoch, Stopwatch clock)
    {
        foreach (var c in Callbacks) c.OnBatch(this, Step, batch);
        Model.Train();
        Model.ZeroGrad();
        var output = Model.Forward(batch.Inputs);
        var loss = LossOf(output, batch);
        double lossValue = loss.Item();
        double accuracy = batch.Labels is { } labels ? Accuracy(output, labels) : double.NaN;
        if (Step == 0 || double.IsNaN(FirstLoss)) FirstLoss = lossValue;
        double rate = Schedule.At(Step);
        double gradNorm = double.NaN;
        if (double.IsFinite(lossValue))
        {
            loss.Backward();
            gradNorm = GradientNorm(Optimizer.Parameters);
        }
        var metrics = new StepMetrics(Step, epoch, lossValue, accuracy, rate, gradNorm, clock.Elapsed.TotalSeconds);
        foreach (var c in Callbacks) c.OnGradient(this, metrics);
        if (double.IsFinite(gradNorm))
        {
            Optimizer.LearningRate = rate;
            Optimizer.Step();
        }
        return metrics;
    }

    string? Diverged(StepMetrics m)
    {
        if (!double.IsFinite(m.Loss)) return $"loss is {m.Loss}";
        if (!double.IsFinite(m.GradNorm)) return $"gradient norm is {m.GradNorm}";
        if (m.Loss > Config.DivergenceFactor * Math.Max(FirstLoss, 1e-12)) return $"loss {m.Loss:G4} exceeds {Config.DivergenceFactor:G3} × the first loss {FirstLoss:G4}";
        return null;
    }

    Tensor LossOf(Tensor output, Batch batch) => TrainingLoss.Of(Config.Loss, output, batch, Config.Dataset);

    /// <summary>Test loss and accuracy in eval mode, over the whole test set in batches; the model goes back to training mode.</summary>
    public EvalMetrics Evaluate()
    {
        var metrics = Evaluate(Model, TestSet ?? throw new InvalidOperationException("no test set"), Config.Loss, Config.BatchSize, Step);
        foreach (var c in Callbacks) c.OnEvaluation(this, metrics);
        return metrics;
    }

    /// <summary>Mean loss and accuracy of <paramref name="model"/> over <paramref name="data"/> in eval mode, in batches of at least 256, labelled with <paramref name="step"/>; the model goes back to training mode.</summary>
    public static EvalMetrics Evaluate(Module model, Dataset data, LossKind loss, int batchSize, int step)
    {
        model.Eval();
        double lossSum = 0, correct = 0;
        using (Autograd.NoGrad())
        {
            var loader = new DataLoader(data, Math.Max(batchSize, 256), shuffle: false, dropLast: false, seed: 0);
            foreach (var batch in loader.Epoch(0))
            {
                var output = model.Forward(batch.Inputs);
                int n = batch.Inputs.Size(0);
                lossSum += n * TrainingLoss.Of(loss, output, batch).Item();
                if (batch.Labels is { } labels) correct += Accuracy(output, labels) * n;
            }
        }
        model.Train();
        return new EvalMetrics(step, lossSum / data.Count, data.Labels is null ? double.NaN : correct / data.Count);
    }

    /// <summary>Fraction of rows whose largest logit is at the label (first maximum on ties).</summary>
    public static double Accuracy(Tensor logits, int[] labels)
    {
        int n = logits.Size(0), classes = logits.Size(1), hits = 0;
        var values = logits.ToFloatArray();
        for (int i = 0; i < n; i++)
        {
            int best = 0;
            for (int j = 1; j < classes; j++) if (values[i * classes + j] > values[i * classes + best]) best = j;
            if (best == labels[i]) hits++;
        }
        return (double)hits / n;
    }

    /// <summary>‖∇‖₂ over all parameters, summed in double in parameter order.</summary>
    public static double GradientNorm(IReadOnlyList<Tensor> parameters)
    {
        double sum = 0;
        foreach (var p in parameters)
        {
            if (p.Grad is not { } g) continue;
            if (g.DType == DType.Float32) foreach (float v in g.FloatSpan) sum += (double)v * v;
            else foreach (double v in g.DoubleSpan) sum += v * v;
        }
        return Math.Sqrt(sum);
    }
}
