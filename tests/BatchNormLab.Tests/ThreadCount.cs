using BatchNormLab.Kernels;

namespace BatchNormLab.Tests;

/// <summary>Sets <see cref="Threading.Threads"/> until disposed, then restores what it was: <c>using (ThreadCount.Set(2)) ...</c>.</summary>
internal readonly struct ThreadCount : IDisposable
{
    readonly int saved;

    ThreadCount(int threads)
    {
        saved = Threading.Threads;
        Threading.Threads = threads;
    }

    public static ThreadCount Set(int threads) => new(threads);

    public void Dispose() => Threading.Threads = saved;
}
