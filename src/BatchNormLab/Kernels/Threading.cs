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

    // Separate from For so that the single-part path allocates no closure.
    static void RunParts<TBody>(int count, int parts, TBody body) where TBody : struct, IRangeBody =>
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts },
            part => body.Run(PartStart(count, parts, part), PartStart(count, parts, part + 1)));
}
