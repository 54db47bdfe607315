using System.Diagnostics;
using BatchNormLab.Experiments;

namespace BatchNormLab.Tasks;

/// <summary>A line about the plan's progress: a task started, finished, failed or was skipped.</summary>
public interface IPlanProgress
{
    /// <summary>Reports <paramref name="line"/>.</summary>
    void Report(string line);

    /// <summary>What the running tasks are doing now (a training run's step, loss and ETA each), replacing the last such line.</summary>
    void Status(string line) { }
}

/// <summary>
/// Runs a plan on this machine: with one worker, every task in this process in plan order (a sequential run); with
/// more, each task in a process of its own (<c>bnlab task run</c>), <c>workers</c> at a time, the costliest ready task
/// first, each with threads/workers compute threads so the cores are used once. The kernels give the same bits for any
/// thread count, so the results are those of the sequential run. A failed task fails only the tasks that need it (a
/// training task for added seeds waits for the experiments it serves, but needs none of them: <see cref="TaskRunner.IsWanted"/>).
/// </summary>
/// <param name="workers">Tasks at a time (1: in this process).</param>
/// <param name="threads">Compute threads in all.</param>
public sealed class LocalExecutor(int workers, int threads)
{
    /// <summary>Runs every task of <paramref name="plan"/> that is not done; returns the ids of the tasks that failed or could not run.</summary>
    public IReadOnlyList<string> Run(Plan plan, IExperimentProgress? training, IPlanProgress progress)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        return workers == 1 ? RunHere(plan, training, progress) : RunInProcesses(plan, progress);
    }

    IReadOnlyList<string> RunHere(Plan plan, IExperimentProgress? training, IPlanProgress progress)
    {
        var runner = new TaskRunner(plan, threads, training);
        var failed = new HashSet<string>();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < plan.Tasks.Count; i++)
        {
            var task = plan.Tasks[i];
            if (TaskRunner.IsDone(plan, task) && task.Kind != TaskKind.Report) continue;
            if (task.Kind != TaskKind.Report && task.Condition is null && task.Needs.FirstOrDefault(failed.Contains) is { } need)
            {
                failed.Add(task.Id);
                Skip(plan, task, need, progress);
                continue;
            }
            if (!TaskRunner.IsWanted(plan, task)) continue;
            if (task.Kind == TaskKind.Experiment) progress.Report($"== {task.Experiment} (elapsed {clock.Elapsed:h\\:mm\\:ss})");
            if (task.Kind == TaskKind.MoreSeeds) progress.Report($"== {task.Experiment}, inconclusive on its first seeds: judged again over more (elapsed {clock.Elapsed:h\\:mm\\:ss})");
            var started = Stopwatch.StartNew();
            try
            {
                runner.Run(i);
                TaskRunner.WriteStatus(plan, new TaskStatus(task.Id, 0, null, started.Elapsed.TotalSeconds));
            }
            catch (Exception e) when (task.Kind != TaskKind.Report)
            {
                // One task's failure is recorded and reported; the others go on.
                failed.Add(task.Id);
                TaskRunner.WriteStatus(plan, new TaskStatus(task.Id, 1, null, started.Elapsed.TotalSeconds, $"{e.GetType().Name}: {e.Message}"));
                progress.Report($"{task.Id}: failed: {e.GetType().Name}: {e.Message}");
            }
        }
        return [.. failed];
    }

    IReadOnlyList<string> RunInProcesses(Plan plan, IPlanProgress progress)
    {
        int each = Math.Max(1, threads / workers);
        var state = plan.Tasks.ToDictionary(t => t.Id, t => TaskRunner.IsDone(plan, t) && t.Kind != TaskKind.Report ? Outcome.Done : Outcome.Waiting);
        var answers = new System.Collections.Concurrent.BlockingCollection<(Worker Worker, int Index, int Exit)>();
        var doing = new Dictionary<int, string>();
        void Doing(int index, string text)
        {
            lock (doing)
            {
                doing[index] = text;
                progress.Status(string.Join("  ·  ", doing.OrderBy(d => d.Key).Select(d => d.Value)));
            }
        }
        var idle = new List<Worker>();
        var busy = new Dictionary<Worker, (PlanTask Task, Stopwatch Clock)>();
        var clock = Stopwatch.StartNew();
        double total = plan.Tasks.Where(t => state[t.Id] == Outcome.Waiting).Sum(t => t.Cost), finishedCost = 0;
        // A task found to have nothing to do: its cost leaves the ETA's total.
        void Finish(PlanTask task)
        {
            state[task.Id] = Outcome.Done;
            total -= task.Cost;
        }
        List<(PlanTask Task, int Index)> ReadyTasks() =>
            plan.Tasks.Select((t, i) => (t, i)).Where(x => state[x.t.Id] == Outcome.Waiting && Ready(x.t, state)).OrderByDescending(x => x.t.Cost).ToList();
        try
        {
            while (true)
            {
                // Done meanwhile (a judgement over added seeds where the first was conclusive), or held up by a failed need.
                foreach (var task in plan.Tasks.Where(t => state[t.Id] == Outcome.Waiting && t.Kind != TaskKind.Report))
                {
                    if (TaskRunner.IsDone(plan, task)) Finish(task);
                    else if (task.Condition is null && task.Needs.FirstOrDefault(n => state[n] is Outcome.Failed) is { } need)
                    {
                        state[task.Id] = Outcome.Failed;
                        Skip(plan, task, need, progress);
                    }
                }
                var ready = ReadyTasks();
                // A training task for added seeds whose experiments were not inconclusive has nothing to do: done without a worker.
                while (ready.FirstOrDefault(x => x.Task.Kind != TaskKind.Report && !TaskRunner.IsWanted(plan, x.Task)).Task is { } nothingToDo)
                {
                    Finish(nothingToDo);
                    ready = ReadyTasks();
                }
                foreach (var (task, index) in ready.Take(workers - busy.Count))
                {
                    var worker = Pop(idle) ?? new Worker(plan, each, answers, Doing);
                    state[task.Id] = Outcome.Running;
                    busy[worker] = (task, Stopwatch.StartNew());
                    worker.Send(index);
                }
                if (busy.Count == 0) break;
                var (done, doneIndex, exit) = answers.Take();
                lock (doing) doing.Remove(doneIndex);
                var (doneTask, taskClock) = busy[done];
                busy.Remove(done);
                if (done.Alive) idle.Add(done);
                else
                {
                    // The worker died with the task (killed, out of memory): the task failed; a fresh worker takes the next.
                    TaskRunner.WriteStatus(plan, new TaskStatus(doneTask.Id, exit, TaskRunner.LogFile(plan, doneTask), taskClock.Elapsed.TotalSeconds, "its worker process ended"));
                    done.Dispose();
                }
                state[doneTask.Id] = exit == 0 ? Outcome.Done : Outcome.Failed;
                finishedCost += doneTask.Cost;
                int finished = state.Values.Count(s => s == Outcome.Done), failed = state.Values.Count(s => s == Outcome.Failed);
                string eta = finishedCost > 0 && total > finishedCost ? $", ETA {TimeSpan.FromSeconds(Math.Round(clock.Elapsed.TotalSeconds * (total - finishedCost) / finishedCost)):h\\:mm\\:ss}" : "";
                progress.Report($"[{finished} done, {busy.Count} running, {failed} failed of {plan.Tasks.Count}; {clock.Elapsed:h\\:mm\\:ss}{eta}] " +
                    $"{doneTask.Id}{(doneTask.Label is null ? "" : $" ({doneTask.Label})")} {(exit == 0 ? "finished" : $"failed with status {exit}: {TaskRunner.LogFile(plan, doneTask)}")} in {taskClock.Elapsed.TotalSeconds:F0} s");
            }
        }
        finally
        {
            foreach (var worker in idle.Concat(busy.Keys)) worker.Dispose();
        }
        return [.. state.Where(s => s.Value == Outcome.Failed).Select(s => s.Key)];
    }

    // A task not run because a task it needs failed: recorded (status -1) and reported.
    static void Skip(Plan plan, PlanTask task, string need, IPlanProgress progress)
    {
        TaskRunner.WriteStatus(plan, new TaskStatus(task.Id, -1, null, 0, $"needs {need}, which failed"));
        progress.Report($"{task.Id}: skipped ({need} failed)");
    }

    // An idle worker that is still alive, or null.
    static Worker? Pop(List<Worker> idle)
    {
        while (idle.Count > 0)
        {
            var worker = idle[^1];
            idle.RemoveAt(idle.Count - 1);
            if (worker.Alive) return worker;
            worker.Dispose();
        }
        return null;
    }

    enum Outcome { Waiting, Running, Done, Failed }

    // The report runs once everything before it has ended, whether or not it finished, and so does a training task for
    // added seeds once the experiments it serves have; other tasks need theirs done.
    static bool Ready(PlanTask task, Dictionary<string, Outcome> state) => task.Kind == TaskKind.Report
        ? state.Where(s => s.Key != task.Id).All(s => s.Value is Outcome.Done or Outcome.Failed)
        : task.Condition is not null ? task.Needs.All(n => state[n] is Outcome.Done or Outcome.Failed)
        : task.Needs.All(n => state[n] == Outcome.Done);

    /// <summary>
    /// A <c>bnlab task worker</c> process: task indices go to its standard input, "INDEX EXIT" comes back on its standard
    /// output; each task logs to its own file. When the process ends mid-task, the task is answered with its exit status.
    /// </summary>
    sealed class Worker : IDisposable
    {
        readonly Process process;
        int current = -1;

        public Worker(Plan plan, int threads, System.Collections.Concurrent.BlockingCollection<(Worker, int, int)> answers, Action<int, string> doing)
        {
            var command = plan.Tasks[0].Command;
            var info = new ProcessStartInfo(command[0]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string arg in command.Skip(1).TakeWhile(a => a != "task")) info.ArgumentList.Add(arg);
            foreach (string arg in (string[])["task", "worker", "--plan", command[Array.IndexOf(command, "--plan") + 1], "--threads", threads.ToString(System.Globalization.CultureInfo.InvariantCulture)])
                info.ArgumentList.Add(arg);
            process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {command[0]}");
            // What a worker writes outside a task (a crash before its first) goes to the plan's worker log.
            Directory.CreateDirectory(Plan.TasksDirectory(plan.Settings.OutputDirectory));
            string log = Path.Combine(Plan.TasksDirectory(plan.Settings.OutputDirectory), $"worker-{process.Id}.log");
            var stderr = process.StandardError;
            new Thread(() => { using var file = File.CreateText(log); while (stderr.ReadLine() is { } line) file.WriteLine(line); }) { IsBackground = true }.Start();
            new Thread(() =>
            {
                while (process.StandardOutput.ReadLine() is { } line)
                {
                    if (line.StartsWith("progress ", StringComparison.Ordinal))
                    {
                        var progress = line.Split(' ', 3);
                        if (progress.Length == 3 && int.TryParse(progress[1], out int task)) doing(task, progress[2]);
                        continue;
                    }
                    var parts = line.Split(' ');
                    if (parts.Length == 2 && int.TryParse(parts[0], out int index) && int.TryParse(parts[1], out int exit))
                    {
                        current = -1;
                        answers.Add((this, index, exit));
                    }
                }
                process.WaitForExit();
                if (current >= 0) answers.Add((this, current, process.ExitCode == 0 ? 1 : process.ExitCode));
            }) { IsBackground = true }.Start();
        }

        public bool Alive => !process.HasExited;

        public void Send(int index)
        {
            current = index;
            process.StandardInput.WriteLine(index.ToString(System.Globalization.CultureInfo.InvariantCulture));
            process.StandardInput.Flush();
        }

        public void Dispose()
        {
            if (!process.HasExited)
            {
                process.StandardInput.Close();
                if (!process.WaitForExit(TimeSpan.FromSeconds(10))) process.Kill(entireProcessTree: true);
            }
            process.Dispose();
        }
    }
}
