using System.Text.Json.Nodes;
using BatchNormLab.Data;
using BatchNormLab.Models;
using BatchNormLab.Runs;
using BatchNormLab.Training;

namespace BatchNormLab.Tests;

/// <summary>
/// A run killed at any point and resumed from its directory writes the same files as one never stopped.
/// The kill is an exception thrown from a callback placed after the recorder, so the files are left
/// exactly as a kill at that hook would leave them, with no race against a child process.
/// </summary>
public sealed class ResumeTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-resume-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    static readonly TrainConfig Config = new()
    {
        Model = new ModelSpec("mlp", new ModelOptions(Norm.BatchNorm), [32, 16]),
        Dataset = "gaussian-mixture", Steps = 60, BatchSize = 32, LearningRate = 0.05, Momentum = 0.9, Seed = 3,
        CheckpointEvery = 10, EvalEvery = 20,
    };

    public enum Hook { Batch, Gradient, Step, Evaluation, StepDone }

    sealed class Killed : Exception;

    /// <summary>Throws at <paramref name="hook"/> of the step numbered <paramref name="step"/> (0-based, as in metrics.csv).</summary>
    sealed class Kill(Hook hook, int step) : ITrainingCallback
    {
        public void OnBatch(Trainer trainer, int s, Batch batch) => At(Hook.Batch, s);
        public void OnGradient(Trainer trainer, StepMetrics m) => At(Hook.Gradient, m.Step);
        public void OnStep(Trainer trainer, StepMetrics m) => At(Hook.Step, m.Step);
        public void OnEvaluation(Trainer trainer, EvalMetrics m) => At(Hook.Evaluation, m.Step - 1);
        public void OnStepDone(Trainer trainer, StepMetrics m) => At(Hook.StepDone, m.Step);
        void At(Hook h, int s) { if (h == hook && s == step) throw new Killed(); }
    }

    /// <summary>Trains in <paramref name="run"/> as bnlab train does: resumes from its checkpoint if it has one.</summary>
    static void Train(string run, Kill? kill = null)
    {
        var (train, test) = DatasetCatalog.Load(Config.Dataset, null, Config.Seed);
        var trainer = new Trainer(Config, Config.Model.Build(train.Inputs.Shape[1..], train.Classes, new Rng(Config.Seed)), train, test);
        using var recorder = File.Exists(Path.Combine(run, Checkpoint.StateFile))
            ? RunRecorder.Resume(run, trainer, Checkpoint.Read(run))
            : RunRecorder.Start(run, Config);
        trainer.Callbacks.Add(recorder);
        if (kill is not null) trainer.Callbacks.Add(kill);
        recorder.Finish(trainer, trainer.Run(), seconds: 0);
    }

    [Theory]
    [InlineData(Hook.Step, 39, 0)]        // metrics row 39 written; evaluation 40 and checkpoint 40 not yet
    [InlineData(Hook.Step, 39, 3)]        // ... and that row torn mid-number
    [InlineData(Hook.Evaluation, 39, 0)]  // evaluation row 40 written, checkpoint 40 not yet
    [InlineData(Hook.Evaluation, 39, 3)]  // ... and that row torn
    [InlineData(Hook.StepDone, 39, 0)]    // right after checkpoint 40 (an evaluation step)
    [InlineData(Hook.StepDone, 29, 0)]    // right after checkpoint 30 (no evaluation)
    [InlineData(Hook.Gradient, 44, 0)]    // mid-way between checkpoints
    [InlineData(Hook.Batch, 50, 0)]       // right after checkpoint 50, before the next step
    [InlineData(Hook.Evaluation, 59, 0)]  // the final evaluation written, before summary.json and the final checkpoint
    public void KilledAnywhereAndResumedEqualsAnUninterruptedRun(Hook hook, int step, int tornBytes)
    {
        string whole = Path.Combine(dir, "whole"), killed = Path.Combine(dir, "killed");
        Train(whole);
        Assert.Throws<Killed>(() => Train(killed, new Kill(hook, step)));
        if (tornBytes > 0)
        {
            string last = Path.Combine(killed, hook == Hook.Evaluation ? "eval.csv" : "metrics.csv");
            var bytes = File.ReadAllBytes(last);
            File.WriteAllBytes(last, bytes[..^tornBytes]);
        }
        Train(killed);
        AssertSameRun(whole, killed);
    }

    /// <summary>Every file of two runs equal, but for wall-clock seconds (metrics.csv's last column, summary.json's "seconds").</summary>
    internal static void AssertSameRun(string expected, string actual)
    {
        static List<string> WithoutTimes(string run) => File.ReadAllLines(Path.Combine(run, "metrics.csv")).Select(l => l[..l.LastIndexOf(',')]).ToList();
        static string Summary(string run)
        {
            var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "summary.json")))!.AsObject();
            summary.Remove("seconds");
            return summary.ToJsonString();
        }
        Assert.Equal(WithoutTimes(expected), WithoutTimes(actual));
        Assert.Equal(File.ReadAllLines(Path.Combine(expected, "eval.csv")), File.ReadAllLines(Path.Combine(actual, "eval.csv")));
        Assert.Equal(Summary(expected), Summary(actual));
        foreach (var file in new[] { Checkpoint.ModelFile, Checkpoint.StateFile })
            Assert.Equal(File.ReadAllBytes(Path.Combine(expected, file)), File.ReadAllBytes(Path.Combine(actual, file)));
    }
}
