using System.Diagnostics;
using BatchNormLab.Training;

namespace BatchNormLab.Cli;

/// <summary>
/// Live progress on stderr: one line rewritten in place on a terminal (step, loss, accuracy, steps/s,
/// ETA), or a line every 10% / 30 s when stderr is redirected; evaluations are printed as they come.
/// </summary>
sealed class ProgressLine(string name, int totalSteps) : ITrainingCallback
{
    readonly Stopwatch clock = Stopwatch.StartNew();
    readonly bool live = !Console.IsErrorRedirected;
    double lastPrint = double.NegativeInfinity;
    int firstStep = -1;
    double smoothedLoss = double.NaN, smoothedAccuracy = double.NaN;

    public void OnStep(Trainer trainer, StepMetrics m)
    {
        if (firstStep < 0) firstStep = m.Step;
        // An exponential average over ~20 steps: single-batch numbers jump too much to read.
        smoothedLoss = double.IsNaN(smoothedLoss) ? m.Loss : 0.95 * smoothedLoss + 0.05 * m.Loss;
        if (!double.IsNaN(m.Accuracy)) smoothedAccuracy = double.IsNaN(smoothedAccuracy) ? m.Accuracy : 0.95 * smoothedAccuracy + 0.05 * m.Accuracy;
        double now = clock.Elapsed.TotalSeconds;
        bool done = m.Step + 1 == totalSteps;
        bool due = live ? now - lastPrint >= 0.25 : now - lastPrint >= 30 || (m.Step + 1) % Math.Max(1, totalSteps / 10) == 0;
        if (!due && !done) return;
        lastPrint = now;
        double rate = (m.Step + 1 - firstStep) / Math.Max(now, 1e-9);
        double eta = (totalSteps - m.Step - 1) / Math.Max(rate, 1e-9);
        string accuracy = double.IsNaN(smoothedAccuracy) ? "" : $"  acc {smoothedAccuracy:P1}";
        string line = $"{name}  step {m.Step + 1}/{totalSteps}  epoch {m.Epoch}  loss {smoothedLoss:G4}{accuracy}  lr {m.LearningRate:G3}  {rate:F1} steps/s  ETA {Format(eta)}";
        if (live) Console.Error.Write("\r" + line.PadRight(Console.BufferWidth > 0 ? Math.Min(Console.BufferWidth - 1, 160) : 0));
        else Console.Error.WriteLine(line);
    }

    public void OnEvaluation(Trainer trainer, EvalMetrics m)
    {
        EndLine();
        string accuracy = double.IsNaN(m.Accuracy) ? "" : $"  test acc {m.Accuracy:P2}";
        Console.Error.WriteLine($"{name}  eval at step {m.Step}: test loss {m.Loss:G4}{accuracy}");
    }

    public void Finish(TrainingOutcome outcome)
    {
        EndLine();
        if (outcome.Diverged) Console.Error.WriteLine($"{name}  diverged at step {outcome.DivergedAtStep}: {outcome.DivergenceReason}");
    }

    void EndLine()
    {
        if (live && lastPrint > double.NegativeInfinity) Console.Error.WriteLine();
        lastPrint = live ? double.NegativeInfinity : lastPrint;
    }

    static string Format(double seconds) =>
        double.IsFinite(seconds) ? TimeSpan.FromSeconds(Math.Round(seconds)).ToString(seconds >= 3600 ? @"h\:mm\:ss" : @"m\:ss") : "?";
}
