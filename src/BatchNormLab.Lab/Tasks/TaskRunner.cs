using System.Text.Json;
using BatchNormLab.Experiments;
using BatchNormLab.IO;
using BatchNormLab.Reports;
using BatchNormLab.Store;

namespace BatchNormLab.Tasks;

/// <summary>How a task's last attempt ended, as its executor saw it (OUT/tasks/ID.status).</summary>
/// <param name="Id">The task.</param>
/// <param name="ExitCode">The exit status of its process (0: finished; -1: not run because a task it needs failed).</param>
/// <param name="Log">Its log file, where it has one.</param>
/// <param name="Seconds">How long it ran.</param>
/// <param name="Error">What went wrong, in a line, where known.</param>
public sealed record TaskStatus(string Id, int ExitCode, string? Log, double Seconds, string? Error = null);

/// <summary>
/// Runs the tasks of a <see cref="Plan"/>. Tasks are idempotent: a finished task's complete output (a saved run, a
/// result.json with its done mark under the same settings) makes a rerun a no-op, and a task stopped midway starts over
/// from the runs it had saved, a run it was training from that run's saved progress (<see cref="RunProgress"/>). Only the
/// report task writes the run store.
/// </summary>
/// <param name="plan">The plan.</param>
/// <param name="threads">Compute threads for this process's tasks.</param>
/// <param name="progress">Where training progress goes.</param>
public sealed class TaskRunner(Plan plan, int threads, IExperimentProgress? progress)
{
    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    // One context for all the tasks this process runs: datasets load once, and runs trained here stay in memory.
    ExperimentContext? context;

    ExperimentContext Context => context ??= plan.Settings.Context(threads, progress);

    /// <summary>The file that marks <paramref name="task"/> done under <paramref name="plan"/>'s settings.</summary>
    public static string DoneFile(Plan plan, PlanTask task) => Path.Combine(Plan.TasksDirectory(plan.Settings.OutputDirectory), task.Id + ".done");

    /// <summary>The file its executor writes <paramref name="task"/>'s <see cref="TaskStatus"/> to.</summary>
    public static string StatusFile(Plan plan, PlanTask task) => Path.Combine(Plan.TasksDirectory(plan.Settings.OutputDirectory), task.Id + ".status");

    /// <summary>The log file of <paramref name="task"/> when an executor runs it in its own process.</summary>
    public static string LogFile(Plan plan, PlanTask task) => Path.Combine(Plan.TasksDirectory(plan.Settings.OutputDirectory), task.Id + ".log");

    /// <summary>The first judgement of an experiment task whose verdict was inconclusive, kept for its <see cref="TaskKind.MoreSeeds"/> task.</summary>
    public static string FirstJudgementFile(Plan plan, PlanTask task) => Path.Combine(Plan.TasksDirectory(plan.Settings.OutputDirectory), task.Id + ".first.json");

    /// <summary>
    /// Whether <paramref name="task"/>'s complete output is there, made under the plan's settings. A training task for added
    /// seeds, and a judgement over them, have nothing to do once every experiment they serve was conclusive on its first seeds.
    /// </summary>
    public static bool IsDone(Plan plan, PlanTask task) => task.Kind switch
    {
        TaskKind.Train => File.Exists(Path.Combine(task.Output, "run.json")) || task.Condition is { } askers && askers.All(a => FirstIsFinal(plan, a)),
        TaskKind.Experiment => ReadDone(plan, task) == plan.Fingerprint && (File.Exists(task.Output) || File.Exists(FirstJudgementFile(plan, task))),
        TaskKind.MoreSeeds => FirstIsFinal(plan, task.Experiment!) || File.Exists(task.Output) && ReadDone(plan, task) == plan.Fingerprint,
        _ => File.Exists(task.Output) && ReadDone(plan, task) == ReportMark(plan),
    };

    /// <summary>Whether the experiment's result.json is there: judged on its first seeds, or again over the added ones.</summary>
    public static bool IsJudged(Plan plan, string experiment) =>
        plan.Tasks.FirstOrDefault(t => t.Kind == TaskKind.MoreSeeds && t.Experiment == experiment) is { } more ? IsDone(plan, more) : FirstIsFinal(plan, experiment);

    /// <summary>
    /// Whether a task has work once the tasks it waits for have ended: a training task for added seeds only where one of
    /// the experiments it serves was inconclusive on its first seeds. It waits for all of them, done or failed, and needs
    /// none: one that failed takes nothing from the others. Every other task has work until it is done.
    /// </summary>
    public static bool IsWanted(Plan plan, PlanTask task) =>
        task.Condition is not { } askers || askers.Any(a => IsDone(plan, FirstJudgement(plan, a)) && !FirstIsFinal(plan, a));

    static PlanTask FirstJudgement(Plan plan, string experiment) => plan.Tasks.Single(t => t.Kind == TaskKind.Experiment && t.Experiment == experiment);

    // The experiment's first judgement is done and was its result (conclusive, or no seeds to add).
    static bool FirstIsFinal(Plan plan, string experiment)
    {
        var first = FirstJudgement(plan, experiment);
        return IsDone(plan, first) && !File.Exists(FirstJudgementFile(plan, first));
    }

    static string? ReadDone(Plan plan, PlanTask task) => File.Exists(DoneFile(plan, task)) ? File.ReadAllText(DoneFile(plan, task)) : null;

    // The report is current when it was written from the experiments that are judged now.
    static string ReportMark(Plan plan) =>
        plan.Fingerprint + ":" + string.Join(",", plan.Settings.Experiments.Where(e => IsJudged(plan, e)));

    /// <summary>Runs task <paramref name="index"/> unless it is done already; throws what the task throws.</summary>
    public void Run(int index)
    {
        var task = plan[index];
        if (IsDone(plan, task) || !IsWanted(plan, task)) return;
        Directory.CreateDirectory(Plan.TasksDirectory(plan.Settings.OutputDirectory));
        switch (task.Kind)
        {
            case TaskKind.Train:
                // A run for added seeds is trained as the wider judgement asks for it.
                Find(task.Experiment!).TrainShared(task.Condition is null ? Context : Experiment.Wider(Context), task.RunKey!);
                break;
            case TaskKind.Experiment:
                var experiment = Find(task.Experiment!);
                var first = experiment.MeasureFirst(Context);
                string firstFile = FirstJudgementFile(plan, task);
                if (Experiment.NeedsMoreSeeds(Context, first))
                {
                    File.Delete(task.Output);
                    AtomicFile.WriteAllText(firstFile, ResultJson.Serialize(first));
                }
                else
                {
                    File.Delete(firstFile);
                    AtomicFile.WriteAllText(task.Output, ResultJson.Serialize(experiment.Conclude(Context, first)));
                }
                AtomicFile.WriteAllText(DoneFile(plan, task), plan.Fingerprint);
                break;
            case TaskKind.MoreSeeds:
                var firstTask = FirstJudgement(plan, task.Experiment!);
                if (!IsDone(plan, firstTask)) throw new InvalidOperationException($"{task.Id} needs {firstTask.Id}, which has not finished");
                var judged = ResultJson.Deserialize(File.ReadAllText(FirstJudgementFile(plan, firstTask)));
                AtomicFile.WriteAllText(task.Output, ResultJson.Serialize(Find(task.Experiment!).MeasureMore(Context, judged)));
                AtomicFile.WriteAllText(DoneFile(plan, task), plan.Fingerprint);
                break;
            default:
                WriteReport(task);
                AtomicFile.WriteAllText(DoneFile(plan, task), ReportMark(plan));
                break;
        }
    }

    /// <summary>Records <paramref name="status"/> for its task.</summary>
    public static void WriteStatus(Plan plan, TaskStatus status)
    {
        Directory.CreateDirectory(Plan.TasksDirectory(plan.Settings.OutputDirectory));
        AtomicFile.WriteAllText(StatusFile(plan, plan.Tasks.Single(t => t.Id == status.Id)), JsonSerializer.Serialize(status, Json));
    }

    /// <summary>The last recorded status of <paramref name="task"/>, or null when none was.</summary>
    public static TaskStatus? ReadStatus(Plan plan, PlanTask task)
    {
        string path = StatusFile(plan, task);
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<TaskStatus>(File.ReadAllText(path), Json); }
        catch (JsonException) { return null; }
    }

    static Experiment Find(string name) => Experiment.Find(name) ?? throw new ArgumentException($"the plan names an unknown experiment '{name}'");

    /// <summary>
    /// Records every experiment in plan order in the run store (the one writer), an experiment whose task did not finish as
    /// not judged, with the task, its exit status and its log; then writes report.html.
    /// </summary>
    void WriteReport(PlanTask report)
    {
        var settings = plan.Settings;
        using var store = RunStore.Open(settings.Database, create: true);
        long id = store.StartRun(settings.Kind, settings.CommandLine, settings.Preset, settings.Seed, threads, settings.OutputDirectory);
        store.Complete(id, () =>
        {
            foreach (var task in plan.Tasks.Where(t => t.Kind == TaskKind.Experiment))
            {
                string directory = Path.GetDirectoryName(task.Output)!;
                bool judged = IsJudged(plan, task.Experiment!);
                var result = judged ? ResultJson.Deserialize(File.ReadAllText(task.Output)) : NotJudged(task);
                store.RecordExperiment(id, result, directory);
                if (judged) store.RecordArtifact(id, result.Name, task.Output);
            }
        });
        ExperimentReport.Build(store.ForReport(id)).Save(report.Output);
        store.RecordArtifact(id, null, report.Output);
        AtomicFile.WriteAllText(Path.Combine(Plan.TasksDirectory(settings.OutputDirectory), "report.run"), id.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>The stored run id the last report task recorded, or null.</summary>
    public static long? ReportedRun(Plan plan)
    {
        string path = Path.Combine(Plan.TasksDirectory(plan.Settings.OutputDirectory), "report.run");
        return File.Exists(path) && long.TryParse(File.ReadAllText(path), out long id) ? id : null;
    }

    ExperimentResult NotJudged(PlanTask task)
    {
        var experiment = Find(task.Experiment!);
        // Past its first judgement, what is missing is the judgement over the added seeds.
        var missing = IsDone(plan, task) ? plan.Tasks.SingleOrDefault(t => t.Kind == TaskKind.MoreSeeds && t.Experiment == task.Experiment) ?? task : task;
        return new ExperimentResult(experiment.Name, experiment.Figure, experiment.Claim, "", "",
            new Verdict(VerdictKind.Inconclusive, $"not judged: {Why(missing)}"), [], [], new Dictionary<ResultKey, double>(), [], 0) { Source = experiment.Source };
    }

    /// <summary>Why <paramref name="task"/> has no output: its own failure, or the first task it needs that failed.</summary>
    string Why(PlanTask task)
    {
        var status = ReadStatus(plan, task);
        if (status is { ExitCode: > 0 } || status is { ExitCode: < -1 })
            return $"task {task.Id} exited with status {status.ExitCode}{(status.Error is null ? "" : $" ({status.Error})")}; its log: {status.Log ?? "none"}";
        foreach (var need in task.Needs.Select(n => plan.Tasks.Single(t => t.Id == n)).Where(t => !IsDone(plan, t)))
        {
            var needed = ReadStatus(plan, need);
            if (needed is { ExitCode: not 0 })
                return $"task {need.Id}, which it needs, exited with status {needed.ExitCode}{(needed.Error is null ? "" : $" ({needed.Error})")}; its log: {needed.Log ?? "none"}";
        }
        return $"task {task.Id} has not finished{(status?.Log is { } log ? $"; its log: {log}" : "")}";
    }
}
