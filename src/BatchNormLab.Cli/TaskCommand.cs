using System.CommandLine;
using BatchNormLab.Tasks;

namespace BatchNormLab.Cli;

/// <summary>
/// <c>bnlab task run</c>: one task of a plan, as a Slurm array element runs it; <c>bnlab task worker</c>: tasks one after
/// another as the local executor hands them over (a worker keeps its datasets and compiled code between tasks).
/// </summary>
static class TaskCommand
{
    static readonly Option<string> PlanOption = new("--plan") { Description = "The plan file (OUT/plan.json, from bnlab reproduce … --plan-only)", Required = true };
    static readonly Option<int> Threads = new("--threads") { Description = "Compute threads (results are the same bits for any count)", DefaultValueFactory = _ => Math.Min(2, Environment.ProcessorCount) };

    public static Command Create()
    {
        var index = new Option<int>("--index") { Description = "Which task of the plan (0-based)", Required = true };
        var run = new Command("run", "Run one task of a plan: a no-op when its output is complete; stopped midway, it resumes from its saved runs and the progress of the run it was training") { PlanOption, index, Threads };
        run.SetAction(p =>
        {
            using var signals = StopSignals.SaveProgress();
            var plan = Load(p);
            var task = plan[p.GetValue(index)];
            string? log = Environment.GetEnvironmentVariable("SLURM_ARRAY_JOB_ID") is { } job
                ? Path.Combine(Plan.TasksDirectory(plan.Settings.OutputDirectory), $"slurm-{job}_{Environment.GetEnvironmentVariable("SLURM_ARRAY_TASK_ID")}.log")
                : null;
            return RunOne(new TaskRunner(plan, p.GetValue(Threads), new ExperimentCommand.ConsoleProgress()), plan, p.GetValue(index), log);
        });
        var worker = new Command("worker", "Run tasks of a plan whose indices arrive one per line on standard input, each logged to OUT/tasks/ID.log; " +
            "answers 'INDEX EXIT' per task on standard output") { PlanOption, Threads };
        worker.SetAction(p =>
        {
            using var signals = StopSignals.SaveProgress();
            var plan = Load(p);
            var answers = Console.Out;
            var relay = new RelayProgress(answers, new ExperimentCommand.ConsoleProgress());
            var runner = new TaskRunner(plan, p.GetValue(Threads), relay);
            while (Console.In.ReadLine() is { } line)
            {
                int i = int.Parse(line, System.Globalization.CultureInfo.InvariantCulture);
                relay.Task = i;
                string log = TaskRunner.LogFile(plan, plan[i]);
                Directory.CreateDirectory(Path.GetDirectoryName(log)!);
                int exit;
                using (var writer = new StreamWriter(log, append: false) { AutoFlush = true })
                {
                    Console.SetOut(writer);
                    Console.SetError(writer);
                    exit = RunOne(runner, plan, i, log);
                }
                lock (answers)
                {
                    answers.WriteLine($"{i} {exit}");
                    answers.Flush();
                }
            }
            return ExitCodes.Ok;
        });
        return new Command("task", "Run the tasks of a plan (what --executor local and slurm call)") { run, worker };
    }

    static Plan Load(ParseResult p)
    {
        if (p.GetValue(Threads) < 1) throw new ArgumentException($"--threads {p.GetValue(Threads)}: must be ≥ 1");
        return Plan.Load(p.GetValue(PlanOption)!);
    }

    /// <summary>Runs task <paramref name="index"/> and records its status (its exit code, its log); returns the exit code.</summary>
    static int RunOne(TaskRunner runner, Plan plan, int index, string? log)
    {
        var task = plan[index];
        // Finished before; or for added seeds, where the experiments it serves have ended and none was inconclusive.
        if (task.Kind != TaskKind.Report && (TaskRunner.IsDone(plan, task) || task.Condition is not null && !TaskRunner.IsWanted(plan, task)))
        {
            Console.Error.WriteLine($"{task.Id}: nothing to do");
            return ExitCodes.Ok;
        }
        // A task whose inputs failed says so rather than redoing their work (the report is written whatever failed).
        if (task.Kind != TaskKind.Report && task.Condition is null && task.Needs.Select(n => plan.Tasks.Single(t => t.Id == n)).FirstOrDefault(t => !TaskRunner.IsDone(plan, t)) is { } missing)
        {
            TaskRunner.WriteStatus(plan, new Tasks.TaskStatus(task.Id, -1, log, 0, $"needs {missing.Id}, which did not finish"));
            Console.Error.WriteLine($"bnlab: {task.Id} needs {missing.Id}, which did not finish");
            return ExitCodes.TasksFailed;
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Console.Error.WriteLine($"{task.Id}: {task.Label ?? task.Experiment ?? "the report"}");
        try
        {
            runner.Run(index);
        }
        catch (Exception e)
        {
            TaskRunner.WriteStatus(plan, new Tasks.TaskStatus(task.Id, ExitCodes.TasksFailed, log, clock.Elapsed.TotalSeconds, $"{e.GetType().Name}: {e.Message}"));
            Console.Error.WriteLine(e);
            return ExitCodes.TasksFailed;
        }
        TaskRunner.WriteStatus(plan, new Tasks.TaskStatus(task.Id, 0, log, clock.Elapsed.TotalSeconds));
        Console.Error.WriteLine($"{task.Id}: done in {clock.Elapsed.TotalSeconds:F0} s");
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Training progress of a worker's task: to its log (through <paramref name="inner"/>) and, once a second at most, as a
    /// line "progress INDEX TEXT" to the executor, which shows what every worker is doing.
    /// </summary>
    sealed class RelayProgress(TextWriter answers, Experiments.IExperimentProgress inner) : Experiments.IExperimentProgress
    {
        // Per run: its length, and the clock and step of its first step here (a resumed run starts past 0).
        readonly Dictionary<string, (int Steps, System.Diagnostics.Stopwatch Clock, int? First)> runs = [];
        readonly System.Diagnostics.Stopwatch sinceLast = System.Diagnostics.Stopwatch.StartNew();

        public int Task { get; set; }

        public void RunStarted(string experiment, string run, int steps)
        {
            lock (runs) runs[run] = (steps, System.Diagnostics.Stopwatch.StartNew(), null);
            inner.RunStarted(experiment, run, steps);
        }

        public void Step(string experiment, string run, Training.StepMetrics metrics)
        {
            inner.Step(experiment, run, metrics);
            (int Steps, System.Diagnostics.Stopwatch Clock, int? First) started;
            lock (runs)
            {
                if (!runs.TryGetValue(run, out started)) return;
                if (started.First is null) runs[run] = started = started with { First = metrics.Step };
                if (sinceLast.Elapsed < TimeSpan.FromSeconds(1)) return;
                sinceLast.Restart();
            }
            double rate = (metrics.Step + 1 - started.First!.Value) / Math.Max(started.Clock.Elapsed.TotalSeconds, 1e-9);
            var eta = TimeSpan.FromSeconds(Math.Round((started.Steps - metrics.Step - 1) / Math.Max(rate, 1e-9)));
            string text = string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{run}: step {metrics.Step + 1}/{started.Steps} loss {metrics.Loss:G4} ETA {eta:m\\:ss}");
            lock (answers)
            {
                answers.WriteLine($"progress {Task} {text}");
                answers.Flush();
            }
        }

        public void RunFinished(string experiment, string run, Training.TrainingOutcome outcome)
        {
            lock (runs) runs.Remove(run);
            inner.RunFinished(experiment, run, outcome);
        }

        public void Message(string experiment, string text) => inner.Message(experiment, text);
    }
}
