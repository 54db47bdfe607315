using BatchNormLab.Analysis;
using BatchNormLab.Data;
using BatchNormLab.Nn;
using BatchNormLab.Training;

namespace BatchNormLab.Tests;

public sealed class LossSurfaceTests
{
    /// <summary>A conv net with BN (rank-1 γ, β, biases) at 4×4 inputs, in float64.</summary>
    static Module ConvNet(Rng rng) => new Sequential(
        new Conv2d(2, 3, 3, padding: 1, rng: rng), new BatchNorm2d(3), new ReLU(), new MaxPool2d(2),
        new Flatten(), new Linear(3 * 2 * 2, 4, rng: rng)).To(DType.Float64);

    static Batch RandomBatch(Rng rng, int n = 8) =>
        new(Tensor.RandomNormal(rng, [n, 2, 4, 4], dtype: DType.Float64), Enumerable.Range(0, n).Select(i => i % 4).ToArray(), null, 0, 0);

    static double Norm(ReadOnlySpan<double> v) => Math.Sqrt(v.ToArray().Sum(x => x * x));

    [Fact]
    public void EachFilterOfTheDirectionHasItsFiltersNormAndSmallTensorsAreIgnoredOrCopied()
    {
        var rng = new Rng(5);
        var model = ConvNet(rng);
        var parameters = model.Parameters();
        var ignored = ParameterVector.Split(LossSurface.FilterNormalisedDirection(model, new Rng(1)), parameters);
        var included = ParameterVector.Split(LossSurface.FilterNormalisedDirection(model, new Rng(1), SmallTensors.Include), parameters);
        Assert.Contains(parameters, p => p.Rank == 4);
        for (int t = 0; t < parameters.Count; t++)
        {
            var (w, d) = (parameters[t].ToDoubleArray(), ignored[t].ToDoubleArray());
            if (parameters[t].Rank <= 1)
            {
                Assert.All(d, v => Assert.Equal(0, v));
                Assert.Equal(w, included[t].ToDoubleArray());
                continue;
            }
            Assert.Equal(d, included[t].ToDoubleArray());
            int filter = w.Length / parameters[t].Size(0);
            for (int start = 0; start < w.Length; start += filter)
                Assert.Equal(Norm(w.AsSpan(start, filter)), Norm(d.AsSpan(start, filter)), 1e-9);
        }
    }

    [Theory]
    [InlineData(BnMode.Eval)]
    [InlineData(BnMode.Train)]
    public void TheCurveAtZeroIsTheModelsLossAndTheModelIsUnchanged(BnMode mode)
    {
        var rng = new Rng(7);
        var model = ConvNet(rng);
        // Running statistics away from their initial values, so that eval mode differs from train mode.
        using (Autograd.NoGrad()) model.Forward(RandomBatch(rng).Inputs);
        var batches = new[] { RandomBatch(rng), RandomBatch(rng, 5) };
        var loss = LossSurface.MeanLoss(batches, LossKind.CrossEntropy);
        var before = model.StateDict().Select(e => e.Tensor?.ToDoubleArray() ?? [e.Int64!.Value]).ToList();

        var d = LossSurface.FilterNormalisedDirection(model, rng);
        var curve = LossSurface.Curve(model, d, [-0.5, 0, 0.5], loss, mode);
        LossSurface.Grid(model, d, LossSurface.FilterNormalisedDirection(model, rng), [0, 1], [0, 1], loss, mode);

        Assert.Equal(before, model.StateDict().Select(e => e.Tensor?.ToDoubleArray() ?? [e.Int64!.Value]));
        Assert.All(model.NamedModules(), m => Assert.True(m.Module.Training));
        model.Train(mode == BnMode.Train);
        double expected;
        using (Autograd.NoGrad()) expected = (8 * model.Forward(batches[0].Inputs).CrossEntropy(batches[0].Labels!).Item() + 5 * model.Forward(batches[1].Inputs).CrossEntropy(batches[1].Labels!).Item()) / 13;
        Assert.Equal(expected, curve[1], 1e-12);
        Assert.NotEqual(curve[0], curve[1]);
    }

    [Fact]
    public void ALinearModelsMseSurfaceIsTheKnownQuadratic()
    {
        const int n = 12, inputs = 4, outputs = 3;
        var rng = new Rng(9);
        var model = new Linear(inputs, outputs, rng: rng);
        model.To(DType.Float64);
        var x = Tensor.RandomNormal(rng, [n, inputs], dtype: DType.Float64);
        var t = Tensor.RandomNormal(rng, [n, outputs], dtype: DType.Float64);
        var loss = LossSurface.MeanLoss([new Batch(x, null, t, 0, 0)], LossKind.Mse);
        var (d1, d2) = (LossSurface.FilterNormalisedDirection(model, rng), LossSurface.FilterNormalisedDirection(model, rng));
        double[] alphas = [-1, -0.3, 0, 0.7], betas = [-0.5, 0.25];
        var grid = LossSurface.Grid(model, d1, d2, alphas, betas, loss, BnMode.Eval);
        var curve = LossSurface.Curve(model, d1, alphas, loss, BnMode.Eval);

        // L = (1/(n·outputs)) Σ ((W + α·D₁ + β·D₂)·xₙ + b − tₙ)²; the bias is rank 1, so it does not move.
        var (w, b) = (model.Weight.ToDoubleArray(), model.Bias!.ToDoubleArray());
        var (u, v, xs, ts) = (d1.ToDoubleArray(), d2.ToDoubleArray(), x.ToDoubleArray(), t.ToDoubleArray());
        Assert.All(u[w.Length..].Concat(v[w.Length..]), e => Assert.Equal(0, e));
        double Exact(double alpha, double beta)
        {
            double sum = 0;
            for (int s = 0; s < n; s++)
                for (int o = 0; o < outputs; o++)
                {
                    double y = b[o] - ts[s * outputs + o];
                    for (int i = 0; i < inputs; i++) y += (w[o * inputs + i] + alpha * u[o * inputs + i] + beta * v[o * inputs + i]) * xs[s * inputs + i];
                    sum += y * y;
                }
            return sum / (n * outputs);
        }
        for (int i = 0; i < alphas.Length; i++)
        {
            Assert.Equal(Exact(alphas[i], 0), curve[i], 1e-12);
            for (int j = 0; j < betas.Length; j++) Assert.Equal(Exact(alphas[i], betas[j]), grid[i, j], 1e-12);
        }
    }
}
