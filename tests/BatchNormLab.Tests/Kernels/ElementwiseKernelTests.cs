using System.Numerics;
using BatchNormLab.Kernels;
using XorShift = BatchNormLab.Tests.Conv2dKernelTests.XorShift;

namespace BatchNormLab.Tests;

public class ElementwiseKernelTests
{
    /// <summary>The vectorised ReLU backward against the plain loop: every length up to two vectors and a tail, a
    /// length split across threads, and x with zeros, negative zeros and NaNs (all of which pass no gradient).</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(17)]
    [InlineData(100_003)]
    public void ReluBackwardMatchesReference(int length)
    {
        Check<float>(length);
        Check<double>(length);

        static void Check<T>(int length) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var rng = new XorShift(21);
            T[] g = rng.Array<T>(length), x = rng.Array<T>(length);
            for (int i = 0; i < length; i += 5) x[i] = T.Zero;
            for (int i = 1; i < length; i += 11) x[i] = T.NegativeZero;
            for (int i = 2; i < length; i += 13) x[i] = T.NaN;
            T[] dx = rng.Array<T>(length), expected = new T[length];
            Elementwise.ReluBackward<T>(g, x, dx);
            Elementwise.ReluBackwardReference<T>(g, x, expected);
            Assert.Equal(expected, dx);
        }
    }

    /// <summary>Copies small and large (streamed, over 4 MiB) from every offset within a cache line to every other, on
    /// one to three threads, are the source bit for bit; so is a copy between overlapping spans (memmove's order).</summary>
    [Theory]
    [InlineData(1000)]
    [InlineData(1_100_003)]
    public void CopyIsExactFromAndToAnyAlignment(int length)
    {
        var rng = new XorShift(5);
        float[] source = rng.Array<float>(length + 16);
        double[] sourceD = rng.Array<double>(length + 8);
        for (int threads = 1; threads <= 3; threads++)
            using (Threading.Use(threads))
                foreach (var (from, to) in new[] { (0, 0), (3, 0), (0, 5), (7, 13), (15, 1) })
                {
                    var dst = new float[length + 16];
                    Elementwise.Copy<float>(source.AsSpan(from, length), dst.AsSpan(to, length));
                    Assert.True(source.AsSpan(from, length).SequenceEqual(dst.AsSpan(to, length)));
                    Assert.All(dst[..to], v => Assert.Equal(0f, v));
                    Assert.All(dst[(to + length)..], v => Assert.Equal(0f, v));
                    var dstD = new double[length + 8];
                    Elementwise.Copy<double>(sourceD.AsSpan(from % 8, length), dstD.AsSpan(to % 8, length));
                    Assert.True(sourceD.AsSpan(from % 8, length).SequenceEqual(dstD.AsSpan(to % 8, length)));
                }
        var shifted = (float[])source.Clone();
        Elementwise.Copy<float>(shifted.AsSpan(0, length), shifted.AsSpan(9, length));
        Assert.True(source.AsSpan(0, length).SequenceEqual(shifted.AsSpan(9, length)));
    }
}
