using System.Collections.Concurrent;
using BatchNormLab.Kernels;

namespace BatchNormLab.Tests.Kernels;

public class ThreadingTests
{
    readonly struct Record(ConcurrentQueue<(int Start, int End)> ranges) : IRangeBody
    {
        public void Run(int start, int end) => ranges.Enqueue((start, end));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 3)]
    [InlineData(100, 16)]
    [InlineData(5, 16)]
    [InlineData(4096, 16)]
    public void ForChunksCoversTheRangeOnceInChunksThatDependOnlyOnCountAndChunks(int count, int chunks)
    {
        List<(int Start, int End)>? first = null;
        for (int threads = 1; threads <= 3; threads++)
            foreach (bool lastFirst in new[] { false, true })
                using (Threading.Use(threads))
                {
                    var ranges = new ConcurrentQueue<(int Start, int End)>();
                    Threading.ForChunks(count, 1, chunks, lastFirst, new Record(ranges));
                    var sorted = ranges.OrderBy(r => r.Start).ToList();
                    Assert.Equal(0, sorted[0].Start);
                    Assert.Equal(count, sorted[^1].End);
                    for (int i = 1; i < sorted.Count; i++) Assert.Equal(sorted[i - 1].End, sorted[i].Start);
                    Assert.All(sorted, r => Assert.True(r.End > r.Start));
                    // One thread: one call over the whole range; more: the same chunks, whichever thread took which.
                    if (threads == 1 || count == 1)
                    {
                        Assert.Single(sorted);
                        continue;
                    }
                    Assert.Equal(Math.Min(chunks, count), sorted.Count);
                    first ??= sorted;
                    Assert.Equal(first, sorted);
                }
    }

    [Theory]
    [InlineData(100, 30, 16, 3)] // no range shorter than the minimum
    [InlineData(20, 30, 16, 1)] // too little for two parts: one call
    [InlineData(4096, 4, 16, 16)]
    public void ForChunksKeepsRangesAtLeastTheMinimum(int count, int minPerPart, int chunks, int expectedRanges)
    {
        using (Threading.Use(2))
        {
            var ranges = new ConcurrentQueue<(int Start, int End)>();
            Threading.ForChunks(count, minPerPart, chunks, lastFirst: false, new Record(ranges));
            var sorted = ranges.OrderBy(r => r.Start).ToList();
            Assert.Equal(expectedRanges, sorted.Count);
            Assert.Equal(count, sorted.Sum(r => r.End - r.Start));
            if (sorted.Count > 1) Assert.All(sorted, r => Assert.True(r.End - r.Start >= minPerPart));
        }
    }

    [Fact]
    public void ChunksAreTakenFromTheLastWhenAsked()
    {
        // The items ForChunks hands out, in the order a worker takes them.
        foreach (bool lastFirst in new[] { false, true })
        {
            var ranges = new ConcurrentQueue<(int Start, int End)>();
            var chunk = new Threading.Chunk<Record>(100, 4, lastFirst, new Record(ranges));
            for (int item = 0; item < 4; item++) chunk.Run(item, item + 1);
            (int, int)[] inOrder = [(0, 25), (25, 50), (50, 75), (75, 100)];
            Assert.Equal(lastFirst ? inOrder.Reverse() : inOrder, ranges.ToArray());
        }
    }

    [Fact]
    public void ConcurrentlyReturnsResultsInOrderEachJobWithItsShareOfTheThreads()
    {
        using (Threading.Use(4))
        {
            var seen = new ConcurrentBag<int>();
            var jobs = Enumerable.Range(0, 7).Select(i => (Func<int>)(() => { seen.Add(Threading.Threads); return i * i; })).ToList();
            Assert.Equal(Enumerable.Range(0, 7).Select(i => i * i), Threading.Concurrently(jobs));
            Assert.All(seen, t => Assert.Equal(1, t)); // 4 workers for 7 jobs: one thread each
            var two = Threading.Concurrently([() => Threading.Threads, () => Threading.Threads]);
            Assert.Equal([2, 2], two); // 2 jobs: two threads each
            Assert.Equal(4, Threading.Threads); // the caller's count is untouched
        }
    }

    [Fact]
    public void ConcurrentlyRethrowsTheFirstFailingJobsExceptionAsItWas()
    {
        using (Threading.Use(2))
        {
            Func<int>[] jobs = [() => 1, () => throw new InvalidOperationException("job 1"), () => throw new ArgumentException("job 2")];
            var e = Assert.Throws<InvalidOperationException>(() => Threading.Concurrently(jobs));
            Assert.Equal("job 1", e.Message);
        }
    }

    [Fact]
    public void UseScopesNestAndRestore()
    {
        using (Threading.Use(3))
        {
            using (Threading.Use(1)) Assert.Equal(1, Threading.Threads);
            Assert.Equal(3, Threading.Threads);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => Threading.Use(0));
    }
}
