namespace BatchNormLab.Kernels;

/// <summary>A body of a parallel loop over the index range [start, end).</summary>
/// <remarks>Passed as a struct (not a delegate) so the JIT can inline it, as ImageSharp does.</remarks>
public interface IRangeBody
{
    /// <summary>Runs the body for indices [<paramref name="start"/>, <paramref name="end"/>); may be called on any worker thread.</summary>
    void Run(int start, int end);
}

/// <summary>
/// Parallel loops with a fixed partition: a range is cut into parts that depend only on its
/// length, the minimum work per part and <see cref="Threads"/>, never on timing. Every part
/// writes its own outputs, so results are bitwise the same on every run.
/// </summary>
public static class Threading
{
    static readonly AsyncLocal<int> scoped = new();

    /// <summary>
    /// How many parts a loop is split into at most (the engine's thread count): the innermost
    /// <see cref="Use"/> scope's on this flow of execution (its parallel loops' workers included), else the
    /// machine's processor count. A scope rather than a global, so concurrent work (training runs side by side,
    /// tests) can each use its own count without racing.
    /// </summary>
    public static int Threads => scoped.Value is > 0 and var n ? n : Math.Max(1, Environment.ProcessorCount);

    /// <summary>Sets <see cref="Threads"/> to <paramref name="threads"/> until the returned scope is disposed: <c>using (Threading.Use(1)) …</c>.</summary>
    public static Scope Use(int threads) =>
        new(threads >= 1 ? threads : throw new ArgumentOutOfRangeException(nameof(threads), threads, "thread count must be at least 1"));

    /// <summary>A thread count in force until disposed, then the one before it again.</summary>
    public readonly struct Scope : IDisposable
    {
        readonly int saved;

        internal Scope(int threads)
        {
            saved = scoped.Value;
            scoped.Value = threads;
        }

        /// <summary>Restores the thread count in force before <see cref="Use"/>.</summary>
        public void Dispose() => scoped.Value = saved;
    }

    /// <summary>
    /// Runs independent <paramref name="jobs"/> side by side on min(<see cref="Threads"/>, jobs) workers, each job with
    /// an equal share of the threads (one each when there are at least as many jobs as threads), and returns their
    /// results in the jobs' order. Small models leave cores idle inside one job, so this is faster than one job after
    /// another; kernels give the same bits for any thread count, so the results are those of a sequential run.
    /// The first job's exception that fails is rethrown as it was, after the other workers have stopped.
    /// </summary>
    public static IReadOnlyList<T> Concurrently<T>(IReadOnlyList<Func<T>> jobs)
    {
        int workers = Math.Min(Threads, jobs.Count);
        if (workers <= 1) return jobs.Select(job => job()).ToList();
        var results = new T[jobs.Count];
        int next = -1, each = Threads / workers;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<(int Job, Exception Error)>();
        var tasks = Enumerable.Range(0, workers).Select(_ => Task.Factory.StartNew(() =>
        {
            using var scope = Use(each);
            for (int i; failures.IsEmpty && (i = Interlocked.Increment(ref next)) < jobs.Count;)
                try { results[i] = jobs[i](); }
                catch (Exception e) { failures.Enqueue((i, e)); }
        }, TaskCreationOptions.LongRunning)).ToArray();
        Task.WaitAll(tasks);
        if (!failures.IsEmpty) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failures.MinBy(f => f.Job).Error);
        return results;
    }

    /// <summary>How many parts <see cref="For{TBody}"/> uses for <paramref name="count"/> items.</summary>
    public static int PartCount(int count, int minPerPart) =>
        Math.Max(1, Math.Min(Threads, count / Math.Max(1, minPerPart)));

    /// <summary>The start of part <paramref name="part"/> of <paramref name="parts"/> over [0, count).</summary>
    public static int PartStart(int count, int parts, int part) => (int)((long)count * part / parts);

    /// <summary>Runs <paramref name="body"/> over [0, count) in <see cref="PartCount"/> contiguous parts.</summary>
    public static void For<TBody>(int count, int minPerPart, TBody body) where TBody : struct, IRangeBody
    {
        int parts = PartCount(count, minPerPart);
        if (parts == 1)
        {
            if (count > 0) body.Run(0, count);
            return;
        }
        RunParts(count, parts, body);
    }

    /// <summary>
    /// Runs <paramref name="body"/> on each item of [0, count), one item per call (Run(i, i + 1)), with up to
    /// <see cref="Threads"/> workers that take the next item as they come free: on a machine shared with other work a
    /// slowed worker takes fewer items instead of holding up the others. Only for bodies whose every item writes
    /// its own outputs, computed the same whichever worker runs it; then results are bitwise the same as ever.
    /// </summary>
    public static void ForEachItem<TBody>(int count, TBody body) where TBody : struct, IRangeBody
    {
        int workers = Math.Min(Threads, count);
        if (workers <= 1)
        {
            for (int i = 0; i < count; i++) body.Run(i, i + 1);
            return;
        }
        RunItems(count, workers, body);
    }

    /// <summary>
    /// Runs <paramref name="body"/> over [0, count) cut into <paramref name="chunks"/> contiguous ranges whose bounds
    /// depend only on count and chunks, taken one at a time by workers as they come free (as <see cref="ForEachItem"/>),
    /// in order from the first range or, with <paramref name="lastFirst"/>, from the last; no range is shorter than
    /// <paramref name="minPerPart"/>, and when <see cref="PartCount"/>(count, minPerPart) is one the body runs in one call
    /// on this thread. For bodies whose outputs do not depend on how the range is cut:
    /// then results are bitwise the same as ever, and a worker the machine slows down takes fewer ranges instead of
    /// holding up the others.
    /// </summary>
    public static void ForChunks<TBody>(int count, int minPerPart, int chunks, bool lastFirst, TBody body) where TBody : struct, IRangeBody
    {
        if (PartCount(count, minPerPart) == 1)
        {
            if (count > 0) body.Run(0, count);
            return;
        }
        chunks = Math.Max(1, Math.Min(chunks, count / Math.Max(1, minPerPart)));
        ForEachItem(chunks, new Chunk<TBody>(count, chunks, lastFirst, body));
    }

    internal readonly struct Chunk<TBody>(int count, int chunks, bool lastFirst, TBody body) : IRangeBody where TBody : struct, IRangeBody
    {
        public void Run(int start, int end)
        {
            for (int item = start; item < end; item++)
            {
                int chunk = lastFirst ? chunks - 1 - item : item;
                int from = PartStart(count, chunks, chunk), to = PartStart(count, chunks, chunk + 1);
                if (to > from) body.Run(from, to);
            }
        }
    }

    static void RunItems<TBody>(int count, int workers, TBody body) where TBody : struct, IRangeBody
    {
        int next = -1;
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, _ =>
        {
            for (int i; (i = Interlocked.Increment(ref next)) < count;)
                body.Run(i, i + 1);
        });
    }

    // Separate from For so that the single-part path allocates no closure.
    static void RunParts<TBody>(int count, int parts, TBody body) where TBody : struct, IRangeBody =>
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts },
            part => body.Run(PartStart(count, parts, part), PartStart(count, parts, part + 1)));
}
