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
                using (ThreadCount.Set(threads))
                {
                    var ranges = new ConcurrentQueue<(int Start, int End)>();
                    Threading.ForChunks(count, chunks, lastFirst, new Record(ranges));
                    var sorted = ranges.OrderBy(r => r.Start).ToList();
                    Assert.Equal(0, sorted[0].Start);
                    Assert.Equal(count, sorted[^1].End);
                    for (int i = 1; i < sorted.Count; i++) Assert.Equal(sorted[i - 1].End, sorted[i].Start);
                    Assert.All(sorted, r => Assert.True(r.End > r.Start));
                    Assert.Equal(Math.Min(chunks, count), sorted.Count);
                    first ??= sorted;
                    Assert.Equal(first, sorted);
                    // One thread takes them in order: from the last when asked.
                    if (threads == 1)
                        Assert.Equal(lastFirst ? sorted.AsEnumerable().Reverse() : sorted, ranges.ToList());
                }
    }
}
