using System.Text.Json;
using BatchNormLab;
using BatchNormLab.Nn;

namespace BatchNormLab.Tests;

/// <summary>
/// Replays PyTorch golden cases (tools/golden/make_bn_golden.py writes Golden/*.json) against
/// BatchNorm1d / BatchNorm2d: outputs, input and parameter gradients, running statistics and
/// num_batches_tracked after every step. Plus the error cases PyTorch users rely on.
/// </summary>
public sealed class BatchNormGoldenTests
{
    private static string GoldenDir => Path.Combine(AppContext.BaseDirectory, "Golden");

    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        if (Directory.Exists(GoldenDir))
        {
            foreach (var file in Directory.GetFiles(GoldenDir, "*.json").OrderBy(f => f, StringComparer.Ordinal))
            {
                data.Add(Path.GetFileNameWithoutExtension(file));
            }
        }
        return data;
    }

    /// <summary>
    /// |actual − expected| ≤ tol·(1 + |expected|). Mirrors c_tolerance in make_bn_golden.py.
    /// Large-mean cases (|mean|/std ≈ 1e6 in float64, 1e4 in float32) are ill-conditioned:
    /// one rounding of the mean moves x̂ by ~1e-10 (float64) or ~1e-3 (float32).
    /// </summary>
    private static double Tolerance(string caseName, bool f32, string quantity)
    {
        bool largeMean = caseName.StartsWith("large_mean", StringComparison.Ordinal);
        if (!f32)
        {
            return largeMean ? 1e-7 : 1e-10;
        }
        return largeMean && (quantity is "output" or "grad_input" or "grad_weight") ? 1e-3 : 1e-5;
    }

    [Fact]
    public void GoldenFilesArePresent()
    {
        Assert.True(Directory.Exists(GoldenDir), $"golden directory missing: {GoldenDir}");
        var files = Directory.GetFiles(GoldenDir, "*.json");
        Assert.True(files.Length >= 20, $"expected at least 20 golden cases in {GoldenDir}, found {files.Length}");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void MatchesPyTorch(string caseName)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(GoldenDir, caseName + ".json")));
        var c = doc.RootElement;
        string module = c.GetProperty("module").GetString()!;
        int numFeatures = c.GetProperty("num_features").GetInt32();
        double eps = c.GetProperty("eps").GetDouble();
        var momentumElement = c.GetProperty("momentum");
        double? momentum = IsNull(momentumElement) ? null : momentumElement.GetDouble();
        bool affine = c.GetProperty("affine").GetBoolean();
        bool track = c.GetProperty("track_running_stats").GetBoolean();
        bool f32 = c.GetProperty("dtype").GetString() switch
        {
            "float32" => true,
            "float64" => false,
            var other => throw new InvalidOperationException($"case {caseName}: unknown dtype {other}"),
        };

        var bn = BnModule.Create(module, numFeatures, eps, momentum, affine, track);
        if (!f32)
        {
            bn.ToFloat64();
        }

        // Construction state (PyTorch defaults): γ = 1, β = 0, running mean 0, running var 1, count 0.
        string init = $"case {caseName}, after construction";
        if (affine)
        {
            Assert.True(bn.Weight() is not null, $"{init}: Weight is null but affine=true");
            Assert.True(bn.Bias() is not null, $"{init}: Bias is null but affine=true");
            AssertClose(init, "weight", Filled(numFeatures, 1.0), Values(bn.Weight()!, f32), 0.0);
            AssertClose(init, "bias", Filled(numFeatures, 0.0), Values(bn.Bias()!, f32), 0.0);
        }
        else
        {
            Assert.True(bn.Weight() is null, $"{init}: Weight should be null when affine=false");
            Assert.True(bn.Bias() is null, $"{init}: Bias should be null when affine=false");
        }
        if (track)
        {
            Assert.True(bn.RunningMean() is not null, $"{init}: RunningMean is null but track_running_stats=true");
            Assert.True(bn.RunningVar() is not null, $"{init}: RunningVar is null but track_running_stats=true");
            AssertClose(init, "running_mean", Filled(numFeatures, 0.0), Values(bn.RunningMean()!, f32), 0.0);
            AssertClose(init, "running_var", Filled(numFeatures, 1.0), Values(bn.RunningVar()!, f32), 0.0);
            Assert.True(bn.NumBatchesTracked() == 0, $"{init}: NumBatchesTracked = {bn.NumBatchesTracked()}, expected 0");
        }
        else
        {
            Assert.True(bn.RunningMean() is null, $"{init}: RunningMean should be null when track_running_stats=false");
            Assert.True(bn.RunningVar() is null, $"{init}: RunningVar should be null when track_running_stats=false");
        }

        if (affine)
        {
            bn.Weight()!.CopyFrom(Vector(c.GetProperty("weight"), f32));
            bn.Bias()!.CopyFrom(Vector(c.GetProperty("bias"), f32));
        }

        int stepIndex = 0;
        foreach (var step in c.GetProperty("steps").EnumerateArray())
        {
            string mode = step.GetProperty("mode").GetString()!;
            string where = $"case {caseName}, step {stepIndex} ({mode})";
            if (mode == "train")
            {
                bn.Train();
            }
            else
            {
                bn.Eval();
            }

            var x = MakeTensor(step.GetProperty("input"), f32);
            x.RequiresGrad = true;
            var y = bn.Forward(x);
            AssertTensor(where, "output", step.GetProperty("output"), y, f32, Tolerance(caseName, f32, "output"));

            var gradOutput = step.GetProperty("grad_output");
            if (!IsNull(gradOutput))
            {
                y.Backward(MakeTensor(gradOutput, f32));
                Assert.True(x.Grad is not null, $"{where}: input Grad is null after Backward");
                AssertTensor(where, "grad_input", step.GetProperty("grad_input"), x.Grad!, f32,
                    Tolerance(caseName, f32, "grad_input"));
                if (affine)
                {
                    var gw = bn.Weight()!.Grad;
                    var gb = bn.Bias()!.Grad;
                    Assert.True(gw is not null, $"{where}: Weight.Grad is null after Backward");
                    Assert.True(gb is not null, $"{where}: Bias.Grad is null after Backward");
                    AssertClose(where, "grad_weight", Doubles(step.GetProperty("grad_weight")), Values(gw!, f32),
                        Tolerance(caseName, f32, "grad_weight"));
                    AssertClose(where, "grad_bias", Doubles(step.GetProperty("grad_bias")), Values(gb!, f32),
                        Tolerance(caseName, f32, "grad_bias"));
                    // Parameter gradients accumulate; the golden values are per step.
                    bn.Weight()!.Grad = null;
                    bn.Bias()!.Grad = null;
                }
            }

            if (track)
            {
                AssertClose(where, "running_mean", Doubles(step.GetProperty("running_mean")), Values(bn.RunningMean()!, f32),
                    Tolerance(caseName, f32, "running_mean"));
                AssertClose(where, "running_var", Doubles(step.GetProperty("running_var")), Values(bn.RunningVar()!, f32),
                    Tolerance(caseName, f32, "running_var"));
                long expectedCount = step.GetProperty("num_batches_tracked").GetInt64();
                Assert.True(bn.NumBatchesTracked() == expectedCount,
                    $"{where}: NumBatchesTracked = {bn.NumBatchesTracked()}, expected {expectedCount}");
            }
            else
            {
                Assert.True(bn.RunningMean() is null && bn.RunningVar() is null,
                    $"{where}: running buffers appeared although track_running_stats=false");
            }
            stepIndex++;
        }
        Assert.True(stepIndex > 0, $"case {caseName}: no steps");
    }

    // ---------------------------------------------------------------------------------------
    // One value per channel in training (PyTorch: "Expected more than 1 value per channel when training").

    private const string OneValueMessage = "Expected more than 1 value per channel when training";

    [Fact]
    public void BatchNorm1d_TrainingWithOneValuePerChannel_Throws()
    {
        var bn = new BatchNorm1d(3);
        bn.Train();
        var ex = Assert.ThrowsAny<Exception>(() => bn.Forward(Tensor.FromArray(new float[] { 1f, 2f, 3f }, 1, 3)));
        Assert.Contains(OneValueMessage, ex.Message, StringComparison.OrdinalIgnoreCase);
        ex = Assert.ThrowsAny<Exception>(() => bn.Forward(Tensor.FromArray(new float[] { 1f, 2f, 3f }, 1, 3, 1)));
        Assert.Contains(OneValueMessage, ex.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void BatchNorm2d_TrainingWithOneValuePerChannel_Throws()
    {
        var bn = new BatchNorm2d(3);
        bn.Train();
        var ex = Assert.ThrowsAny<Exception>(() => bn.Forward(Tensor.FromArray(new float[] { 1f, 2f, 3f }, 1, 3, 1, 1)));
        Assert.Contains(OneValueMessage, ex.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void WithoutRunningStats_EvalWithOneValuePerChannel_Throws()
    {
        // track_running_stats=false uses batch statistics in eval too, so the same rule applies.
        var bn = new BatchNorm1d(3, trackRunningStats: false);
        bn.Eval();
        Assert.ThrowsAny<Exception>(() => bn.Forward(Tensor.FromArray(new float[] { 1f, 2f, 3f }, 1, 3)));
    }

    // ---------------------------------------------------------------------------------------
    // Eval on a single sample uses the running statistics (hand-computed values).

    [Fact]
    public void BatchNorm1d_EvalOnSingleSample_UsesRunningStats()
    {
        var bn = new BatchNorm1d(2);
        bn.To(DType.Float64);
        bn.Train();
        // Batch [[1, 2], [3, 6]]: mean (2, 4), unbiased var (2, 8).
        bn.Forward(Tensor.FromArray(new double[] { 1, 2, 3, 6 }, 2, 2));
        // running = 0.9·init + 0.1·batch: mean (0.2, 0.4), var (0.9 + 0.2, 0.9 + 0.8).
        double[] rm = { 0.2, 0.4 };
        double[] rv = { 1.1, 1.7 };
        AssertClose("train step", "running_mean", rm, bn.RunningMean!.ToDoubleArray(), 1e-14);
        AssertClose("train step", "running_var", rv, bn.RunningVar!.ToDoubleArray(), 1e-14);

        bn.Eval();
        var y = bn.Forward(Tensor.FromArray(new double[] { 5, -1 }, 1, 2));
        Assert.True(y.Shape.SequenceEqual(new[] { 1, 2 }), $"eval output shape [{string.Join(",", y.Shape)}], expected [1,2]");
        double[] expected =
        {
            (5 - 0.2) / Math.Sqrt(1.1 + 1e-5),
            (-1 - 0.4) / Math.Sqrt(1.7 + 1e-5),
        };
        AssertClose("eval (1,2)", "output", expected, y.ToDoubleArray(), 1e-13);
        // Eval must not touch the buffers or the counter.
        AssertClose("after eval", "running_mean", rm, bn.RunningMean!.ToDoubleArray(), 1e-14);
        AssertClose("after eval", "running_var", rv, bn.RunningVar!.ToDoubleArray(), 1e-14);
        Assert.True(bn.NumBatchesTracked == 1, $"NumBatchesTracked = {bn.NumBatchesTracked} after eval, expected 1");
    }

    [Fact]
    public void BatchNorm2d_EvalOnSingleValuePerChannel_UsesRunningStats()
    {
        var bn = new BatchNorm2d(2);
        bn.To(DType.Float64);
        bn.Train();
        // (N,C,H,W) = (1,2,2,1): channel 0 = {1, 3}, channel 1 = {2, 6}; n = N·H·W = 2.
        bn.Forward(Tensor.FromArray(new double[] { 1, 3, 2, 6 }, 1, 2, 2, 1));
        AssertClose("train step", "running_mean", new[] { 0.2, 0.4 }, bn.RunningMean!.ToDoubleArray(), 1e-14);
        AssertClose("train step", "running_var", new[] { 1.1, 1.7 }, bn.RunningVar!.ToDoubleArray(), 1e-14);

        bn.Eval();
        var y = bn.Forward(Tensor.FromArray(new double[] { 5, -1 }, 1, 2, 1, 1));
        Assert.True(y.Shape.SequenceEqual(new[] { 1, 2, 1, 1 }), $"eval output shape [{string.Join(",", y.Shape)}], expected [1,2,1,1]");
        double[] expected =
        {
            (5 - 0.2) / Math.Sqrt(1.1 + 1e-5),
            (-1 - 0.4) / Math.Sqrt(1.7 + 1e-5),
        };
        AssertClose("eval (1,2,1,1)", "output", expected, y.ToDoubleArray(), 1e-13);
        Assert.True(bn.NumBatchesTracked == 1, $"NumBatchesTracked = {bn.NumBatchesTracked} after eval, expected 1");
    }

    // ---------------------------------------------------------------------------------------
    // Wrong channel count or rank: ArgumentException, in train and in eval mode.

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BatchNorm1d_WrongShape_ThrowsArgumentException(bool training)
    {
        var bn = new BatchNorm1d(3);
        bn.Train(training);
        Assert.ThrowsAny<ArgumentException>(() => bn.Forward(Ramp(4, 5)));       // C = 5, expected 3
        Assert.ThrowsAny<ArgumentException>(() => bn.Forward(Ramp(4, 2, 5)));    // C = 2, expected 3
        Assert.ThrowsAny<ArgumentException>(() => bn.Forward(Ramp(2, 3, 2, 2))); // rank 4
        Assert.ThrowsAny<ArgumentException>(() => bn.Forward(Ramp(6)));          // rank 1
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BatchNorm2d_WrongShape_ThrowsArgumentException(bool training)
    {
        var bn = new BatchNorm2d(3);
        bn.Train(training);
        Assert.ThrowsAny<ArgumentException>(() => bn.Forward(Ramp(2, 4, 2, 2)));    // C = 4, expected 3
        Assert.ThrowsAny<ArgumentException>(() => bn.Forward(Ramp(4, 3)));          // rank 2
        Assert.ThrowsAny<ArgumentException>(() => bn.Forward(Ramp(2, 3, 4)));       // rank 3
        Assert.ThrowsAny<ArgumentException>(() => bn.Forward(Ramp(2, 3, 2, 2, 1)));  // rank 5
    }

    // ---------------------------------------------------------------------------------------
    // Helpers

    /// <summary>BatchNorm1d and BatchNorm2d behind one set of delegates (no shared base type is assumed).</summary>
    private sealed record BnModule(
        Func<Tensor, Tensor> Forward,
        Action Train,
        Action Eval,
        Action ToFloat64,
        Func<Tensor?> Weight,
        Func<Tensor?> Bias,
        Func<Tensor?> RunningMean,
        Func<Tensor?> RunningVar,
        Func<long> NumBatchesTracked)
    {
        public static BnModule Create(string module, int numFeatures, double eps, double? momentum, bool affine, bool track)
            => module switch
            {
                "BatchNorm1d" => Wrap(new BatchNorm1d(numFeatures, eps, momentum, affine, track)),
                "BatchNorm2d" => Wrap(new BatchNorm2d(numFeatures, eps, momentum, affine, track)),
                _ => throw new InvalidOperationException($"unknown module {module}"),
            };

        private static BnModule Wrap(BatchNorm1d m) => new(
            x => m.Forward(x), () => m.Train(), () => m.Eval(), () => m.To(DType.Float64),
            () => m.Weight, () => m.Bias, () => m.RunningMean, () => m.RunningVar, () => m.NumBatchesTracked);

        private static BnModule Wrap(BatchNorm2d m) => new(
            x => m.Forward(x), () => m.Train(), () => m.Eval(), () => m.To(DType.Float64),
            () => m.Weight, () => m.Bias, () => m.RunningMean, () => m.RunningVar, () => m.NumBatchesTracked);
    }

    private static bool IsNull(JsonElement e) => e.ValueKind == JsonValueKind.Null;

    private static double[] Doubles(JsonElement e)
    {
        var a = new double[e.GetArrayLength()];
        int i = 0;
        foreach (var v in e.EnumerateArray())
        {
            a[i++] = v.GetDouble();
        }
        return a;
    }

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt32()).ToArray();

    private static Tensor FromDoubles(double[] data, int[] shape, bool f32)
        => f32 ? Tensor.FromArray(Array.ConvertAll(data, v => (float)v), shape) : Tensor.FromArray(data, shape);

    private static Tensor MakeTensor(JsonElement t, bool f32)
        => FromDoubles(Doubles(t.GetProperty("data")), Ints(t.GetProperty("shape")), f32);

    private static Tensor Vector(JsonElement e, bool f32)
    {
        var data = Doubles(e);
        return FromDoubles(data, new[] { data.Length }, f32);
    }

    private static double[] Values(Tensor t, bool f32)
        => f32 ? Array.ConvertAll(t.ToFloatArray(), v => (double)v) : t.ToDoubleArray();

    private static double[] Filled(int n, double value)
    {
        var a = new double[n];
        Array.Fill(a, value);
        return a;
    }

    private static Tensor Ramp(params int[] shape)
    {
        int n = 1;
        foreach (int d in shape)
        {
            n *= d;
        }
        var data = new float[n];
        for (int i = 0; i < n; i++)
        {
            data[i] = 0.25f * i - 1f;
        }
        return Tensor.FromArray(data, shape);
    }

    private static void AssertTensor(string where, string quantity, JsonElement expected, Tensor actual, bool f32, double tol)
    {
        var shape = Ints(expected.GetProperty("shape"));
        Assert.True(actual.Shape.SequenceEqual(shape),
            $"{where}: {quantity} shape [{string.Join(",", actual.Shape)}], expected [{string.Join(",", shape)}]");
        AssertClose(where, quantity, Doubles(expected.GetProperty("data")), Values(actual, f32), tol);
    }

    private static void AssertClose(string where, string quantity, double[] expected, double[] actual, double tol)
    {
        Assert.True(expected.Length == actual.Length,
            $"{where}: {quantity} has {actual.Length} values, expected {expected.Length}");
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs(actual[i] - expected[i]);
            if (!(diff <= tol * (1 + Math.Abs(expected[i])))) // also fails on NaN
            {
                Assert.Fail($"{where}: {quantity}[{i}] = {actual[i]:R}, expected {expected[i]:R} " +
                            $"(|diff| = {diff:E3}, allowed {tol:E1}·(1 + |expected|))");
            }
        }
    }
}
