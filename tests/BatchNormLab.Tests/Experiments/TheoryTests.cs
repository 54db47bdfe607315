using BatchNormLab.Experiments;
using BatchNormLab.Models;
using BatchNormLab.Nn;

namespace BatchNormLab.Tests;

public sealed class TheoryTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-theory-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>
    /// ‖∇_y L‖ and ĝᵀH_yĝ/‖ĝ‖² from double backward against float64 central differences along u = ĝ/‖ĝ‖:
    /// (L(y + εu) − L(y − εu)) / 2ε = ‖ĝ‖ and ⟨∇_y L(y + εu) − ∇_y L(y − εu), u⟩ / 2ε = uᵀH_y u, with BN after y (its
    /// batch statistics functions of y) and without.
    /// </summary>
    [Theory]
    [InlineData(Norm.BatchNorm)]
    [InlineData(Norm.None)]
    public void SecondOrderTermAlongTheGradientMatchesAFiniteDifference(Norm norm)
    {
        var rng = new Rng(5);
        var model = Mlp.Create(6, [8, 8], 3, new ModelOptions(norm, Activation: Activation.Tanh), rng).To(DType.Float64);
        var x = Tensor.RandomNormal(rng, [16, 6], dtype: DType.Float64);
        int[] labels = Enumerable.Range(0, 16).Select(i => i % 3).ToArray();
        Tensor Loss(Module m) => m.Forward(x).CrossEntropy(labels);
        var layer = model.NamedModules().Select(m => m.Module).OfType<Linear>().ElementAt(1);
        var before = model.StateDict().Select(e => e.Tensor?.ToDoubleArray() ?? [e.Int64!.Value]).ToList();

        var (norm2, curvature, std) = TheoryProbe.AlongGradient(model, [layer], Loss)[0];
        Assert.Equal(before, model.StateDict().Select(e => e.Tensor?.ToDoubleArray() ?? [e.Int64!.Value]));

        // y replaced by y + shift, as a leaf: the loss and ∇_y L there.
        double[] y0 = [];
        (double Loss, double[] Gradient) At(Tensor? shift)
        {
            Tensor? leaf = null;
            using var hook = layer.RegisterForwardHook((_, _, y) =>
            {
                if (shift is null) y0 = y.ToDoubleArray();
                leaf = shift is null ? y.Detach().Clone() : y.Detach() + shift;
                leaf.RequiresGrad = true;
                return leaf;
            });
            using (Autograd.EnableGrad())
            {
                var value = Loss(model);
                return (value.Item(), Autograd.Grad(value, [leaf!])[0].ToDoubleArray());
            }
        }
        var g = At(null).Gradient;
        for (int c = 0; c < 8; c++)
        {
            var column = Enumerable.Range(0, 16).Select(n => y0[n * 8 + c]).ToArray();
            double mean = column.Average();
            Assert.Equal(Math.Sqrt(column.Average(v => (v - mean) * (v - mean))), std[c], 1e-12);
        }
        double length = Math.Sqrt(g.Sum(v => v * v));
        Assert.Equal(length, norm2, 1e-12 * length);
        const double eps = 1e-5;
        var u = g.Select(v => v / length).ToArray();
        var (plus, minus) = (At(Tensor.FromArray(u.Select(v => eps * v).ToArray(), [16, 8])), At(Tensor.FromArray(u.Select(v => -eps * v).ToArray(), [16, 8])));
        Assert.Equal(length, (plus.Loss - minus.Loss) / (2 * eps), 1e-7 * length);
        double expected = u.Select((v, i) => v * (plus.Gradient[i] - minus.Gradient[i])).Sum() / (2 * eps);
        Assert.True(Math.Abs(expected) > 1e-6, $"uᵀHu = {expected}: too small to test against");
        Assert.Equal(expected, curvature, 1e-6 * Math.Abs(expected));
    }

    [Fact]
    public void TinyPresetRunsEndToEndWithFiniteNumbersAndRawFiles()
    {
        var result = new Theory().Run(new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1));
        foreach (var run in new[] { "VGG BN", "VGG standard" })
            foreach (var measure in new[] { "‖∇_y L‖", "|ĝᵀH_yĝ|/‖ĝ‖²", "‖∇_W L‖", "‖W_t − W_0‖" })
                Assert.True(result.Numbers[Theory.MeanKey(run, measure)] is > 0 and < double.PositiveInfinity, $"{run}: {measure}");
        Assert.Equal(["theory.csv", "theory-final.csv"], result.Files);
        var lines = File.ReadAllLines(Path.Combine(dir, "theory", "theory.csv"));
        Assert.Equal(1 + 2 * 2 * 8, lines.Length); // 2 networks × 2 seeds × 8 probes (40 steps, every 5) at the one layer of the tiny MLP
        var first = lines[1].Split(',');
        Assert.Equal("0", first[7]); // step 0: the weights are the initial ones
        Assert.Equal(first[0] == "bn", double.IsFinite(double.Parse(first[9], System.Globalization.CultureInfo.InvariantCulture))); // γ/σ only where there is a BN
        Assert.InRange(result.Numbers[Theory.GainKey("VGG BN")], 1e-3, 1e3);
        Assert.Equal(1 + 2 * 2, File.ReadAllLines(Path.Combine(dir, "theory", "theory-final.csv")).Length);
        Assert.Equal(4, result.Figures.Count);
        Assert.Equal(6, result.Verdict.Parts.Count);
        Assert.All(result.Verdict.Parts.Skip(2), p => Assert.All(p.Values, v => Assert.Equal(2, v.Values.Count)));
    }
}
