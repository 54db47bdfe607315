using BatchNormLab;
using BatchNormLab.Kernels;
using BatchNormLab.Nn;

namespace BatchNormLab.Tests;

/// <summary>BatchNorm properties from the seeds, precision, and the fused kernels against the textbook reference.</summary>
public class BatchNormPropertyTests
{
    // Seed 003: a batch of 10 people × (height, weight, age).
    static readonly double[] People =
    [
        150, 54, 26, 60, 18, 4, 160, 60, 48, 177, 53, 16, 180, 60, 24,
        192, 90, 22, 172, 76, 38, 168, 83, 47, 172, 64, 17, 180, 90, 25,
    ];

    [Fact]
    public void Seed003TableIsNormalisedAsPyTorchDoes()
    {
        var bn = new BatchNorm1d(3);
        bn.To(DType.Float64);
        var y = bn.Forward(Tensor.FromArray(People, 10, 3)).ToDoubleArray();
        // From torch.nn.BatchNorm1d(3).double() on the same batch (tools/golden shows how such numbers are made).
        double[] expected =
        [
            -0.313293181123, -0.525760686121, -0.052913512916, -2.853508163202, -2.278296306524, -1.715909633148,
            -0.031047072003, -0.233671416054, 1.610082607315, 0.448771313501, -0.574442231132, -0.808820840294,
            0.533445146237, -0.233671416054, -0.204094978392, 0.87214047718, 1.226774934282, -0.355276443868,
            0.307648258941, 0.545233304125, 0.854175279937, 0.194749815293, 0.886004119204, 1.534491874577,
            0.307648258941, -0.038945236009, -0.733230107557, 0.533445146237, 1.226774934282, -0.128504245654,
        ];
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], y[i], 1e-11);
        // μ_height = 161.1; running_mean after one step with momentum 0.1 = 0.1·μ.
        Assert.Equal(16.11, bn.RunningMean!.GetFlat(0), 1e-12);
        Assert.Equal(140.37666666666667, bn.RunningVar!.GetFlat(0), 1e-9); // 0.9 + 0.1·(unbiased var)
    }

    [Fact]
    public void ScaleInvarianceOfWeightsAndInverseScalingOfGradients()
    {
        // Seed 001: BN(a·W·u) = BN(W·u), and ∂L/∂(aW) = (1/a)·∂L/∂W.
        var rng = new Rng(5);
        var u = Tensor.RandomNormal(rng, [16, 4], dtype: DType.Float64);
        var w = Tensor.RandomNormal(rng, [3, 4], dtype: DType.Float64);
        var dy = Tensor.RandomNormal(rng, [16, 3], dtype: DType.Float64);
        const double a = 7.5;
        (double[] Y, double[] Grad) Run(Tensor weight)
        {
            var wt = weight.Clone();
            wt.RequiresGrad = true;
            var y = Tensor.BatchNormTrain(Tensor.MatMul(u, wt, false, true), null, null, 1e-12, out _, out _);
            var g = Autograd.Grad((y * dy).Sum(), [wt])[0];
            return (y.ToDoubleArray(), g.ToDoubleArray());
        }
        var (y1, g1) = Run(w);
        var (ya, ga) = Run(w * a);
        for (int i = 0; i < y1.Length; i++) Assert.Equal(y1[i], ya[i], 1e-9);
        for (int i = 0; i < g1.Length; i++) Assert.Equal(g1[i] / a, ga[i], 1e-9);
    }

    [Theory]
    [InlineData(64, 4, 8, 8)] // channel path (H·W ≥ 32)
    [InlineData(256, 6, 1, 1)] // row path (N, C), columns one by one
    [InlineData(300, 40, 1, 1)] // row path, whole vectors of columns and a tail
    public void Float32WithLargeMeanIsNormalisedLikeFloat64(int n, int c, int h, int w)
    {
        // mean 1e4, std 1e-2: one-pass E[x²]−E[x]² in float32 would lose every digit, and so would a backward
        // that centred x on μ rounded to float (its rounding, up to 5e-4, is 5% of σ).
        var rng = new Rng(11);
        var x32 = Tensor.RandomNormal(rng, [n, c, h, w], 1e4, 1e-2).Reshape(h * w == 1 ? [n, c] : [n, c, h, w]);
        x32.RequiresGrad = true;
        var dy32 = Tensor.RandomNormal(rng, x32.Shape);
        var bn = h * w == 1 ? (BatchNorm)new BatchNorm1d(c) : new BatchNorm2d(c);
        var output = bn.Forward(x32);
        output.Backward(dy32);
        double[] y = output.ToDoubleArray(), dx = x32.Grad!.ToDoubleArray(), x64 = x32.ToDoubleArray();
        double[] reference = new double[x64.Length], dxReference = new double[x64.Length], mean = new double[c], variance = new double[c];
        BatchNormReference.ForwardTrain(x64, n, c, h * w, null, null, 1e-5, reference, mean, variance);
        BatchNormReference.BackwardTrain(dy32.ToDoubleArray(), x64, n, c, h * w, null, mean, variance, 1e-5, dxReference, new double[c], new double[c]);
        for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - reference[i]) <= 1e-3, $"element {i}: {y[i]} vs {reference[i]}");
        double dxScale = dxReference.Max(Math.Abs);
        for (int i = 0; i < dx.Length; i++) Assert.True(Math.Abs(dx[i] - dxReference[i]) <= 1e-3 * dxScale, $"dx element {i}: {dx[i]} vs {dxReference[i]}");
    }

    public static TheoryData<int, int, int> AwkwardShapes => new()
    {
        { 2, 1, 1 }, { 3, 5, 1 }, { 7, 3, 33 }, { 2, 17, 31 }, { 2, 3, 32 }, { 5, 2, 129 }, { 1, 9, 7 }, { 33, 4, 3 },
        { 9, 16, 2 }, // rows of whole cache lines: the elementwise pass takes them four at a time, the last group short
    };

    const double ReferenceEps = 1e-5;

    /// <summary>A random case (x around 3 with std 2, dy, γ, β) and the plain reference's forward and backward on it, in float64.</summary>
    static (double[] X, double[] Dy, double[] Gamma, double[] Beta, double[] Y, double[] Mean, double[] Var, double[] Dx, double[] DGamma, double[] DBeta)
        ReferenceCase(Rng rng, int n, int c, int s)
    {
        double[] x = Values(rng, n * c * s, 3.0, 2.0), dy = Values(rng, n * c * s, 0, 1);
        double[] gamma = Values(rng, c, 1, 0.5), beta = Values(rng, c, 0, 1);
        double[] y = new double[x.Length], mean = new double[c], variance = new double[c];
        BatchNormReference.ForwardTrain(x, n, c, s, gamma, beta, ReferenceEps, y, mean, variance);
        double[] dx = new double[x.Length], dGamma = new double[c], dBeta = new double[c];
        BatchNormReference.BackwardTrain(dy, x, n, c, s, gamma, mean, variance, ReferenceEps, dx, dGamma, dBeta);
        return (x, dy, gamma, beta, y, mean, variance, dx, dGamma, dBeta);
    }

    [Theory]
    [MemberData(nameof(AwkwardShapes))]
    public void FusedKernelsMatchTheReference(int n, int c, int s)
    {
        var rng = new Rng((ulong)(n * 1000 + c * 10 + s));
        const double eps = ReferenceEps;
        var (x, dy, gamma, beta, yRef, meanRef, varRef, dxRef, dgRef, dbRef) = ReferenceCase(rng, n, c, s);

        // float64
        var y = new double[x.Length]; var mean = new double[c]; var variance = new double[c];
        BatchNormKernels.ForwardTrain<double>(x, n, c, s, gamma, beta, eps, y, mean, variance);
        var dx = new double[x.Length]; var dg = new double[c]; var db = new double[c];
        BatchNormKernels.BackwardTrain<double>(dy, x, n, c, s, gamma, mean, variance, eps, dx, dg, db);
        AssertClose(yRef, y, 1e-12, "y");
        AssertClose(meanRef, mean, 1e-12, "mean");
        AssertClose(varRef, variance, 1e-12, "variance");
        AssertClose(dxRef, dx, 1e-11, "dx");
        AssertClose(dgRef, dg, 1e-11, "dgamma");
        AssertClose(dbRef, db, 1e-11, "dbeta");

        var yEval = new double[x.Length]; var yEvalRef = new double[x.Length];
        BatchNormKernels.ForwardEval<double>(x, n, c, s, gamma, beta, meanRef, varRef, eps, yEval);
        for (int i = 0; i < x.Length; i++)
        {
            int ch = i / s % c;
            yEvalRef[i] = (x[i] - meanRef[ch]) / Math.Sqrt(varRef[ch] + eps) * gamma[ch] + beta[ch];
        }
        AssertClose(yEvalRef, yEval, 1e-12, "eval y");

        // float32 (inputs rounded to float; compared with the float64 reference within float precision)
        float[] F(double[] v) => v.Select(d => (float)d).ToArray();
        var y32 = new float[x.Length];
        BatchNormKernels.ForwardTrain<float>(F(x), n, c, s, F(gamma), F(beta), eps, y32, mean, variance);
        var dx32 = new float[x.Length]; var dg32 = new float[c]; var db32 = new float[c];
        BatchNormKernels.BackwardTrain<float>(F(dy), F(x), n, c, s, F(gamma), mean, variance, eps, dx32, dg32, db32);
        AssertClose(yRef, y32.Select(v => (double)v).ToArray(), 2e-5, "y f32");
        AssertClose(dxRef, dx32.Select(v => (double)v).ToArray(), 5e-5, "dx f32");
        AssertClose(dgRef, dg32.Select(v => (double)v).ToArray(), 5e-5, "dgamma f32");
    }

    public static TheoryData<int, int, int> LargeShapes => new()
    {
        { 64, 16, 1025 }, // planes (S ≥ 32) starting at every alignment
        { 1100, 1000, 1 }, // (N, C) rows, 4000 bytes each: every alignment
        { 600, 250, 7 }, // (N, C, L) with small L: rows of channels interleaved
        { 1027, 1024, 1 }, // (N, C) rows of whole cache lines, four at a time: each thread's last group short
    };

    [Theory]
    [MemberData(nameof(LargeShapes))]
    public void LargeFloat32KernelsMatchTheReferenceAndAgreeBitwiseForOneTwoThreeThreads(int n, int c, int s)
    {
        // Large enough (> 4 MiB) for the streamed stores and several row blocks per thread.
        var rng = new Rng((ulong)(n + c + s));
        const double eps = ReferenceEps;
        var (x, dy, gamma, beta, yRef, meanRef, varRef, dxRef, dgRef, dbRef) = ReferenceCase(rng, n, c, s);

        float[] F(double[] v) => v.Select(d => (float)d).ToArray();
        float[] x32 = F(x), dy32 = F(dy), gamma32 = F(gamma), beta32 = F(beta);
        float[] Run()
        {
            var y = new float[x.Length]; var mean = new double[c]; var variance = new double[c];
            BatchNormKernels.ForwardTrain<float>(x32, n, c, s, gamma32, beta32, eps, y, mean, variance);
            var dx = new float[x.Length]; var dg = new float[c]; var db = new float[c];
            BatchNormKernels.BackwardTrain<float>(dy32, x32, n, c, s, gamma32, mean, variance, eps, dx, dg, db);
            var yEval = new float[x.Length];
            BatchNormKernels.ForwardEval<float>(x32, n, c, s, gamma32, beta32, mean, variance, eps, yEval);
            return [.. y, .. mean.Select(v => (float)v), .. variance.Select(v => (float)v), .. dx, .. dg, .. db, .. yEval];
        }
        float[][] results = new float[3][];
        for (int threads = 1; threads <= 3; threads++)
            using (Threading.Use(threads))
                results[threads - 1] = Run();
        Assert.Equal(results[0].Select(BitConverter.SingleToInt32Bits), results[1].Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(results[0].Select(BitConverter.SingleToInt32Bits), results[2].Select(BitConverter.SingleToInt32Bits));

        double[] D(int start, int count) => results[1].Skip(start).Take(count).Select(v => (double)v).ToArray();
        int len = x.Length;
        AssertClose(yRef, D(0, len), 2e-5, "y f32");
        AssertClose(meanRef, D(len, c), 2e-6, "mean f32");
        AssertClose(varRef, D(len + c, c), 2e-6, "variance f32");
        AssertClose(dxRef, D(len + 2 * c, len), 5e-5, "dx f32");
        AssertClose(dgRef, D(2 * len + 2 * c, c), 5e-5, "dgamma f32");
        AssertClose(dbRef, D(2 * len + 3 * c, c), 5e-5, "dbeta f32");
        AssertClose(yRef, D(2 * len + 4 * c, len), 2e-5, "eval y f32");
    }

    [Fact]
    public void StreamedRowPathGivesTheSameBitsAtEveryAlignment()
    {
        // Rows of whole cache lines, streamed: the elementwise pass goes along lines that start a few elements into each
        // row (a shift that depends on where the arrays lie), with the coefficients rotated to match. Every start within
        // a line must give the same bits, the rows' first and last elements included.
        const int n = 1027, c = 1024, len = n * c, lanes = 16;
        var rng = new Rng(5);
        float[] Padded(double mean, double std) => [.. Values(rng, len, mean, std).Select(v => (float)v), .. new float[lanes]];
        float[] x = Padded(3, 2), dy = Padded(0, 1), gamma = [.. Values(rng, c, 1, 0.5).Select(v => (float)v)], beta = [.. Values(rng, c, 0, 1).Select(v => (float)v)];
        float[] Run(int offset)
        {
            // The same values, moved by offset elements within their arrays (so within their cache lines).
            float[] Moved(float[] a) { var m = new float[len + lanes]; Array.Copy(a, 0, m, offset, len); return m; }
            float[] xo = Moved(x), dyo = Moved(dy), y = new float[len + lanes], dx = new float[len + lanes], yEval = new float[len + lanes];
            var mean = new double[c]; var variance = new double[c]; var dg = new float[c]; var db = new float[c];
            BatchNormKernels.ForwardTrain<float>(xo.AsSpan(offset, len), n, c, 1, gamma, beta, 1e-5, y.AsSpan(offset, len), mean, variance);
            BatchNormKernels.BackwardTrain<float>(dyo.AsSpan(offset, len), xo.AsSpan(offset, len), n, c, 1, gamma, mean, variance, 1e-5, dx.AsSpan(offset, len), dg, db);
            BatchNormKernels.ForwardEval<float>(xo.AsSpan(offset, len), n, c, 1, gamma, beta, mean, variance, 1e-5, yEval.AsSpan(offset, len));
            return [.. y.AsSpan(offset, len), .. dx.AsSpan(offset, len), .. yEval.AsSpan(offset, len), .. dg, .. db];
        }
        var expected = Run(0).Select(BitConverter.SingleToInt32Bits).ToArray();
        for (int offset = 1; offset < lanes; offset++)
            using (Threading.Use(1 + offset % 3))
                Assert.True(expected.SequenceEqual(Run(offset).Select(BitConverter.SingleToInt32Bits)), $"offset {offset}");
        // And the same numbers as the plain reference, on one of them.
        var yRef = new double[len]; var meanRef = new double[c]; var varRef = new double[c];
        BatchNormReference.ForwardTrain([.. x.Take(len).Select(v => (double)v)], n, c, 1, [.. gamma.Select(v => (double)v)], [.. beta.Select(v => (double)v)], 1e-5, yRef, meanRef, varRef);
        AssertClose(yRef, [.. expected.Take(len).Select(b => (double)BitConverter.Int32BitsToSingle(b))], 2e-5, "y f32");
    }

    static double[] Values(Rng rng, int count, double mean, double std) => Enumerable.Range(0, count).Select(_ => rng.Normal(mean, std)).ToArray();

    static void AssertClose(double[] expected, double[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i])), $"{what}[{i}]: {actual[i]:R} vs {expected[i]:R}");
    }

    [Fact]
    public void RunsAreBitwiseIdentical()
    {
        float[] Run()
        {
            var rng = new Rng(21);
            var model = new Sequential(
                new Conv2d(3, 8, 3, padding: 1, rng: rng), new BatchNorm2d(8), new ReLU(), new MaxPool2d(2),
                new Flatten(), new Linear(8 * 8 * 8, 10, rng: rng), new BatchNorm1d(10));
            var x = Tensor.RandomNormal(rng, [32, 3, 16, 16]);
            var loss = model.Forward(x).CrossEntropy(Enumerable.Range(0, 32).Select(i => i % 10).ToArray());
            loss.Backward();
            return [(float)loss.Item(), .. model.Parameters().SelectMany(p => p.Grad!.ToFloatArray()), .. model.NamedBuffers().SelectMany(b => b.Tensor.ToFloatArray())];
        }
        var first = Run();
        var second = Run();
        Assert.Equal(first.Select(BitConverter.SingleToInt32Bits), second.Select(BitConverter.SingleToInt32Bits));
        // Every kernel partitions work without changing any sum's order: one thread gives the same bits.
        float[] single;
        using (Threading.Use(1))
            single = Run();
        Assert.Equal(first.Select(BitConverter.SingleToInt32Bits), single.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void EvalUsesRunningStatisticsAndNeverUpdatesThem()
    {
        var bn = new BatchNorm2d(2);
        var rng = new Rng(4);
        bn.Forward(Tensor.RandomNormal(rng, [4, 2, 3, 3], 5, 2));
        var mean = bn.RunningMean!.ToFloatArray();
        bn.Eval();
        var x = Tensor.RandomNormal(rng, [4, 2, 3, 3], -3, 1);
        var y = bn.Forward(x);
        Assert.Equal(mean, bn.RunningMean!.ToFloatArray());
        Assert.Equal(1, bn.NumBatchesTracked);
        // y = (x − running_mean)/√(running_var + ε): far from zero-mean for this shifted batch.
        double expected0 = (x.GetFlat(0) - mean[0]) / Math.Sqrt(bn.RunningVar!.GetFlat(0) + 1e-5);
        Assert.Equal(expected0, y.GetFlat(0), 1e-4);
    }
}
