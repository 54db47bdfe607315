using System.Diagnostics;
using System.Text.Json;
using BatchNormLab.Experiments;
using BatchNormLab.IO;
using BatchNormLab.Reports;
using Microsoft.Data.Sqlite;

namespace BatchNormLab.Store;

/// <summary>Which <c>bnlab</c> command a run is.</summary>
public enum RunKind
{
    /// <summary><c>bnlab experiment</c>: one experiment.</summary>
    Experiment,
    /// <summary><c>bnlab reproduce</c>: every experiment (or those --only names) and one report.</summary>
    Reproduce,
    /// <summary><c>bnlab train</c>: one training run.</summary>
    Train,
}

/// <summary>Crashed is never written: it is a Running row whose process is gone.</summary>
public enum RunStatus
{
    /// <summary>Started and not yet ended, its process still alive.</summary>
    Running,
    /// <summary>Ended without an error.</summary>
    Finished,
    /// <summary>Recorded as running, but its process is gone: it died without recording an end.</summary>
    Crashed,
    /// <summary>Ended with an error, whose message is recorded.</summary>
    Failed,
}

/// <summary>One row of <c>runs</c>: what was run, by which process on which machine, and how it ended.</summary>
public sealed record RunRecord(long Id, RunKind Kind, string CommandLine, string? Preset, ulong? Seed, int? Threads,
    DateTimeOffset StartedAt, DateTimeOffset? FinishedAt, RunStatus Status, string? Error, string? OutputDirectory, int Pid, string Machine)
{
    /// <summary>The run's wall-clock duration in seconds; null while it has not ended.</summary>
    public double? Seconds => FinishedAt is { } end ? (end - StartedAt).TotalSeconds : null;
}

/// <summary>A run's verdict counts, for listings.</summary>
public sealed record RunVerdicts(int Agrees, int DoesNotAgree, int Inconclusive);

/// <summary>One number an experiment (or a training run's part) recorded, e.g. a final test accuracy.</summary>
/// <param name="Experiment">The experiment's name, or the part of a non-experiment run it belongs to.</param>
/// <param name="Name">The number's name, as in the result's numbers.</param>
/// <param name="Value">The value; NaN where none was finite (stored as NULL).</param>
public sealed record StoredNumber(string Experiment, string Name, double Value);

/// <summary>A file a run wrote.</summary>
/// <param name="Experiment">The experiment (or part) it belongs to; null for a file of the run as a whole, such as its report.</param>
/// <param name="Path">The file's absolute path.</param>
public sealed record StoredArtifact(string? Experiment, string Path);

/// <summary>
/// The run database (SQLite, one file): every run of <c>bnlab</c> and each experiment's result as soon as
/// it finishes, so a crash loses nothing already recorded. WAL mode lets <c>bnlab runs list</c> read while a
/// run writes; every write is one transaction. Missing, unreadable or foreign files raise a
/// <see cref="DataException"/> naming the file.
/// </summary>
public sealed class RunStore : IDisposable
{
    /// <summary>Bumped with every schema change; a database from a newer bnlab is refused rather than misread.</summary>
    public const int SchemaVersion = 1;

    /// <summary>Where the database is unless --db names another: runs/bnlab.db under the current directory.</summary>
    public const string DefaultPath = "runs/bnlab.db";

    const string Schema = """
        CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS runs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('experiment', 'reproduce', 'train')),
            command_line TEXT NOT NULL,
            preset TEXT, seed TEXT, threads INTEGER,
            started_at TEXT NOT NULL, finished_at TEXT,
            status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
            error TEXT, output_dir TEXT,
            pid INTEGER NOT NULL, machine TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS experiments (
            run_id INTEGER NOT NULL REFERENCES runs(id), name TEXT NOT NULL,
            verdict TEXT NOT NULL, reason TEXT NOT NULL, seconds REAL NOT NULL, result_json TEXT NOT NULL,
            PRIMARY KEY (run_id, name));
        -- value is NULL for NaN: SQLite has no NaN
        CREATE TABLE IF NOT EXISTS numbers (
            run_id INTEGER NOT NULL REFERENCES runs(id), experiment TEXT NOT NULL, name TEXT NOT NULL, value REAL,
            PRIMARY KEY (run_id, experiment, name));
        CREATE TABLE IF NOT EXISTS artifacts (
            run_id INTEGER NOT NULL REFERENCES runs(id), experiment TEXT, path TEXT NOT NULL);
        """;

    readonly SqliteConnection connection;

    /// <summary>The database file's absolute path.</summary>
    public string Path { get; }

    RunStore(string path, SqliteConnection connection) => (Path, this.connection) = (path, connection);

    /// <summary>Opens the database; <paramref name="create"/> makes it (and its directory) when missing, else a missing file is an error.</summary>
    public static RunStore Open(string path, bool create)
    {
        string full = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(full)) throw Problem(full, "is a directory, not a run database");
        if (!File.Exists(full))
        {
            if (!create) throw Problem(full, "no run database here (bnlab experiment or reproduce makes one; --db names another)");
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        }
        // no pooling: the file is closed when the store is disposed
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = full, Pooling = false, Mode = create ? SqliteOpenMode.ReadWriteCreate : SqliteOpenMode.ReadWrite,
        }.ToString());
        var store = new RunStore(full, connection);
        try
        {
            connection.Open();
            store.Migrate();
            return store;
        }
        catch (SqliteException e)
        {
            store.Dispose();
            const int NotADatabase = 26;
            throw Problem(full, e.SqliteErrorCode == NotADatabase ? "not a SQLite database" : $"cannot be read as a run database ({e.Message})", e);
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    static DataException Problem(string path, string problem, Exception? inner = null) => new($"{path}: {problem}", inner);

    void Migrate()
    {
        Execute("PRAGMA journal_mode = WAL;");
        using var transaction = connection.BeginTransaction();
        Execute(Schema);
        long? version = Scalar<long?>("SELECT MAX(version) FROM schema_version");
        if (version is null) Execute("INSERT INTO schema_version (version) VALUES ($v)", ("$v", SchemaVersion));
        else if (version > SchemaVersion) throw Problem(Path, $"schema version {version} is newer than this bnlab's ({SchemaVersion}); use a newer bnlab");
        transaction.Commit();
    }

    /// <summary>Records a run as running, with this process's id and machine so that a later listing can tell a crash.</summary>
    public long StartRun(RunKind kind, string commandLine, string? preset, ulong? seed, int? threads, string? outputDirectory)
    {
        using var transaction = connection.BeginTransaction();
        Execute("""
            INSERT INTO runs (kind, command_line, preset, seed, threads, started_at, status, output_dir, pid, machine)
            VALUES ($kind, $command, $preset, $seed, $threads, $started, 'running', $out, $pid, $machine)
            """,
            ("$kind", Name(kind)), ("$command", commandLine), ("$preset", preset), ("$seed", seed?.ToString(CultureInfo.InvariantCulture)),
            ("$threads", threads), ("$started", Time(DateTimeOffset.UtcNow)), ("$out", outputDirectory is null ? null : System.IO.Path.GetFullPath(outputDirectory)),
            ("$pid", Environment.ProcessId), ("$machine", Environment.MachineName));
        long id = Scalar<long>("SELECT last_insert_rowid()");
        transaction.Commit();
        return id;
    }

    /// <summary>One experiment's result, its numbers (each named by its key's text, "Subject: Measure") and its files (paths relative to <paramref name="directory"/>), in one transaction.</summary>
    public void RecordExperiment(long runId, ExperimentResult result, string directory)
    {
        using var transaction = connection.BeginTransaction();
        Execute("INSERT INTO experiments (run_id, name, verdict, reason, seconds, result_json) VALUES ($run, $name, $verdict, $reason, $seconds, $json)",
            ("$run", runId), ("$name", result.Name), ("$verdict", Name(result.Verdict.Kind)), ("$reason", result.Verdict.Reason),
            ("$seconds", result.Seconds), ("$json", ResultJson.Serialize(result)));
        InsertNumbersAndFiles(runId, result.Name, result.Numbers.Select(n => (n.Key.ToString(), n.Value)), result.Files.Select(f => System.IO.Path.Combine(directory, f)));
        transaction.Commit();
    }

    /// <summary>The numbers and files of one part of a run that is not an experiment (one training run of <c>bnlab train</c>), in one transaction.</summary>
    public void RecordNumbers(long runId, string part, IReadOnlyDictionary<string, double> numbers, IEnumerable<string> files)
    {
        using var transaction = connection.BeginTransaction();
        InsertNumbersAndFiles(runId, part, numbers.Select(n => (n.Key, n.Value)), files);
        transaction.Commit();
    }

    void InsertNumbersAndFiles(long runId, string part, IEnumerable<(string Name, double Value)> numbers, IEnumerable<string> files)
    {
        foreach (var (name, value) in numbers)
            Execute("INSERT INTO numbers (run_id, experiment, name, value) VALUES ($run, $experiment, $name, $value)",
                ("$run", runId), ("$experiment", part), ("$name", name), ("$value", double.IsNaN(value) ? null : value));
        foreach (string file in files) InsertArtifact(runId, part, file);
    }

    /// <summary>A file of the run as a whole (its report), or of one experiment.</summary>
    public void RecordArtifact(long runId, string? experiment, string path)
    {
        using var transaction = connection.BeginTransaction();
        InsertArtifact(runId, experiment, path);
        transaction.Commit();
    }

    void InsertArtifact(long runId, string? experiment, string path) =>
        Execute("INSERT INTO artifacts (run_id, experiment, path) VALUES ($run, $experiment, $path)",
            ("$run", runId), ("$experiment", experiment), ("$path", System.IO.Path.GetFullPath(path)));

    /// <summary>Marks the run finished, with its end time.</summary>
    public void FinishRun(long runId) => End(runId, RunStatus.Finished, null);

    /// <summary>Runs <paramref name="work"/>, then marks the run finished; if it throws, marks the run failed with the message and rethrows.</summary>
    public void Complete(long runId, Action work)
    {
        try { work(); }
        catch (Exception e)
        {
            FailRun(runId, e.Message);
            throw;
        }
        FinishRun(runId);
    }

    /// <summary>Marks the run failed, with its end time and the error's message.</summary>
    public void FailRun(long runId, string error) => End(runId, RunStatus.Failed, error);

    void End(long runId, RunStatus status, string? error)
    {
        using var transaction = connection.BeginTransaction();
        Execute("UPDATE runs SET status = $status, finished_at = $finished, error = $error WHERE id = $id",
            ("$status", Name(status)), ("$finished", Time(DateTimeOffset.UtcNow)), ("$error", error), ("$id", runId));
        transaction.Commit();
    }

    /// <summary>Every run, newest first.</summary>
    public IReadOnlyList<RunRecord> Runs() => ReadRuns("SELECT * FROM runs ORDER BY id DESC");

    /// <summary>The run with this id; an unknown id is an <see cref="ArgumentException"/> naming it.</summary>
    public RunRecord Run(long id) =>
        ReadRuns("SELECT * FROM runs WHERE id = $id", ("$id", id)).SingleOrDefault()
        ?? throw new ArgumentException($"no run {id} in {Path}");

    /// <summary>How many of the run's experiments agree, do not agree and are inconclusive.</summary>
    public RunVerdicts Verdicts(long runId)
    {
        var counts = Query("SELECT verdict, COUNT(*) FROM experiments WHERE run_id = $run GROUP BY verdict",
            r => (Parse<VerdictKind>(r.GetString(0)), r.GetInt32(1)), ("$run", runId)).ToDictionary();
        return new(counts.GetValueOrDefault(VerdictKind.Agrees), counts.GetValueOrDefault(VerdictKind.DoesNotAgree), counts.GetValueOrDefault(VerdictKind.Inconclusive));
    }

    /// <summary>The run's experiment results in the order they finished.</summary>
    public IReadOnlyList<ExperimentResult> Results(long runId) =>
        Query("SELECT result_json FROM experiments WHERE run_id = $run ORDER BY rowid", r => ResultJson.Deserialize(r.GetString(0)), ("$run", runId));

    /// <summary>A run as the report shows it, labelled "run ID".</summary>
    public ReportRun ForReport(long runId)
    {
        var run = Run(runId);
        return new ReportRun($"run {run.Id}", run.Preset ?? "-", run.Seed ?? 0, run.Threads ?? 0, run.StartedAt, run.Seconds, Name(run.Status), Results(runId));
    }

    /// <summary>Every number the run recorded, in the order it recorded them.</summary>
    public IReadOnlyList<StoredNumber> Numbers(long runId) =>
        Query("SELECT experiment, name, value FROM numbers WHERE run_id = $run ORDER BY rowid",
            r => new StoredNumber(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? double.NaN : r.GetDouble(2)), ("$run", runId));

    /// <summary>Every file the run recorded, in the order it recorded them.</summary>
    public IReadOnlyList<StoredArtifact> Artifacts(long runId) =>
        Query("SELECT experiment, path FROM artifacts WHERE run_id = $run ORDER BY rowid",
            r => new StoredArtifact(r.IsDBNull(0) ? null : r.GetString(0), r.GetString(1)), ("$run", runId));

    IReadOnlyList<RunRecord> ReadRuns(string sql, params (string Name, object? Value)[] parameters) => Query(sql, r =>
    {
        var status = Parse<RunStatus>(r.GetString(r.GetOrdinal("status")));
        int pid = r.GetInt32(r.GetOrdinal("pid"));
        string machine = r.GetString(r.GetOrdinal("machine"));
        var started = DateTimeOffset.Parse(r.GetString(r.GetOrdinal("started_at")), CultureInfo.InvariantCulture);
        if (status == RunStatus.Running && ProcessIsGone(pid, machine, started)) status = RunStatus.Crashed;
        return new RunRecord(r.GetInt64(r.GetOrdinal("id")), Parse<RunKind>(r.GetString(r.GetOrdinal("kind"))), r.GetString(r.GetOrdinal("command_line")),
            Text(r, "preset"), Text(r, "seed") is { } seed ? ulong.Parse(seed, CultureInfo.InvariantCulture) : null,
            r.IsDBNull(r.GetOrdinal("threads")) ? null : r.GetInt32(r.GetOrdinal("threads")),
            started, Text(r, "finished_at") is { } end ? DateTimeOffset.Parse(end, CultureInfo.InvariantCulture) : null,
            status, Text(r, "error"), Text(r, "output_dir"), pid, machine);
    }, parameters);

    static string? Text(SqliteDataReader r, string column) => r.IsDBNull(r.GetOrdinal(column)) ? null : r.GetString(r.GetOrdinal(column));

    /// <summary>
    /// Whether the process that wrote a running row has ended: only decidable on the machine that ran it.
    /// A live process with that id that started after the run did is another one that reused the id.
    /// </summary>
    static bool ProcessIsGone(int pid, string machine, DateTimeOffset started)
    {
        if (machine != Environment.MachineName) return false;
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.HasExited || process.StartTime.ToUniversalTime() > started.UtcDateTime.AddSeconds(1);
        }
        catch (ArgumentException) { return true; }  // no process with that id
        catch (InvalidOperationException) { return true; }  // it exited while we looked
    }

    static string Time(DateTimeOffset t) => t.ToUniversalTime().ToString("o", CultureInfo.InvariantCulture);

    /// <summary>Enum values as stored: kebab-case names, as in result.json.</summary>
    static string Name<T>(T value) where T : struct, Enum => JsonNamingPolicy.KebabCaseLower.ConvertName(value.ToString());

    static T Parse<T>(string text) where T : struct, Enum =>
        Enum.TryParse<T>(text.Replace("-", ""), ignoreCase: true, out var value) ? value : throw new DataException($"unknown {typeof(T).Name} '{text}' in a run database");

    void Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(sql, parameters);
        command.ExecuteNonQuery();
    }

    T Scalar<T>(string sql)
    {
        using var command = Command(sql, []);
        object? value = command.ExecuteScalar();
        return value is null or DBNull ? default! : (T)Convert.ChangeType(value, Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), CultureInfo.InvariantCulture);
    }

    List<T> Query<T>(string sql, Func<SqliteDataReader, T> read, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(sql, parameters);
        using var reader = command.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read()) rows.Add(read(reader));
        return rows;
    }

    SqliteCommand Command(string sql, (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    /// <summary>Closes the database file.</summary>
    public void Dispose() => connection.Dispose();
}
