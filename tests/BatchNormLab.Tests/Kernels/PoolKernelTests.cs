using System.Runtime.InteropServices;
using System.Numerics;
using BatchNormLab.Kernels;
using XorShift = BatchNormLab.Tests.Conv2dKernelTests.XorShift;

namespace BatchNormLab.Tests;

public class PoolKernelTests
{
    /// <summary>n, c, h, w, kh, kw, stride, padding.</summary>
    public static TheoryData<int, int, int, int, int, int, int, int> Shapes => new()
    {
        { 1, 1, 1, 1, 1, 1, 1, 0 },      // smallest possible
        { 3, 3, 7, 7, 2, 2, 2, 0 },      // 2×2 stride 2 with a row and column left over
        { 3, 17, 33, 33, 3, 3, 2, 1 },   // 3×3 stride 2 pad 1: overlapping windows
        { 1, 3, 33, 7, 3, 2, 1, 1 },     // 3×2 kernel, stride 1
        { 3, 1, 1, 7, 1, 3, 2, 0 },      // h = 1
        { 3, 3, 7, 33, 5, 5, 2, 2 },     // 5×5 stride 2 pad 2
        { 3, 17, 16, 16, 2, 2, 2, 0 },   // many planes: split across threads
        { 2, 3, 12, 37, 2, 2, 2, 0 },    // 2×2 stride 2: two blocks of 8 outputs per row, two left over, a column left over
        { 2, 3, 28, 28, 2, 2, 2, 0 },    // 2×2 stride 2: one block of 8 outputs per row and 6 masked
        { 2, 3, 14, 14, 2, 2, 2, 0 },    // 2×2 stride 2: 7 outputs per row, all masked
    };

    [Theory, MemberData(nameof(Shapes))]
    public void FastEqualsReferenceFloat(int n, int c, int h, int w, int kh, int kw, int stride, int padding)
    {
        FastEqualsReference<float>(n, c, h, w, kh, kw, stride, padding, ties: false);
        FastEqualsReference<float>(n, c, h, w, kh, kw, stride, padding, ties: true);
    }

    [Theory, MemberData(nameof(Shapes))]
    public void FastEqualsReferenceDouble(int n, int c, int h, int w, int kh, int kw, int stride, int padding)
    {
        FastEqualsReference<double>(n, c, h, w, kh, kw, stride, padding, ties: false);
        FastEqualsReference<double>(n, c, h, w, kh, kw, stride, padding, ties: true);
    }

    /// <summary>Both sum every window in the same order, so the results must agree bit for bit; with
    /// <paramref name="ties"/> the inputs take only three values, so most windows hold several maxima.</summary>
    static void FastEqualsReference<T>(int n, int c, int h, int w, int kh, int kw, int stride, int padding, bool ties)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new XorShift(5);
        int hOut = Conv2dKernels.OutputSize(h, kh, stride, padding), wOut = Conv2dKernels.OutputSize(w, kw, stride, padding);
        int inLength = n * c * h * w, outLength = n * c * hOut * wOut;
        T[] x = rng.Array<T>(inLength), dy = rng.Array<T>(outLength);
        if (ties) for (int i = 0; i < x.Length; i++) x[i] = T.Round(x[i]);

        T[] y = new T[outLength], yRef = new T[outLength];
        int[] arg = new int[outLength], argRef = new int[outLength];
        PoolKernels.MaxPool2dForward<T>(x, n, c, h, w, kh, kw, stride, padding, y, arg);
        PoolReference.MaxPool2dForward<T>(x, n, c, h, w, kh, kw, stride, padding, yRef, argRef);
        Assert.Equal(yRef, y);
        Assert.Equal(argRef, arg);

        T[] dx = rng.Array<T>(inLength), dxRef = new T[inLength];   // garbage: must be overwritten
        PoolKernels.MaxPool2dBackward<T>(dy, arg, n, c, h, w, kh, kw, stride, padding, dx);
        PoolReference.MaxPool2dBackward<T>(dy, argRef, n, c, h, w, kh, kw, stride, padding, dxRef);
        Assert.Equal(dxRef, dx);

        PoolKernels.AvgPool2dForward<T>(x, n, c, h, w, kh, kw, stride, padding, y);
        PoolReference.AvgPool2dForward<T>(x, n, c, h, w, kh, kw, stride, padding, yRef);
        Assert.Equal(yRef, y);

        dx = rng.Array<T>(inLength);
        PoolKernels.AvgPool2dBackward<T>(dy, n, c, h, w, kh, kw, stride, padding, dx);
        PoolReference.AvgPool2dBackward<T>(dy, n, c, h, w, kh, kw, stride, padding, dxRef);
        Assert.Equal(dxRef, dx);
    }

    [Fact]
    public void KnownValues3x3Stride2Pad1()
    {
        // x = 1..16 in a 4×4 plane; values as torch.nn.functional.max_pool2d / avg_pool2d(x, 3, 2, 1) give them.
        float[] x = Enumerable.Range(1, 16).Select(v => (float)v).ToArray();
        float[] y = new float[4];
        int[] arg = new int[4];
        PoolKernels.MaxPool2dForward<float>(x, 1, 1, 4, 4, 3, 3, 2, 1, y, arg);
        Assert.Equal([6f, 8f, 14f, 16f], y);
        Assert.Equal([5, 7, 13, 15], arg);

        PoolKernels.AvgPool2dForward<float>(x, 1, 1, 4, 4, 3, 3, 2, 1, y);
        // count_include_pad: the corner windows still divide by 9
        Assert.Equal([14f / 9, 30f / 9, 57f / 9, 99f / 9], y);
    }

    [Fact]
    public void MaxPoolPadsWithNegativeInfinity()
    {
        float[] x = [-5, -6, -7, -8];
        float[] y = new float[9];
        int[] arg = new int[9];
        PoolKernels.MaxPool2dForward<float>(x, 1, 1, 2, 2, 2, 2, 1, 1, y, arg);
        Assert.Equal([-5f, -5f, -6f, -5f, -5f, -6f, -7f, -7f, -8f], y);
        Assert.Equal([0, 0, 1, 0, 0, 1, 2, 2, 3], arg);
    }

    [Fact]
    public void FirstMaximumWinsAndGradientsOfSharedMaximaAdd()
    {
        float[] x = Enumerable.Repeat(1f, 9).ToArray();
        float[] y = new float[4];
        int[] arg = new int[4];
        PoolKernels.MaxPool2dForward<float>(x, 1, 1, 3, 3, 2, 2, 1, 0, y, arg);
        Assert.Equal([0, 1, 3, 4], arg);

        float[] dx = new float[9];
        PoolKernels.MaxPool2dBackward<float>([1f, 2f, 3f, 4f], arg, 1, 1, 3, 3, 2, 2, 1, 0, dx);
        Assert.Equal([1f, 2f, 0f, 3f, 4f, 0f, 0f, 0f, 0f], dx);

        // overlapping windows that share one maximum: its gradient is the sum
        x[4] = 9;
        PoolKernels.MaxPool2dForward<float>(x, 1, 1, 3, 3, 2, 2, 1, 0, y, arg);
        Assert.Equal([4, 4, 4, 4], arg);
        PoolKernels.MaxPool2dBackward<float>([1f, 2f, 3f, 4f], arg, 1, 1, 3, 3, 2, 2, 1, 0, dx);
        Assert.Equal([0f, 0f, 0f, 0f, 10f, 0f, 0f, 0f, 0f], dx);
    }

    [Theory]
    [InlineData(32)] // 16 outputs a row: two vectors of 8
    [InlineData(28)] // 14: a vector of 8 and 6 through the masked tail
    [InlineData(7)]  // 3, all masked, a column left over
    public void NaNsInTheVectorPathMatchTheReference(int width)
    {
        // Rows with NaNs in every window position and some windows all NaN.
        var rng = new XorShift(9);
        float[] x = rng.Array<float>(2 * 4 * width);
        for (int i = 0; i < x.Length; i += 7) x[i] = float.NaN;
        for (int i = 2 * width; i < 2 * width + 4; i++) x[i] = x[i + width] = float.NaN;
        int wOut = width / 2;
        float[] y = new float[2 * 2 * wOut], yRef = new float[y.Length];
        int[] arg = new int[y.Length], argRef = new int[y.Length];
        PoolKernels.MaxPool2dForward<float>(x, 1, 2, 4, width, 2, 2, 2, 0, y, arg);
        PoolReference.MaxPool2dForward<float>(x, 1, 2, 4, width, 2, 2, 2, 0, yRef, argRef);
        Assert.Equal(argRef, arg);
        Assert.True(MemoryMarshal.AsBytes(yRef.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(y.AsSpan())));
    }

    [Fact]
    public void NaNPropagatesLikePyTorch()
    {
        double[] x = [1, double.NaN, 3, 2];
        double[] y = new double[1];
        int[] arg = new int[1];
        PoolKernels.MaxPool2dForward<double>(x, 1, 1, 2, 2, 2, 2, 2, 0, y, arg);
        Assert.True(double.IsNaN(y[0]));
        Assert.Equal(1, arg[0]);
    }

    /// <summary>
    /// Average pooling is linear and max pooling picks one input per output, so ⟨dy, pool(x)⟩ = ⟨backward(dy), x⟩
    /// exactly up to rounding; a central difference of that product checks single entries of the gradient too.
    /// </summary>
    [Theory]
    [InlineData(2, 3, 9, 8, 3, 3, 2, 1)]
    [InlineData(2, 2, 7, 11, 2, 3, 1, 1)]
    public void BackwardIsTheAdjoint(int n, int c, int h, int w, int kh, int kw, int stride, int padding)
    {
        var rng = new XorShift(8);
        int outLength = n * c * Conv2dKernels.OutputSize(h, kh, stride, padding) * Conv2dKernels.OutputSize(w, kw, stride, padding);
        double[] x = rng.Array<double>(n * c * h * w), dy = rng.Array<double>(outLength);
        double[] y = new double[outLength], dx = new double[x.Length];
        int[] arg = new int[outLength];

        PoolKernels.AvgPool2dForward<double>(x, n, c, h, w, kh, kw, stride, padding, y);
        PoolKernels.AvgPool2dBackward<double>(dy, n, c, h, w, kh, kw, stride, padding, dx);
        Assert.Equal(Dot(dy, y), Dot(dx, x), 1e-12);
        double AvgLoss()
        {
            PoolKernels.AvgPool2dForward<double>(x, n, c, h, w, kh, kw, stride, padding, y);
            return Dot(dy, y);
        }
        CheckEntries(x, dx, AvgLoss, rng);

        PoolKernels.MaxPool2dForward<double>(x, n, c, h, w, kh, kw, stride, padding, y, arg);
        PoolKernels.MaxPool2dBackward<double>(dy, arg, n, c, h, w, kh, kw, stride, padding, dx);
        Assert.Equal(Dot(dy, y), Dot(dx, x), 1e-12);
        double MaxLoss()
        {
            PoolKernels.MaxPool2dForward<double>(x, n, c, h, w, kh, kw, stride, padding, y, arg);
            return Dot(dy, y);
        }
        CheckEntries(x, dx, MaxLoss, rng);
    }

    /// <summary>Central differences of <paramref name="loss"/> at a few entries of x; the step is far below the gap
    /// between distinct random inputs, so no maximum changes place.</summary>
    static void CheckEntries(double[] x, double[] grad, Func<double> loss, XorShift rng)
    {
        const double step = 1e-7;
        for (int t = 0; t < 20; t++)
        {
            int i = (int)(rng.Next() % (ulong)x.Length);
            double saved = x[i];
            x[i] = saved + step;
            double plus = loss();
            x[i] = saved - step;
            double minus = loss();
            x[i] = saved;
            Assert.Equal(grad[i], (plus - minus) / (2 * step), 1e-6);
        }
    }

    [Fact]
    public void RejectsPaddingOverHalfTheKernel()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            PoolKernels.MaxPool2dForward<float>(new float[16], 1, 1, 4, 4, 2, 2, 2, 2, new float[9], new int[9]));
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            PoolKernels.AvgPool2dForward<float>(new float[16], 1, 1, 4, 4, 3, 3, 1, 2, new float[36]));
    }

    static double Dot(double[] a, double[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }
}
