using BatchNormLab.Analysis;
using BatchNormLab.Data;
using BatchNormLab.Models;
using BatchNormLab.Nn;
using BatchNormLab.Training;
using MathNet.Numerics.LinearAlgebra;
using static BatchNormLab.Tests.HessianFixtures;

namespace BatchNormLab.Tests;

/// <summary>What the Hessian operator is a Hessian of: parameter groups, BatchNorm modes, datasets, and an untouched model.</summary>
public class HessianOperatorTests
{
    static HessianOperator MlpHessian(HessianMode mode, Norm norm = Norm.BatchNorm)
    {
        var (model, batch) = BatchNormMlp(norm);
        return HessianOperator.OnBatch(model, batch, LossKind.CrossEntropy, mode);
    }

    [Fact]
    public void PerLayerHessianIsTheDiagonalBlockOfTheFullHessian()
    {
        var op = MlpHessian(HessianMode.Training);
        var full = Dense(op);
        var layers = ParameterGroup.Layers(op.Model);
        Assert.Equal(["1", "2", "4", "5", "7"], layers.Select(g => g.Name));
        int offset = 0;
        foreach (var layer in layers)
        {
            var block = op.For(layer);
            var exact = full.SubMatrix(offset, block.Dimension, offset, block.Dimension);
            Assert.True((Dense(block) - exact).FrobeniusNorm() <= 1e-12 * full.FrobeniusNorm(), $"layer {layer.Name}");
            var top = Lanczos.Top(block, 1, steps: block.Dimension, new Rng(1));
            Assert.Equal(layer.Name, top.Group);
            Assert.True(Relative(top.Values[0], EigenByMagnitude(exact).Values[0]) <= 1e-9, $"layer {layer.Name}: λ {top.Values[0]:R}");
            offset += block.Dimension;
        }
        Assert.Equal(op.Dimension, offset);
    }

    [Fact]
    public void EvalAndTrainingModeHessiansDifferWithBatchNormOnly()
    {
        var v = RandomVector(MlpHessian(HessianMode.Training).Dimension);
        var train = MlpHessian(HessianMode.Training).Apply(v);
        var eval = MlpHessian(HessianMode.Eval).Apply(v);
        Assert.True(Distance(train, eval) > 0.1 * Length(train), $"BN: ‖H_train v − H_eval v‖ = {Distance(train, eval):G3}, ‖H_train v‖ = {Length(train):G3}");

        var plainTrain = MlpHessian(HessianMode.Training, Norm.None);
        var w = RandomVector(plainTrain.Dimension);
        Assert.Equal(plainTrain.Apply(w), plainTrain.In(HessianMode.Eval).Apply(w));
    }

    [Fact]
    public void EvalModeUsesTheRunningStatistics()
    {
        // Eval mode's product is the one of the model put in eval mode by hand, with its (moved) running statistics.
        var op = MlpHessian(HessianMode.Eval);
        for (int i = 0; i < 3; i++) op.Model.Forward(Tensor.RandomNormal(new Rng((ulong)i), [16, 5], 2, 1.5, DType.Float64));
        var v = RandomVector(op.Dimension);
        var ours = op.Apply(v);
        op.Model.Eval();
        var parameters = op.Model.Parameters();
        var lossTerm = LossTerm.On(BatchNormMlp().Batch, LossKind.CrossEntropy).Loss;
        var reference = ParameterVector.Flatten(Autograd.HessianVectorProduct(() => lossTerm(op.Model), parameters,
            ParameterVector.Split(Tensor.FromArray(v, v.Length), parameters))).ToDoubleArray();
        Assert.Equal(reference, ours);
    }

    [Fact]
    public void DatasetHessianIsTheSampleWeightedMeanOfItsBatchHessians()
    {
        var (model, batch) = BatchNormMlp();
        var data = new Dataset("mlp", batch.Inputs.To(DType.Float32), batch.Labels!, 3);
        var op = HessianOperator.OnDataset(model, data, LossKind.CrossEntropy, batchSize: 7, HessianMode.Training);
        var v = RandomVector(op.Dimension);
        var expected = new double[op.Dimension];
        foreach (var (start, count) in new[] { (0, 7), (7, 7), (14, 2) })
        {
            var part = data.Subset(Enumerable.Range(start, count).ToArray());
            var hv = HessianOperator.OnBatch(model, new Batch(part.Inputs, part.Labels, null, 0, 0), LossKind.CrossEntropy, HessianMode.Training).Apply(v);
            for (int i = 0; i < hv.Length; i++) expected[i] += hv[i] * count / 16;
        }
        var ours = op.Apply(v);
        Assert.True(Distance(ours, expected) <= 1e-12 * Length(expected));
        // In training mode, batch statistics make the batches' mean differ from the Hessian of one batch of all 16.
        Assert.True(Distance(ours, MlpHessian(HessianMode.Training).Apply(v)) > 1e-3 * Length(expected));
    }

    [Fact]
    public void AnalysesLeaveTheModelExactlyAsItWas()
    {
        var (model, batch) = BatchNormMlp();
        // A model mid-training: moved running statistics, gradients held, and in eval mode with one layer in training mode.
        model.Forward(batch.Inputs).CrossEntropy(batch.Labels!).Backward();
        model.Eval();
        model.Children[2].Module.Train();
        var before = Snapshot(model);
        var grads = model.Parameters().Select(p => p.Grad).ToArray();

        foreach (var mode in new[] { HessianMode.Training, HessianMode.Eval })
        {
            var op = HessianOperator.OnBatch(model, batch, LossKind.CrossEntropy, mode);
            var top = PowerIteration.Top(op, 2, new Rng(1), maxIterations: 5);
            Lanczos.Top(op, 2, steps: 5, new Rng(2));
            Hutchinson.Trace(op, 2, new Rng(3));
            SpectralDensity.Estimate(op, new Rng(4), steps: 5, draws: 2, gridPoints: 10);
            GradientEnergy.Of(op, top);
            op.For(ParameterGroup.Layers(model)[1]).Apply(new double[12]);
        }
        Assert.Equal(before, Snapshot(model));
        Assert.Equal(grads, model.Parameters().Select(p => p.Grad).ToArray());
    }

    /// <summary>Every state-dict value (bitwise), every grad's values, and every module's mode.</summary>
    static string Snapshot(Module model) => string.Join("\n",
        model.StateDict().Select(e => $"{e.Name}: {e.Int64} {string.Join(",", e.Tensor?.ToDoubleArray().Select(BitConverter.DoubleToInt64Bits) ?? [])}")
            .Concat(model.Parameters().Select(p => string.Join(",", p.Grad!.ToDoubleArray())))
            .Concat(model.NamedModules().Select(m => $"{m.Name} {m.Module.Training}")));

    [Fact]
    public void ResultsSayWhichModeAndGroup()
    {
        var whole = MlpHessian(HessianMode.Eval);
        var op = whole.For(ParameterGroup.Layers(whole.Model)[0]);
        var trace = Hutchinson.Trace(op, 2, new Rng(1));
        var density = SpectralDensity.Estimate(op, new Rng(1), steps: 4, draws: 1, gridPoints: 10);
        Assert.Equal((HessianMode.Eval, "1"), (trace.Mode, trace.Group));
        Assert.Equal((HessianMode.Eval, "1"), (density.Mode, density.Group));
    }

    [Fact]
    public void SameSeedsGiveBitwiseTheSameResults()
    {
        (double[], double[], double, double[]) Run()
        {
            var op = MlpHessian(HessianMode.Training);
            var density = SpectralDensity.Estimate(op, new Rng(7), steps: 8, draws: 2, gridPoints: 50);
            return (PowerIteration.Top(op, 2, new Rng(7), maxIterations: 10).Values, Lanczos.Top(op, 2, 10, new Rng(7)).Values,
                Hutchinson.Trace(op, 3, new Rng(7)).Trace, density.Density);
        }
        var (first, second) = (Run(), Run());
        Assert.Equal(first.Item1, second.Item1);
        Assert.Equal(first.Item2, second.Item2);
        Assert.Equal(first.Item3, second.Item3);
        Assert.Equal(first.Item4, second.Item4);
    }

    static double[] RandomVector(int n)
    {
        var rng = new Rng(9);
        return Enumerable.Range(0, n).Select(_ => rng.Normal()).ToArray();
    }

    static double Length(double[] a) => Math.Sqrt(a.Sum(x => x * x));

    static double Distance(double[] a, double[] b) => Math.Sqrt(a.Select((x, i) => (x - b[i]) * (x - b[i])).Sum());
}
