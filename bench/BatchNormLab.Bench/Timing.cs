using System.Diagnostics;

static class Timing
{
    /// <summary>The median of <paramref name="runs"/> timed runs after <paramref name="warmup"/> untimed ones, in ms.</summary>
    public static double MedianMs(Action step, int runs, int warmup)
    {
        for (int i = 0; i < warmup; i++) step();
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            // Untimed: return the last run's buffers now, as PyTorch's refcounting does, so the timed
            // run reuses memory instead of first-touching fresh pages (pooled buffers come back
            // through finalizers, hence the wait).
            GC.Collect();
            GC.WaitForPendingFinalizers();
            long start = Stopwatch.GetTimestamp();
            step();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        return Median(times);
    }

    /// <summary>The median (the upper one of an even count).</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }
}
