using System.Diagnostics;
using BatchNormLab.Data;
using BatchNormLab.Experiments;
using BatchNormLab.IO;
using BatchNormLab.Store;
using BatchNormLab.Tests.Reports;
using Microsoft.Data.Sqlite;

namespace BatchNormLab.Tests.Store;

public sealed class RunStoreTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-store-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string Db => Path.Combine(dir, "sub", "runs.db");

    [Fact]
    public void RunsAndResultsRoundTrip()
    {
        var result = ExperimentReportTests.Result("lr-sweep", VerdictKind.Agrees);
        long id;
        using (var store = RunStore.Open(Db, create: true))
        {
            id = store.StartRun(RunKind.Reproduce, "bnlab reproduce --preset tiny", "tiny", ulong.MaxValue, 2, dir);
            Assert.Equal(RunStatus.Running, store.Run(id).Status);
            store.RecordExperiment(id, result, Path.Combine(dir, "lr-sweep"));
            store.RecordArtifact(id, null, Path.Combine(dir, "report.html"));
            store.FinishRun(id);
        }
        using (var store = RunStore.Open(Db, create: false))
        {
            var run = store.Run(id);
            Assert.Equal((RunKind.Reproduce, "bnlab reproduce --preset tiny", "tiny", ulong.MaxValue, 2, RunStatus.Finished, Environment.ProcessId),
                (run.Kind, run.CommandLine, run.Preset, run.Seed, run.Threads, run.Status, run.Pid));
            Assert.True(run.Seconds >= 0);
            var back = Assert.Single(store.Results(id));
            Assert.Equal(ResultJson.Serialize(result), ResultJson.Serialize(back));
            Assert.Equal(new RunVerdicts(1, 0, 0), store.Verdicts(id));
            // NaN survives though SQLite has none
            Assert.Equal([new StoredNumber("lr-sweep", "BN: accuracy", 0.9), new StoredNumber("lr-sweep", "standard: diverged loss", double.NaN)], store.Numbers(id));
            Assert.Equal([new StoredArtifact("lr-sweep", Path.Combine(dir, "lr-sweep", "a.csv")), new StoredArtifact(null, Path.Combine(dir, "report.html"))], store.Artifacts(id));
            Assert.Equal(id, Assert.Single(store.Runs()).Id);
            Assert.Equal("run " + id, store.ForReport(id).Label);
        }
    }

    [Fact]
    public void FailedRunKeepsItsMessageAndWhatItRecorded()
    {
        using var store = RunStore.Open(Db, create: true);
        long id = store.StartRun(RunKind.Experiment, "bnlab experiment ics", "quick", 0, 1, null);
        store.RecordExperiment(id, ExperimentReportTests.Result("ics", VerdictKind.Inconclusive), dir);
        store.FailRun(id, "out of memory");
        var run = store.Run(id);
        Assert.Equal((RunStatus.Failed, "out of memory"), (run.Status, run.Error));
        Assert.Single(store.Results(id));
    }

    [Fact]
    public void RunningRowWhoseProcessIsGoneShowsAsCrashed()
    {
        int deadPid;
        using (var child = Process.Start(new ProcessStartInfo("dotnet", "--version") { RedirectStandardOutput = true })!)
        {
            child.StandardOutput.ReadToEnd();
            child.WaitForExit();
            deadPid = child.Id;
        }
        long dead, alive, elsewhere;
        using (var store = RunStore.Open(Db, create: true))
        {
            dead = store.StartRun(RunKind.Train, "bnlab train", null, null, null, null);
            alive = store.StartRun(RunKind.Train, "bnlab train", null, null, null, null);
            elsewhere = store.StartRun(RunKind.Train, "bnlab train", null, null, null, null);
        }
        Rewrite($"UPDATE runs SET pid = {deadPid} WHERE id = {dead}");
        Rewrite($"UPDATE runs SET pid = {deadPid}, machine = 'another-machine' WHERE id = {elsewhere}");

        using var reopened = RunStore.Open(Db, create: false);
        Assert.Equal(RunStatus.Crashed, reopened.Run(dead).Status);
        Assert.Equal(RunStatus.Running, reopened.Run(alive).Status);      // this test's own process
        Assert.Equal(RunStatus.Running, reopened.Run(elsewhere).Status);  // undecidable from here
    }

    [Fact]
    public void MissingForeignAndNewerDatabasesAreRefusedNamingTheFile()
    {
        var missing = Assert.Throws<DataException>(() => RunStore.Open(Db, create: false));
        Assert.Contains(Db, missing.Message);
        Assert.False(File.Exists(Db));

        string text = Path.Combine(dir, "notes.db");
        File.WriteAllText(text, "these are not the tables you are looking for, but long enough to be a header\n");
        var foreign = Assert.Throws<DataException>(() => RunStore.Open(text, create: true));
        Assert.Equal($"{text}: not a SQLite database", foreign.Message);

        RunStore.Open(Db, create: true).Dispose();
        Rewrite($"INSERT INTO schema_version (version) VALUES ({RunStore.SchemaVersion + 1})");
        Assert.Contains("newer", Assert.Throws<DataException>(() => RunStore.Open(Db, create: false)).Message);

        using var store = RunStore.Open(Path.Combine(dir, "empty.db"), create: true);
        Assert.Contains("no run 42", Assert.Throws<ArgumentException>(() => store.Run(42)).Message);
    }

    void Rewrite(string sql)
    {
        using var connection = new SqliteConnection($"Data Source={Db};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
