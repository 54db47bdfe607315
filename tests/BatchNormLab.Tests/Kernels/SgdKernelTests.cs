using System.Numerics;
using BatchNormLab.Kernels;
using XorShift = BatchNormLab.Tests.Conv2dKernelTests.XorShift;

namespace BatchNormLab.Tests;

public class SgdKernelTests
{
    public static TheoryData<double, double, double, bool, bool> Settings => new()
    {
        { 0, 0, 0, false, false },        // plain SGD
        { 0, 0, 1e-2, false, false },     // weight decay
        { 0.9, 0, 1e-2, false, true },    // the momentum buffer's first step: b = g
        { 0.9, 0, 1e-2, false, false },
        { 0.9, 0.25, 0, false, false },   // dampening
        { 0.9, 0, 1e-2, true, false },    // Nesterov
    };

    /// <summary>The vectorised, threaded step against the plain loop, bitwise: lengths below a vector, with a tail,
    /// and split over one, two and three threads; float and double.</summary>
    [Theory]
    [MemberData(nameof(Settings))]
    public void StepMatchesReferenceBitwise(double momentum, double dampening, double weightDecay, bool nesterov, bool first)
    {
        var settings = new SgdSettings(0.05, momentum, dampening, weightDecay, nesterov);
        foreach (int length in new[] { 1, 7, 33, 100_003 })
        {
            Check<float>(length, settings, first);
            Check<double>(length, settings, first);
        }
    }

    static void Check<T>(int length, SgdSettings settings, bool first) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new XorShift((ulong)length);
        T[] w = rng.Array<T>(length), grad = rng.Array<T>(length);
        T[] buffer = settings.Momentum == 0 ? [] : rng.Array<T>(length);
        T[] wRef = (T[])w.Clone(), bufferRef = (T[])buffer.Clone();
        SgdKernels.StepReference<T>(wRef, grad, bufferRef, settings, first);
        Assert.NotEqual(w, wRef); // the step changed something
        foreach (int threads in new[] { 1, 2, 3 })
            using (Threading.Use(threads))
            {
                T[] wt = (T[])w.Clone(), bt = (T[])buffer.Clone();
                SgdKernels.Step<T>(wt, grad, bt, settings, first);
                Assert.Equal(wRef, wt);
                Assert.Equal(bufferRef, bt);
            }
    }

    [Fact]
    public void MismatchedLengthsAreRejected()
    {
        var settings = new SgdSettings(0.1, 0.9, 0, 0, false);
        var e = Assert.Throws<ArgumentException>(() => SgdKernels.Step<float>(new float[4], new float[3], new float[4], settings, false));
        Assert.Contains("gradient has 3 values", e.Message);
        e = Assert.Throws<ArgumentException>(() => SgdKernels.Step<float>(new float[4], new float[4], new float[0], settings, false));
        Assert.Contains("momentum buffer has 0 values", e.Message);
    }
}
