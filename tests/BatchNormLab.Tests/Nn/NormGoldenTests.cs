using System.Text.Json;
using BatchNormLab;
using BatchNormLab.Nn;

namespace BatchNormLab.Tests;

/// <summary>
/// Replays PyTorch golden cases for LayerNorm, GroupNorm and InstanceNorm1d/2d
/// (tools/golden/make_norm_golden.py writes Golden/Norms/*.json): outputs, input and parameter
/// gradients, and InstanceNorm's running statistics after every step, in float64 and float32.
/// </summary>
public sealed class NormGoldenTests
{
    static string GoldenDir => Path.Combine(AppContext.BaseDirectory, "Golden", "Norms");

    public static TheoryData<string> CaseNames() =>
        new(Directory.GetFiles(GoldenDir, "*.json").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal)!);

    /// <summary>|actual − expected| ≤ tol·(1 + |expected|), the tolerances of make_norm_golden.py.</summary>
    static double Tolerance(string caseName, bool f32) => f32 ? 1e-5 : caseName.Contains("large_mean") ? 1e-7 : 1e-10;

    [Fact]
    public void GoldenFilesCoverEveryLayer()
    {
        var modules = Directory.GetFiles(GoldenDir, "*.json")
            .Select(f => JsonDocument.Parse(File.ReadAllText(f)).RootElement.GetProperty("module").GetString()).ToHashSet();
        Assert.Equal(["GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "LayerNorm"], modules.Order());
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void MatchesPyTorch(string caseName)
    {
        var c = JsonDocument.Parse(File.ReadAllText(Path.Combine(GoldenDir, caseName + ".json"))).RootElement;
        bool f32 = c.GetProperty("dtype").GetString() == "float32";
        var args = c.GetProperty("args");
        double Arg(string name, double fallback) => args.TryGetProperty(name, out var v) ? v.GetDouble() : fallback;
        bool Flag(string name, bool fallback) => args.TryGetProperty(name, out var v) ? v.GetBoolean() : fallback;
        Module layer = c.GetProperty("module").GetString() switch
        {
            "LayerNorm" => new LayerNorm(args.GetProperty("normalized_shape").Deserialize<int[]>()!, Arg("eps", 1e-5), Flag("elementwise_affine", true)),
            "GroupNorm" => new GroupNorm(args.GetProperty("num_groups").GetInt32(), args.GetProperty("num_channels").GetInt32(), Arg("eps", 1e-5), Flag("affine", true)),
            "InstanceNorm1d" => new InstanceNorm1d(args.GetProperty("num_features").GetInt32(), Arg("eps", 1e-5), Arg("momentum", 0.1), Flag("affine", false), Flag("track_running_stats", false)),
            "InstanceNorm2d" => new InstanceNorm2d(args.GetProperty("num_features").GetInt32(), Arg("eps", 1e-5), Arg("momentum", 0.1), Flag("affine", false), Flag("track_running_stats", false)),
            var other => throw new InvalidOperationException($"unknown module {other}"),
        };
        if (!f32) layer.To(DType.Float64);
        var state = layer.StateDict().ToDictionary(e => e.Name);
        var weight = state.GetValueOrDefault("weight")?.Tensor;
        var bias = state.GetValueOrDefault("bias")?.Tensor;
        Assert.Equal(c.GetProperty("weight").ValueKind == JsonValueKind.Null, weight is null);
        if (weight is not null)
        {
            weight.CopyFrom(MakeTensor(c.GetProperty("weight"), f32));
            bias!.CopyFrom(MakeTensor(c.GetProperty("bias"), f32));
        }
        double tol = Tolerance(caseName, f32);
        int index = 0;
        foreach (var step in c.GetProperty("steps").EnumerateArray())
        {
            string where = $"{caseName}, step {index++}";
            layer.Train(step.GetProperty("mode").GetString() == "train");
            var x = MakeTensor(step.GetProperty("input"), f32);
            x.RequiresGrad = true;
            var y = layer.Forward(x);
            AssertClose(where, "output", step.GetProperty("output"), y, tol);
            y.Backward(MakeTensor(step.GetProperty("grad_output"), f32));
            AssertClose(where, "grad_input", step.GetProperty("grad_input"), x.Grad!, tol);
            if (weight is not null)
            {
                AssertClose(where, "grad_weight", step.GetProperty("grad_weight"), weight.Grad!, tol);
                AssertClose(where, "grad_bias", step.GetProperty("grad_bias"), bias!.Grad!, tol);
                weight.Grad = bias.Grad = null;
            }
            var runningMean = state.GetValueOrDefault("running_mean")?.Tensor;
            Assert.Equal(step.GetProperty("running_mean").ValueKind == JsonValueKind.Null, runningMean is null);
            if (runningMean is not null)
            {
                AssertValues(where, "running_mean", step.GetProperty("running_mean").Deserialize<double[]>()!, runningMean.ToDoubleArray(), tol);
                AssertValues(where, "running_var", step.GetProperty("running_var").Deserialize<double[]>()!, state["running_var"].Tensor!.ToDoubleArray(), tol);
                // As in PyTorch, InstanceNorm keeps the counter in its state dict but never advances it.
                Assert.Equal(0L, layer.StateDict().Single(e => e.Name == "num_batches_tracked").Int64);
            }
        }
    }

    static Tensor MakeTensor(JsonElement t, bool f32)
    {
        var data = t.GetProperty("data").Deserialize<double[]>()!;
        var shape = t.GetProperty("shape").Deserialize<int[]>()!;
        return f32 ? Tensor.FromArray(Array.ConvertAll(data, v => (float)v), shape) : Tensor.FromArray(data, shape);
    }

    static void AssertClose(string where, string quantity, JsonElement expected, Tensor actual, double tol)
    {
        Assert.Equal(expected.GetProperty("shape").Deserialize<int[]>()!, actual.Shape);
        AssertValues(where, quantity, expected.GetProperty("data").Deserialize<double[]>()!, actual.ToDoubleArray(), tol);
    }

    static void AssertValues(string where, string quantity, double[] expected, double[] actual, double tol)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= tol * (1 + Math.Abs(expected[i])),
                $"{where}: {quantity}[{i}] = {actual[i]:R}, expected {expected[i]:R}");
    }
}
