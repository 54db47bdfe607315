using System.Diagnostics;
using System.Globalization;

namespace BatchNormLab.Tasks;

/// <summary>How the Slurm executor asks for resources.</summary>
/// <param name="Partition">The partition (sbatch --partition), or null for the cluster's default.</param>
/// <param name="Time">The time limit of each task (sbatch --time), or null for the partition's.</param>
/// <param name="CpusPerTask">CPUs of each task (sbatch --cpus-per-task), also its compute threads.</param>
/// <param name="Memory">Memory of each task (sbatch --mem), or null for the partition's default.</param>
/// <param name="ArrayLimit">Tasks of one array running at a time (the %k of sbatch --array), or null for no limit.</param>
/// <param name="ExtraArguments">More sbatch arguments, passed as they are (an account, a QOS, constraints).</param>
public sealed record SlurmOptions(string? Partition, string? Time, int CpusPerTask, string? Memory, int? ArrayLimit, IReadOnlyList<string> ExtraArguments);

/// <summary>
/// Runs a plan on a Slurm cluster: one job array per stage (training, experiments, training and judging over added seeds
/// where a verdict is inconclusive, the report), each array's elements the
/// stage's unfinished tasks (element i runs plan task i), each stage after the one before (<c>--dependency=afterany</c>: a task
/// that needs a failed task finds that out itself and says so, so one failed run stops nothing else; the report always runs).
/// Submitting the same plan again submits only the tasks not done. Every task writes its own status and log under OUT/tasks,
/// so a shared filesystem is all the nodes share.
/// </summary>
/// <param name="options">The resources each task asks for.</param>
public sealed class SlurmExecutor(SlurmOptions options)
{
    /// <summary>The job ids submitted, one per stage that had unfinished tasks, in stage order.</summary>
    public IReadOnlyList<string> Submit(Plan plan, IPlanProgress progress)
    {
        string logs = Plan.TasksDirectory(plan.Settings.OutputDirectory);
        Directory.CreateDirectory(logs);
        var jobs = new List<string>();
        string? previous = null;
        foreach (var stage in plan.Tasks.Select((t, i) => (t, i)).Where(x => !TaskRunner.IsDone(plan, x.t) || x.t.Kind == TaskKind.Report).GroupBy(x => x.t.Stage).OrderBy(g => g.Key))
        {
            string indices = string.Join(',', stage.Select(x => x.i));
            var command = stage.First().t.Command;
            // Element i runs plan task i: the command line with the array index in place of the index.
            string run = string.Join(' ', command.Take(command.Length - 1).Select(Quote)) + " \"$SLURM_ARRAY_TASK_ID\" --threads " + options.CpusPerTask.ToString(CultureInfo.InvariantCulture);
            var args = new List<string>
            {
                "--parsable", $"--job-name=bnlab-{StageName(stage.Key)}", $"--array={indices}{(options.ArrayLimit is int k ? $"%{k}" : "")}",
                $"--cpus-per-task={options.CpusPerTask}", $"--output={Path.Combine(logs, "slurm-%A_%a.log")}", $"--chdir={plan.Settings.OutputDirectory}",
            };
            if (options.Partition is not null) args.Add($"--partition={options.Partition}");
            if (options.Time is not null) args.Add($"--time={options.Time}");
            if (options.Memory is not null) args.Add($"--mem={options.Memory}");
            if (previous is not null) args.Add($"--dependency=afterany:{previous}");
            args.AddRange(options.ExtraArguments);
            args.Add($"--wrap={run}");
            string output = Slurm("sbatch", args);
            previous = output.Trim().Split(';')[0];
            jobs.Add(previous);
            progress.Report($"submitted {StageName(stage.Key)} as job array {previous} ({stage.Count()} task{(stage.Count() == 1 ? "" : "s")})");
        }
        return jobs;
    }

    /// <summary>Follows the submitted jobs until none is queued or running, reporting tasks done, running and failed as they change.</summary>
    public void Follow(Plan plan, IReadOnlyList<string> jobs, IPlanProgress progress, TimeSpan poll)
    {
        string last = "";
        while (true)
        {
            var queued = Slurm("squeue", ["--noheader", $"--jobs={string.Join(',', jobs)}", "--format=%i %T"])
                .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToList();
            int running = queued.Count(q => q.Length > 1 && q[1] == "RUNNING");
            int done = plan.Tasks.Count(t => TaskRunner.IsDone(plan, t));
            int failed = plan.Tasks.Count(t => !TaskRunner.IsDone(plan, t) && TaskRunner.ReadStatus(plan, t) is { ExitCode: not 0 });
            string line = $"{done} done, {running} running, {failed} failed of {plan.Tasks.Count}";
            if (line != last) progress.Report(last = line);
            if (queued.Count == 0) return;
            Thread.Sleep(poll);
        }
    }

    static string StageName(int stage) => stage switch { 0 => "training", 1 => "experiments", 2 => "training-more-seeds", 3 => "experiments-more-seeds", _ => "report" };

    static string Quote(string arg) => arg.All(c => char.IsLetterOrDigit(c) || "/._-=:,+@".Contains(c)) ? arg : "'" + arg.Replace("'", "'\\''") + "'";

    /// <summary>Runs a Slurm command and returns its standard output; a clear error when it is missing or fails.</summary>
    static string Slurm(string command, IReadOnlyList<string> args)
    {
        var info = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in args) info.ArgumentList.Add(arg);
        Process process;
        try { process = Process.Start(info)!; }
        catch (System.ComponentModel.Win32Exception) { throw new InvalidOperationException($"--executor slurm: '{command}' is not on PATH (is this a Slurm login node?)"); }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            string stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0) throw new InvalidOperationException($"{command} failed with status {process.ExitCode}: {stderr.Trim()}");
            return stdout.Result;
        }
    }
}
