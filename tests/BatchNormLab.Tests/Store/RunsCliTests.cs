namespace BatchNormLab.Tests.Store;

/// <summary><c>bnlab experiment</c> records into the run database; <c>runs list|show</c> and <c>report</c> read it back, as child processes.</summary>
public sealed class RunsCliTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-runs-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string Db => Path.Combine(dir, "x.db");

    [Fact]
    public void ExperimentIsRecordedListedShownAndReported()
    {
        var (code, stdout, stderr) = Cli.Run("experiment", "lr-sweep", "--preset", "tiny", "--out", dir, "--db", Db);
        Assert.True(code == 0, stderr);
        string report = Path.Combine(dir, "report.html");
        Assert.Contains($"report: {report}", stdout);
        Assert.Contains("recorded as run 1", stdout);
        Assert.True(File.Exists(Path.Combine(dir, "lr-sweep", "result.json")));
        Assert.Contains("lr-sweep: Santurkar et al. 2018, Fig. 1", File.ReadAllText(report));

        (code, stdout, stderr) = Cli.Run("runs", "list", "--db", Db);
        Assert.True(code == 0, stderr);
        var row = stdout.Split('\n').Single(l => l.Contains("experiment"));
        Assert.Contains("finished", row);
        Assert.Contains("tiny", row);

        (code, stdout, stderr) = Cli.Run("runs", "show", "1", "--db", Db);
        Assert.True(code == 0, stderr);
        foreach (var expected in new[] { "bnlab experiment lr-sweep --preset tiny", "finished", "larger rate", "BN, lr 0.1: test accuracy (mean over seeds)", "result.json", "report.html" })
            Assert.Contains(expected, stdout);

        // a second run, then one report of both side by side
        (code, _, stderr) = Cli.Run("experiment", "lr-sweep", "--preset", "tiny", "--seed", "1", "--out", Path.Combine(dir, "second"), "--db", Db);
        Assert.True(code == 0, stderr);
        string compared = Path.Combine(dir, "compared.html");
        (code, stdout, stderr) = Cli.Run("report", "1", "2", "--db", Db, "--out", compared);
        Assert.True(code == 0, stderr);
        Assert.Contains(compared, stdout);
        string html = File.ReadAllText(compared);
        Assert.Contains("Runs compared", html);
        Assert.Contains("run 1 · lr-sweep", html);
        Assert.Contains("run 2 · lr-sweep", html);

        // unknown id: a bad argument, one line naming it
        (code, stdout, stderr) = Cli.Run("runs", "show", "99", "--db", Db);
        Assert.Equal(2, code);
        Assert.Contains("no run 99", stderr);
        Assert.DoesNotContain("   at ", stderr + stdout);
    }

    [Fact]
    public void TrainRunsAreRecordedWithTheirNumbersAndFiles()
    {
        string outDir = Path.Combine(dir, "train");
        var (code, stdout, stderr) = Cli.Run("train", "--model", "mlp", "--hidden", "16", "--norm", "bn,l1", "--dataset", "gaussian-mixture", "--steps", "20", "--out", outDir, "--db", Db);
        Assert.True(code == 0, stderr);
        Assert.Contains("recorded as run 1", stdout);
        (code, stdout, stderr) = Cli.Run("runs", "show", "1", "--db", Db);
        Assert.True(code == 0, stderr);
        foreach (var expected in new[] { "train", "finished", "mlp bn", "mlp l1", "test accuracy", Path.Combine(outDir, "l1", "model.safetensors") })
            Assert.Contains(expected, stdout);
    }

    [Fact]
    public void MissingOrForeignDatabaseIsOneLineNamingTheFile()
    {
        string missing = Path.Combine(dir, "none.db");
        foreach (var args in new[] { new[] { "runs", "list" }, ["runs", "show", "1"], ["report", "1"] })
        {
            var (code, stdout, stderr) = Cli.Run([.. args, "--db", missing]);
            Assert.Equal(1, code);
            Assert.Contains(missing, stderr);
            Assert.DoesNotContain("   at ", stderr + stdout);
        }
        Assert.False(File.Exists(missing));

        string foreign = Path.Combine(dir, "foreign.db");
        File.WriteAllText(foreign, new string('x', 4096));
        var (c, o, e) = Cli.Run("runs", "list", "--db", foreign);
        Assert.Equal(1, c);
        Assert.Equal($"bnlab: {foreign}: not a SQLite database", e.Trim());
        Assert.DoesNotContain("   at ", e + o);
    }
}
