namespace BatchNormLab.Kernels;

/// <summary>A body of a parallel loop over the index range [start, end).</summary>
/// <remarks>Passed as a struct (not a delegate) so the JIT can inline it, as ImageSharp does.</remarks>
public interface IRangeBody
{
    void Run(int start, int end);
}

/// <summary>
/// Parallel loops with a fixed partition: a range is cut into parts that depend only on its
/// length, the minimum work per part and <see cref="Threads"/>, never on timing. Every part
/// writes its own outputs, so results are bitwise the same on every run.
/// </summary>
public static class Threading
{
    static int threads = Math.Max(1, Environment.ProcessorCount);

    /// <summary>How many parts a loop is split into at most (the engine's thread count).</summary>
    public static int Threads
    {
        get => threads;
        set => threads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "thread count must be at least 1");
    }

    /// <summary>How many parts <see cref="For{TBody}"/> uses for <paramref name="count"/> items.</summary>
    public static int PartCount(int count, int minPerPart) =>
        Math.Max(1, Math.Min(threads, count / Math.Max(1, minPerPart)));

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
        int workers = Math.Min(threads, count);
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
