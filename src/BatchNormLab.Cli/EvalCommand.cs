using System.CommandLine;
using BatchNormLab.Data;
using BatchNormLab.Kernels;
using BatchNormLab.Training;
using Spectre.Console;

using BatchNormLab.IO;

namespace BatchNormLab.Cli;

/// <summary><c>bnlab eval --checkpoint PATH</c>: rebuilds the model from the checkpoint's config and reports test loss and accuracy.</summary>
static class EvalCommand
{
    static readonly Option<string> CheckpointPath = new("--checkpoint") { Description = "checkpoint.safetensors, model.safetensors, or a run directory", Required = true };
    static readonly Option<string?> DataDir = new("--data") { Description = "Directory with the dataset's files (else $BNLAB_DATA, else the Debian location)" };
    static readonly Option<int> Threads = new("--threads") { Description = "Compute threads", DefaultValueFactory = _ => Math.Min(2, Environment.ProcessorCount) };

    public static Command Create()
    {
        var command = new Command("eval", "Test loss and accuracy of a saved model on its dataset's test set.") { CheckpointPath, DataDir, Threads, JsonOutput.Option };
        command.SetAction(Run);
        return command;
    }

    static int Run(ParseResult p)
    {
        string path = p.GetValue(CheckpointPath)!;
        var contents = Checkpoint.Read(path);
        var config = contents.Config;
        if (p.GetValue(Threads) < 1) throw new ArgumentException($"--threads {p.GetValue(Threads)}: must be ≥ 1");
        using var threads = Threading.Use(p.GetValue(Threads));
        var (train, test) = DatasetCatalog.Load(config.Dataset, p.GetValue(DataDir), config.Seed);
        if (config.TestLimit > 0) test = test.Take(config.TestLimit);
        var model = config.Model.Build(train.Inputs.Shape[1..], train.Labels is null ? train.Targets!.Size(1) : train.Classes, new Rng(config.Seed));
        try { model.LoadStateDict(contents.Model); }
        catch (ArgumentException e) { throw new DataException($"{path}: does not fit a {config.Model.Name} model: {e.Message}"); }
        var metrics = Trainer.Evaluate(model, test, config.Loss, config.BatchSize, contents.Step);
        if (p.GetValue(JsonOutput.Option))
        {
            JsonOutput.Print(new
            {
                Checkpoint = Path.GetFullPath(path), Model = config.Model.Name, Norm = TrainCommand.NormName(config.Model.Options.Norm), config.Dataset,
                TestExamples = test.Count, contents.Step, TestLoss = metrics.Loss, TestAccuracy = metrics.Accuracy,
            });
            return ExitCodes.Ok;
        }
        var table = new Table().Border(TableBorder.Rounded).AddColumns("", "");
        table.AddRow("checkpoint", Markup.Escape(Path.GetFullPath(path)));
        table.AddRow("model", Markup.Escape($"{config.Model.Name} {TrainCommand.NormName(config.Model.Options.Norm)}"));
        table.AddRow("dataset", $"{config.Dataset} test set, {test.Count} examples");
        table.AddRow("step", contents.Step.ToString());
        table.AddRow("test loss", metrics.Loss.ToString("G6"));
        if (!double.IsNaN(metrics.Accuracy)) table.AddRow("test accuracy", metrics.Accuracy.ToString("P2"));
        AnsiConsole.Write(table);
        return ExitCodes.Ok;
    }
}
