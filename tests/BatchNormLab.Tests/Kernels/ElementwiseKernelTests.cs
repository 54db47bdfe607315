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
}
