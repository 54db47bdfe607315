using System.Text.Json;
using BatchNormLab.IO;

namespace BatchNormLab.Runs;

/// <summary>
/// Keeps a run's files in its output directory: config.json, metrics.csv (one row per step),
/// eval.csv, a checkpoint every <see cref="TrainConfig.CheckpointEvery"/> steps and at the end,
/// and summary.json. A checkpoint at step k is taken after step k's evaluation, so it follows metrics rows
/// 0..k−1 and evaluations up to k; on resume the CSVs are cut back to exactly those rows, so the files
/// read as if the run had never stopped, wherever it was killed. Numbers are written round-trip exact ("R").
/// </summary>
public sealed class RunRecorder : ITrainingCallback, IDisposable
{
    /// <summary>The header of metrics.csv: one row per training step (0-based), its columns those of <see cref="StepMetrics"/>.</summary>
    public const string MetricsHeader = "step,epoch,loss,accuracy,lr,grad_norm,seconds";
    /// <summary>The header of eval.csv: one row per test evaluation, numbered by the steps done before it.</summary>
    public const string EvalHeader = "step,test_loss,test_accuracy";

    readonly string directory;
    readonly StreamWriter metrics, evaluations;

    /// <summary>The run's output directory.</summary>
    public string Directory => directory;

    /// <summary>The last step recorded by this recorder, for summary.json.</summary>
    public StepMetrics? Last { get; private set; }

    RunRecorder(string directory, int fromStep)
    {
        this.directory = directory;
        // Metrics rows are numbered by the step that ran (0-based), evaluations by the steps done before them.
        metrics = OpenCsv("metrics.csv", MetricsHeader, keepBelow: fromStep);
        evaluations = OpenCsv("eval.csv", EvalHeader, keepBelow: fromStep + 1);
    }

    /// <summary>A new run: refuses a directory that already holds a checkpoint (resume it, or choose another).</summary>
    public static RunRecorder Start(string directory, TrainConfig config)
    {
        if (File.Exists(Path.Combine(directory, Checkpoint.StateFile)))
            throw new DataException($"{Path.GetFullPath(directory)} already holds a run's checkpoint; pass --resume to continue it, or another --out");
        System.IO.Directory.CreateDirectory(directory);
        foreach (var file in new[] { "metrics.csv", "eval.csv", "summary.json" }) File.Delete(Path.Combine(directory, file));
        AtomicFile.WriteAllText(Path.Combine(directory, "config.json"), config.ToJson());
        return new RunRecorder(directory, 0);
    }

    /// <summary>Continues the run in <paramref name="directory"/>: puts its checkpoint into the trainer and cuts the CSVs back to the checkpoint's step.</summary>
    public static RunRecorder Resume(string directory, Trainer trainer, Checkpoint.Contents checkpoint)
    {
        Checkpoint.Restore(trainer, checkpoint, directory);
        return new RunRecorder(directory, checkpoint.Step);
    }

    StreamWriter OpenCsv(string name, string header, int keepBelow)
    {
        string path = Path.Combine(directory, name);
        var keep = new List<string> { header };
        if (File.Exists(path))
        {
            // Rows the checkpoint follows stay; later ones (and a torn last line) are redone.
            foreach (var line in File.ReadLines(path).Skip(1))
            {
                var cells = line.Split(',');
                if (cells.Length == header.Split(',').Length && int.TryParse(cells[0], CultureInfo.InvariantCulture, out int s) && s < keepBelow) keep.Add(line);
            }
        }
        AtomicFile.WriteAllText(path, string.Join('\n', keep) + "\n");
        return new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
    }

    static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Appends the step's row to metrics.csv.</summary>
    public void OnStep(Trainer trainer, StepMetrics m)
    {
        metrics.WriteLine($"{m.Step},{m.Epoch},{R(m.Loss)},{R(m.Accuracy)},{R(m.LearningRate)},{R(m.GradNorm)},{m.Seconds.ToString("F3", CultureInfo.InvariantCulture)}");
        Last = m;
    }

    /// <summary>Appends the evaluation's row to eval.csv.</summary>
    public void OnEvaluation(Trainer trainer, EvalMetrics m) => evaluations.WriteLine($"{m.Step},{R(m.Loss)},{R(m.Accuracy)}");

    /// <summary>After the step's evaluation, so that a resumed run never has to redo one.</summary>
    public void OnStepDone(Trainer trainer, StepMetrics m)
    {
        int every = trainer.Config.CheckpointEvery;
        if (every > 0 && trainer.Step % every == 0 && trainer.Step < trainer.Config.Steps) Checkpoint.Save(directory, trainer);
    }

    /// <summary>summary.json, then the final checkpoint: a run killed between the two resumes from an earlier one and writes both again.</summary>
    public void Finish(Trainer trainer, TrainingOutcome outcome, double seconds)
    {
        var summary = new Dictionary<string, object?>
        {
            ["steps_done"] = outcome.StepsDone,
            ["diverged"] = outcome.Diverged,
            ["diverged_at_step"] = outcome.DivergedAtStep,
            ["divergence_reason"] = outcome.DivergenceReason,
            ["final_train_loss"] = Finite(Last?.Loss),
            ["final_train_accuracy"] = Finite(Last?.Accuracy),
            ["test_loss"] = Finite(outcome.FinalEvaluation?.Loss),
            ["test_accuracy"] = Finite(outcome.FinalEvaluation?.Accuracy),
            ["seconds"] = Math.Round(seconds, 3),
        };
        AtomicFile.WriteAllText(Path.Combine(directory, "summary.json"), JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }));
        if (!outcome.Diverged) Checkpoint.Save(directory, trainer);
    }

    /// <summary>JSON has no NaN or infinity: those become null.</summary>
    static double? Finite(double? v) => v is double x && double.IsFinite(x) ? x : null;

    /// <summary>Closes metrics.csv and eval.csv.</summary>
    public void Dispose()
    {
        metrics.Dispose();
        evaluations.Dispose();
    }
}
