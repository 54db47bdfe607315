using System.Text.Json;

namespace BatchNormLab.Tests;

/// <summary><c>--json</c> on train, eval, runs list and runs show: one JSON document on stdout with the numbers the tables show.</summary>
public sealed class JsonCliTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-json-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void TrainEvalAndRunsPrintOneJsonDocumentWithTheTablesNumbers()
    {
        string db = Path.Combine(dir, "runs.db"), run = Path.Combine(dir, "run");
        var (code, stdout, stderr) = Cli.Run("train", "--model", "mlp", "--hidden", "16", "--norm", "bn", "--dataset", "gaussian-mixture", "--batch-size", "32",
            "--steps", "20", "--seed", "1", "--threads", "1", "--out", run, "--db", db, "--json");
        Assert.True(code == 0, stderr);
        using var train = JsonDocument.Parse(stdout); // the whole of stdout: nothing else is printed there
        var trained = train.RootElement.GetProperty("runs")[0];
        Assert.Equal(20, trained.GetProperty("steps_done").GetInt32());
        Assert.Equal(JsonValueKind.Null, trained.GetProperty("diverged_at_step").ValueKind);
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "summary.json")));
        double accuracy = summary.RootElement.GetProperty("test_accuracy").GetDouble();
        Assert.Equal(accuracy, trained.GetProperty("test_accuracy").GetDouble());
        long id = train.RootElement.GetProperty("run").GetInt64();

        (code, stdout, stderr) = Cli.Run("eval", "--checkpoint", run, "--threads", "1", "--json");
        Assert.True(code == 0, stderr);
        using var eval = JsonDocument.Parse(stdout);
        Assert.Equal(accuracy, eval.RootElement.GetProperty("test_accuracy").GetDouble());
        Assert.Equal(20, eval.RootElement.GetProperty("step").GetInt32());
        Assert.Equal("bn", eval.RootElement.GetProperty("norm").GetString());

        (code, stdout, stderr) = Cli.Run("runs", "list", "--db", db, "--json");
        Assert.True(code == 0, stderr);
        using var list = JsonDocument.Parse(stdout);
        var listed = Assert.Single(list.RootElement.EnumerateArray());
        Assert.Equal(id, listed.GetProperty("id").GetInt64());
        Assert.Equal("train", listed.GetProperty("kind").GetString());
        Assert.Equal("finished", listed.GetProperty("status").GetString());

        (code, stdout, stderr) = Cli.Run("runs", "show", $"{id}", "--db", db, "--json");
        Assert.True(code == 0, stderr);
        using var show = JsonDocument.Parse(stdout);
        var numbers = show.RootElement.GetProperty("numbers").EnumerateArray().ToDictionary(n => n.GetProperty("name").GetString()!, n => n.GetProperty("value"));
        Assert.Equal(accuracy, numbers["test accuracy"].GetDouble());
        Assert.Equal("NaN", numbers["diverged at step"].GetString()); // not a number: a string, as JSON has no NaN
        Assert.Contains(show.RootElement.GetProperty("files").EnumerateArray(), f => f.GetString()!.EndsWith("summary.json", StringComparison.Ordinal));
    }
}
