using System.Diagnostics;
using System.Text.Json.Nodes;
using BatchNormLab.Data;
using BatchNormLab.Kernels;
using BatchNormLab.Runs;
using BatchNormLab.Training;
using Spectre.Console;

namespace BatchNormLab.Cli;

/// <summary>How one run ended, for the summary table.</summary>
sealed record RunReport(string Name, string Directory, TrainingOutcome Outcome, StepMetrics? Last, double Seconds, int StepsRun)
{
    /// <summary>The numbers the run database keeps of a training run.</summary>
    public Dictionary<string, double> Numbers() => new()
    {
        ["steps done"] = Outcome.StepsDone,
        ["diverged at step"] = Outcome.DivergedAtStep ?? double.NaN,
        ["last training loss"] = Last?.Loss ?? double.NaN,
        ["last training accuracy"] = Last?.Accuracy ?? double.NaN,
        ["test loss"] = Outcome.FinalEvaluation?.Loss ?? double.NaN,
        ["test accuracy"] = Outcome.FinalEvaluation?.Accuracy ?? double.NaN,
        ["seconds"] = Seconds,
    };

    /// <summary>One row per run on stdout (last batch's training loss/accuracy, test loss/accuracy, speed), then where the files are.</summary>
    public static void PrintTable(IReadOnlyList<RunReport> runs)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("run", "steps", "train loss", "train acc", "test loss", "test acc", "steps/s", "outcome");
        foreach (var r in runs)
        {
            var eval = r.Outcome.FinalEvaluation;
            table.AddRow(
                Markup.Escape(r.Name), r.Outcome.StepsDone.ToString(),
                r.Last is { } l ? l.Loss.ToString("G4") : "-",
                r.Last is { Accuracy: var a } && double.IsFinite(a) ? a.ToString("P1") : "-",
                eval is { } e ? e.Loss.ToString("G4") : "-",
                eval is { Accuracy: var t } && double.IsFinite(t) ? t.ToString("P2") : "-",
                (r.StepsRun / Math.Max(r.Seconds, 1e-9)).ToString("F1"),
                r.Outcome.Diverged ? $"[red]diverged at step {r.Outcome.DivergedAtStep}[/]" : "[green]done[/]");
        }
        AnsiConsole.Write(table);
        foreach (var r in runs) Console.WriteLine($"{r.Name}: metrics.csv, eval.csv, summary.json and the checkpoint in {Path.GetFullPath(r.Directory)}");
    }
}

/// <summary>One run from the command line: build, restore if resuming, train with progress, record. Ctrl+C checkpoints and stops.</summary>
static class TrainingSession
{
    public static RunReport Run(TrainConfig config, Dataset train, Dataset test, string outDir, bool resume)
    {
        using var threads = Threading.Use(config.Threads);
        var model = config.Model.Build(train.Inputs.Shape[1..], train.Labels is null ? train.Targets!.Size(1) : train.Classes, new Rng(config.Seed));
        var trainer = new Trainer(config, model, train, test);
        RunRecorder recorder;
        if (resume)
        {
            var contents = Checkpoint.Read(Path.Combine(outDir, Checkpoint.StateFile));
            CheckSameRun(contents.Config, config, outDir);
            recorder = RunRecorder.Resume(outDir, trainer, contents);
            Console.Error.WriteLine($"resuming {outDir} at step {contents.Step} of {config.Steps}");
        }
        else recorder = RunRecorder.Start(outDir, config);

        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += onCancel;
        var progress = new ProgressLine($"{config.Model.Name} {TrainCommand.NormName(config.Model.Options.Norm)}", config.Steps);
        int startStep = trainer.Step;
        trainer.Callbacks.Add(recorder);
        trainer.Callbacks.Add(progress);
        var clock = Stopwatch.StartNew();
        try
        {
            var outcome = trainer.Run(cancel: cancel.Token);
            progress.Finish(outcome);
            // A run that got to its end finishes normally, so its last checkpoint always comes with summary.json.
            if (cancel.IsCancellationRequested && trainer.Step < config.Steps)
            {
                Checkpoint.Save(outDir, trainer);
                Console.Error.WriteLine($"interrupted: checkpoint at step {trainer.Step} in {outDir}; continue with the same command and --resume");
                Environment.Exit(130);
            }
            recorder.Finish(trainer, outcome, clock.Elapsed.TotalSeconds);
            return new RunReport($"{config.Model.Name} {TrainCommand.NormName(config.Model.Options.Norm)}", outDir, outcome, recorder.Last, clock.Elapsed.TotalSeconds, trainer.Step - startStep);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            recorder.Dispose();
        }
    }

    /// <summary>A resumed run must be the same run: every setting equal except the number of steps.</summary>
    static void CheckSameRun(TrainConfig saved, TrainConfig given, string outDir)
    {
        var a = JsonNode.Parse(saved.ToJson())!.AsObject();
        var b = JsonNode.Parse((given with { Steps = saved.Steps }).ToJson())!.AsObject();
        var differences = a.Where(kv => !JsonNode.DeepEquals(kv.Value, b[kv.Key]))
            .Select(kv => $"{kv.Key}: {kv.Value?.ToJsonString()} in the checkpoint, {b[kv.Key]?.ToJsonString()} now").ToList();
        if (differences.Count > 0)
            throw new ArgumentException($"--resume: the run in {outDir} was started with other settings ({string.Join("; ", differences)}); repeat its original command with --resume");
    }
}
