using BatchNormLab.Experiments;
using BatchNormLab.Models;
using BatchNormLab.Nn;
using BatchNormLab.Training;

namespace BatchNormLab.Tests;

public sealed class LandscapeTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-landscape-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>The measurement at the model's current weights, with g = ∇L(w) computed here.</summary>
    static LandscapeMeasurement MeasureHere(Module model, Func<Module, Tensor> loss, double[] etas)
    {
        var weights = ParameterVector.Flatten(model.Parameters());
        var (value, gradient) = ParameterVector.LossAndGradientAt(model, weights, loss);
        return LandscapeProbe.Measure(model, loss, weights.ToDoubleArray(), gradient.ToDoubleArray(), etas, step: 0, value);
    }

    [Fact]
    public void MeasuresAreTheLossRangeAndMaximaOverTheGrid()
    {
        var m = new LandscapeMeasurement(0, 1.0, [0.1, 0.2, 0.4], [0.9, 0.7, 1.5], [0.3, 0.5, 0.6], GradientNorm: 2);
        Assert.Equal(0.8, m.LossVariation, 12);
        Assert.Equal(0.6, m.GradientPredictiveness, 12); // the level of the band, not its height 0.3
        Assert.Equal(1.5, m.BetaSmoothness, 12); // 0.3 / (0.1·2) beats 0.5 / 0.4 and 0.6 / 0.8
        var overflowed = m with { Losses = [0.9, double.PositiveInfinity, 1.5] };
        Assert.False(overflowed.IsFinite);
        Assert.True(double.IsNaN(overflowed.LossVariation) && double.IsNaN(overflowed.BetaSmoothness));
    }

    [Fact]
    public void ChangesVanishLinearlyAsTheStepSizeGoesToZero()
    {
        var rng = new Rng(3);
        // Tanh, not ReLU: a ReLU kink crossed within the step makes the gradient jump, not vary linearly.
        var model = Mlp.Create(6, [8, 8], 3, new ModelOptions(Norm.BatchNorm, Activation: Activation.Tanh), rng).To(DType.Float64);
        var x = Tensor.RandomNormal(rng, [16, 6], dtype: DType.Float64);
        int[] labels = Enumerable.Range(0, 16).Select(i => i % 3).ToArray();
        Tensor Loss(Module m) => m.Forward(x).CrossEntropy(labels);

        double[] scales = [1e-2, 1e-4, 1e-6];
        var measured = scales.Select(s => MeasureHere(model, Loss, [s, 2 * s])).ToArray();
        Assert.True(measured[0].GradientChanges[0] > 0);
        for (int k = 1; k < scales.Length; k++)
        {
            double shrink = scales[k] / scales[k - 1];
            // L(w − ηg) − L(w) ≈ −η‖g‖² and ∇L(w) − ∇L(w − ηg) ≈ η·Hg: both first order in η.
            Assert.InRange(measured[k].GradientChanges[0] / measured[k - 1].GradientChanges[0], 0.5 * shrink, 2 * shrink);
            Assert.InRange(measured[k].LossVariation / measured[k - 1].LossVariation, 0.5 * shrink, 2 * shrink);
            Assert.InRange(measured[k].GradientPredictiveness / measured[k - 1].GradientPredictiveness, 0.5 * shrink, 2 * shrink);
        }
    }

    [Fact]
    public void BetaSmoothnessOfALinearModelWithMseIsTheHessianGainAlongTheGradient()
    {
        const int n = 20, inputs = 5, outputs = 3;
        var rng = new Rng(11);
        var model = new Linear(inputs, outputs, rng: rng).To(DType.Float64);
        var x = Tensor.RandomNormal(rng, [n, inputs], dtype: DType.Float64);
        var targets = Tensor.RandomNormal(rng, [n, outputs], dtype: DType.Float64);
        double[] etas = [1e-3, 0.1, 1, 10];
        Tensor Loss(Module linear) => linear.Forward(x).MseLoss(targets);
        var m = MeasureHere(model, Loss, etas);

        // L = (1/(n·outputs)) Σ ‖W·xₙ + b − tₙ‖²: the Hessian is constant, and along d = (dW, db)
        // H·d = (2/(n·outputs)) Σₙ (dW·xₙ + db) ⊗ (xₙ, 1). The flat gradient is W row-major, then b.
        var g = ParameterVector.LossAndGradientAt(model, ParameterVector.Flatten(model.Parameters()), Loss).Gradient.ToDoubleArray();
        var xs = x.ToDoubleArray();
        var hg = new double[g.Length];
        for (int s = 0; s < n; s++)
            for (int o = 0; o < outputs; o++)
            {
                double d = g[outputs * inputs + o];
                for (int i = 0; i < inputs; i++) d += g[o * inputs + i] * xs[s * inputs + i];
                double scaled = 2.0 / (n * outputs) * d;
                for (int i = 0; i < inputs; i++) hg[o * inputs + i] += scaled * xs[s * inputs + i];
                hg[outputs * inputs + o] += scaled;
            }
        double expected = Math.Sqrt(hg.Sum(v => v * v)) / Math.Sqrt(g.Sum(v => v * v));

        for (int i = 0; i < etas.Length; i++)
            Assert.Equal(expected, m.GradientChanges[i] / (etas[i] * m.GradientNorm), 1e-9 * expected);
        Assert.Equal(expected, m.BetaSmoothness, 1e-9 * expected);
        Assert.True(m.LossVariation > 0);
    }

    [Fact]
    public void TinyPresetRunsEndToEndWithFiniteNumbersAndRawFiles()
    {
        var result = new Landscape().Run(new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1));
        foreach (var run in new[] { "VGG BN", "VGG standard", "DLN BN", "DLN standard" })
        {
            Assert.Equal(8, result.Numbers[Landscape.ProbesKey(run)]); // 40 steps, every 5, each seed
            foreach (var measure in new[] { "loss variation", "gradient predictiveness", "β-smoothness" })
                Assert.True(double.IsFinite(result.Numbers[Landscape.MeanKey(run, measure)]) && result.Numbers[Landscape.MaxKey(run, measure)] > 0, $"{run}: {measure}");
        }
        Assert.Equal(4, result.Files.Count);
        foreach (var file in result.Files)
        {
            var lines = File.ReadAllLines(Path.Combine(dir, "landscape", file));
            Assert.Equal("seed,step,eta,loss,grad_difference", lines[0]);
            Assert.Equal(1 + 2 * 8 * Landscape.GridPoints, lines.Length); // 2 seeds, 8 probes each
        }
        Assert.Equal(6, result.Figures.Count);
        Assert.All(result.Figures.SelectMany(f => f.Series), s => Assert.Equal(s.X.Length, s.Y.Length));
        // Two preconditions, then three measures on each of two networks, each judged over both seeds.
        Assert.Equal(8, result.Verdict.Parts.Count);
        Assert.Contains(result.Verdict.Parts, p => p.Claim.StartsWith("DLN: the gradient changes much less", StringComparison.Ordinal));
        Assert.All(result.Verdict.Parts.Skip(2), p => Assert.All(p.Values, v => Assert.Equal(2, v.Values.Count)));
        int ics = Experiment.All.ToList().FindIndex(e => e is Ics);
        Assert.IsType<Landscape>(Experiment.All[ics + 1]);
        Assert.IsType<Theory>(Experiment.All[ics + 2]);
    }
}
