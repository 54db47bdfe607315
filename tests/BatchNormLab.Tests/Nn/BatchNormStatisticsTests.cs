using BatchNormLab;
using BatchNormLab.Models;
using BatchNormLab.Nn;
using BatchNormLab.Training;

namespace BatchNormLab.Tests;

/// <summary>[IS15]'s population statistics (BatchNormStatistics) against a direct float64 computation, and BN without γ, β.</summary>
public class BatchNormStatisticsTests
{
    [Fact]
    public void PopulationStatisticsAreAveragedBatchMeansAndCorrectedBatchVariances()
    {
        // Linear → BN → ReLU → Linear → BN, float64: the second BN's input depends on the first BN's batch statistics.
        var rng = new Rng(11);
        var (first, second) = (new Linear(5, 4, rng: rng), new Linear(4, 3, rng: rng));
        var (bn1, bn2) = (new BatchNorm1d(4, momentum: 0.3), new BatchNorm1d(3));
        var model = new Sequential(first, bn1, new ReLU(), second, bn2);
        model.To(DType.Float64);
        var batches = Enumerable.Range(0, 6).Select(_ => Tensor.RandomNormal(rng, [10, 5], mean: 2, std: 3, dtype: DType.Float64)).ToList();
        bn1.Forward(Tensor.RandomNormal(rng, [10, 4], dtype: DType.Float64)); // running statistics from earlier training, which the reset must clear
        model.Eval();

        Assert.Equal(6, BatchNormStatistics.RecomputePopulation(model, batches));

        var (w1, b1, w2, b2) = (first.Weight.ToDoubleArray(), first.Bias!.ToDoubleArray(), second.Weight.ToDoubleArray(), second.Bias!.ToDoubleArray());
        var (mean1, var1, mean2, var2) = (new double[4], new double[4], new double[3], new double[3]);
        const int m = 10;
        foreach (var batch in batches)
        {
            var x = batch.ToDoubleArray();
            var h1 = Affine(x, m, 5, w1, b1, 4);
            var (mu1, s1) = Moments(h1, m, 4);
            var a = new double[m * 4];
            for (int i = 0; i < m; i++)
                for (int c = 0; c < 4; c++) a[i * 4 + c] = Math.Max(0, (h1[i * 4 + c] - mu1[c]) / Math.Sqrt(s1[c] + 1e-5)); // γ = 1, β = 0
            var (mu2, s2) = Moments(Affine(a, m, 4, w2, b2, 3), m, 3);
            for (int c = 0; c < 4; c++) (mean1[c], var1[c]) = (mean1[c] + mu1[c] / 6, var1[c] + s1[c] / 6);
            for (int c = 0; c < 3; c++) (mean2[c], var2[c]) = (mean2[c] + mu2[c] / 6, var2[c] + s2[c] / 6);
        }
        // E[μ_B] and m/(m−1)·E[σ²_B]
        for (int c = 0; c < 4; c++)
        {
            Assert.Equal(mean1[c], bn1.RunningMean!.GetFlat(c), 1e-12);
            Assert.Equal(var1[c] * m / (m - 1), bn1.RunningVar!.GetFlat(c), 1e-12);
        }
        for (int c = 0; c < 3; c++)
        {
            Assert.Equal(mean2[c], bn2.RunningMean!.GetFlat(c), 1e-12);
            Assert.Equal(var2[c] * m / (m - 1), bn2.RunningVar!.GetFlat(c), 1e-12);
        }
        Assert.Equal(6, bn1.NumBatchesTracked);
        Assert.Equal(0.3, bn1.Momentum);
        Assert.Throws<ArgumentOutOfRangeException>(() => bn1.Momentum = 1.5);
        Assert.Equal(0.1, bn2.Momentum);
        Assert.All(model.NamedModules(), m => Assert.False(m.Module.Training));
        Assert.All(model.Parameters(), p => Assert.Null(p.Grad));
    }

    [Fact]
    public void PopulationVarianceOfImagesCorrectsWithValuesPerChannel()
    {
        // BN2d: m = N·H·W values per channel, not N (a pitfall of .NET ports).
        var rng = new Rng(3);
        var conv = new Conv2d(2, 3, 3, padding: 1, rng: rng);
        var bn = new BatchNorm2d(3);
        var model = new Sequential(conv, bn, new ReLU());
        var batches = Enumerable.Range(0, 4).Select(_ => Tensor.RandomNormal(rng, [4, 2, 5, 5], mean: 1, std: 2)).ToList();
        var inputs = new List<double[]>();
        using (bn.RegisterForwardHook((_, input, _) => { inputs.Add(input.ToDoubleArray()); return null; }))
            BatchNormStatistics.RecomputePopulation(model, batches);
        const int m = 4 * 5 * 5;
        for (int c = 0; c < 3; c++)
        {
            double mean = 0, variance = 0;
            foreach (var x in inputs)
            {
                var values = Enumerable.Range(0, 4).SelectMany(n => x.Skip((n * 3 + c) * 25).Take(25)).ToArray();
                double mu = values.Average();
                mean += mu / inputs.Count;
                variance += values.Sum(v => (v - mu) * (v - mu)) / m / inputs.Count;
            }
            Assert.Equal(mean, bn.RunningMean!.GetFlat(c), 1e-5);
            Assert.Equal(variance * m / (m - 1), bn.RunningVar!.GetFlat(c), 1e-5 * variance);
        }
        Assert.True(model.Training);
        Assert.Throws<ArgumentException>(() => BatchNormStatistics.RecomputePopulation(model, []));
    }

    [Fact]
    public void NormAffineOffBuildsBatchNormWithoutWeightAndBias()
    {
        var options = new ModelOptions(Norm.BatchNorm) { NormAffine = false };
        var mlp = new ModelSpec("mlp", options, [8]).Build([6], 3, new Rng(0));
        // As PyTorch's nn.Sequential(Flatten, Linear, BatchNorm1d(8, affine=False), ReLU, Linear).
        Assert.Equal(["1.weight", "1.bias", "2.running_mean", "2.running_var", "2.num_batches_tracked", "4.weight", "4.bias"], mlp.StateDict().Select(e => e.Name));
        var vgg = new ModelSpec("vgg11", options, Width: 0.125).Build([1, 28, 28], 10, new Rng(0));
        var bnLayers = vgg.NamedModules().Select(m => m.Module).OfType<BatchNorm>().ToList();
        Assert.Equal(8, bnLayers.Count);
        Assert.All(bnLayers, bn => Assert.True(bn is { Affine: false, Weight: null, Bias: null }));
        Assert.DoesNotContain(vgg.StateDict(), e => e.Name == "features.1.weight");
        Assert.Contains(vgg.StateDict(), e => e.Name == "features.1.running_var");
        // The option is part of a run's config and survives its JSON.
        var config = new TrainConfig { Model = new ModelSpec("mlp", options), Dataset = "gaussian-mixture", Steps = 1 };
        Assert.False(TrainConfig.FromJson(config.ToJson(), "test").Model.Options.NormAffine);
        // Configs written before the option existed read back as affine, PyTorch's default.
        var older = System.Text.Json.Nodes.JsonNode.Parse(config.ToJson())!;
        Assert.True(older["model"]!["options"]!.AsObject().Remove("norm_affine"));
        Assert.True(TrainConfig.FromJson(older.ToJsonString(), "test").Model.Options.NormAffine);
        Assert.True(new ModelOptions().NormAffine);
    }

    static double[] Affine(double[] x, int n, int inputs, double[] w, double[] b, int outputs)
    {
        var y = new double[n * outputs];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outputs; o++)
            {
                double s = b[o];
                for (int k = 0; k < inputs; k++) s += x[i * inputs + k] * w[o * inputs + k];
                y[i * outputs + o] = s;
            }
        return y;
    }

    /// <summary>Per column: the mean and the biased variance.</summary>
    static (double[] Mean, double[] Variance) Moments(double[] x, int n, int columns)
    {
        var (mean, variance) = (new double[columns], new double[columns]);
        for (int c = 0; c < columns; c++)
        {
            for (int i = 0; i < n; i++) mean[c] += x[i * columns + c] / n;
            for (int i = 0; i < n; i++) variance[c] += (x[i * columns + c] - mean[c]) * (x[i * columns + c] - mean[c]) / n;
        }
        return (mean, variance);
    }
}
