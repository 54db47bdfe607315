using BatchNormLab;
using BatchNormLab.Nn;

namespace BatchNormLab.Tests;

/// <summary>
/// Exact Hessian-vector products (double backward, BatchNorm in training mode with its statistics
/// depending on the weights) against central differences of the gradient in float64.
/// </summary>
public class HessianVectorProductTests
{
    static double RelativeError(Tensor[] a, Tensor[] b)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < a.Length; i++)
            for (int j = 0; j < a[i].Length; j++)
            {
                diff += Math.Pow(a[i].GetFlat(j) - b[i].GetFlat(j), 2);
                norm += Math.Pow(b[i].GetFlat(j), 2);
            }
        return Math.Sqrt(diff / norm);
    }

    // Hv ≈ (∇L(w + εv) − ∇L(w − εv)) / 2ε
    static Tensor[] FiniteDifferenceHvp(Func<Tensor> loss, IReadOnlyList<Tensor> parameters, Tensor[] v, double eps)
    {
        Tensor[] GradAt(double step)
        {
            for (int i = 0; i < parameters.Count; i++) parameters[i].CopyFrom(parameters[i].Detach() + v[i] * step);
            var g = Autograd.Grad(loss(), parameters);
            for (int i = 0; i < parameters.Count; i++) parameters[i].CopyFrom(parameters[i].Detach() - v[i] * step);
            return g;
        }
        var plus = GradAt(eps);
        var minus = GradAt(-eps);
        return plus.Select((p, i) => (p - minus[i]) * (1 / (2 * eps))).ToArray();
    }

    static void CheckHvp(Module model, Tensor input, int[] targets)
    {
        model.To(DType.Float64);
        var parameters = model.Parameters();
        var rng = new Rng(7);
        var v = parameters.Select(p => Tensor.RandomNormal(rng, p.Shape, dtype: DType.Float64)).ToArray();
        Tensor Loss() => model.Forward(input).CrossEntropy(targets);

        var exact = Autograd.HessianVectorProduct(Loss, parameters, v);
        var numeric = FiniteDifferenceHvp(Loss, parameters, v, 1e-5);
        double error = RelativeError(exact, numeric);
        Assert.True(error <= 1e-6, $"relative error of Hv = {error:E3}");
        // Not vacuous: the BN statistics' dependence on the weights matters for these products.
        Assert.True(exact.Sum(t => t.Abs().Sum().Item()) > 1e-3);
    }

    [Fact]
    public void MlpWithBatchNorm()
    {
        var rng = new Rng(1);
        var model = new Sequential(
            new Linear(6, 8, rng: rng), new BatchNorm1d(8), new Tanh(),
            new Linear(8, 7, rng: rng), new BatchNorm1d(7), new ReLU(),
            new Linear(7, 3, rng: rng));
        var x = Tensor.RandomNormal(rng, [10, 6], dtype: DType.Float64);
        CheckHvp(model, x, [0, 1, 2, 0, 1, 2, 2, 1, 0, 1]);
    }

    [Fact]
    public void ConvNetWithBatchNorm()
    {
        var rng = new Rng(2);
        var model = new Sequential(
            new Conv2d(2, 3, 3, padding: 1, rng: rng), new BatchNorm2d(3), new ReLU(), new MaxPool2d(2),
            new Conv2d(3, 4, 3, stride: 2, padding: 1, rng: rng), new BatchNorm2d(4), new Tanh(), new AvgPool2d(2),
            new Flatten(), new Linear(4, 3, rng: rng));
        var x = Tensor.RandomNormal(rng, [4, 2, 8, 8], dtype: DType.Float64);
        CheckHvp(model, x, [0, 2, 1, 2]);
    }

    [Fact]
    public void ConvNetWithGroupNormLayerNormAndInstanceNorm()
    {
        // LayerNorm of a conv layer is GroupNorm with one group; then GroupNorm with two groups, then InstanceNorm.
        var rng = new Rng(4);
        var model = new Sequential(
            new Conv2d(2, 4, 3, padding: 1, rng: rng), new GroupNorm(1, 4), new ReLU(),
            new Conv2d(4, 4, 3, padding: 1, rng: rng), new GroupNorm(2, 4), new Tanh(), new MaxPool2d(2),
            new Conv2d(4, 3, 3, padding: 1, rng: rng), new InstanceNorm2d(3, affine: true), new Tanh(), new AvgPool2d(2),
            new Flatten(), new Linear(3, 3, rng: rng));
        var x = Tensor.RandomNormal(rng, [3, 2, 4, 4], dtype: DType.Float64);
        CheckHvp(model, x, [0, 2, 1]);
    }

    [Fact]
    public void MlpWithLayerNorm()
    {
        var rng = new Rng(5);
        var model = new Sequential(
            new Linear(5, 8, rng: rng), new LayerNorm(8), new Tanh(),
            new Linear(8, 6, rng: rng), new LayerNorm(6), new ReLU(),
            new Linear(6, 3, rng: rng));
        var x = Tensor.RandomNormal(rng, [4, 5], dtype: DType.Float64);
        CheckHvp(model, x, [0, 1, 2, 1]);
    }

    [Fact]
    public void MlpWithGhostBatchNorm()
    {
        // Three virtual batches (4, 4, 2): each chunk's statistics depend on the weights.
        var rng = new Rng(6);
        var model = new Sequential(
            new Linear(5, 7, rng: rng), new GhostBatchNorm1d(7, virtualBatchSize: 4), new Tanh(),
            new Linear(7, 3, rng: rng));
        var x = Tensor.RandomNormal(rng, [10, 5], dtype: DType.Float64);
        CheckHvp(model, x, [0, 1, 2, 1, 0, 2, 2, 1, 0, 1]);
    }

    [Fact]
    public void MlpWithBatchRenormWhoseCorrectionIsClipped()
    {
        // r and d are stop-gradient, so finite differences agree only where they do not move: momentum 0 keeps
        // the running statistics at (0, 1), d_max = 0 fixes d = 0, and σ_B ≫ r_max = 1.2 keeps r clipped at 1.2.
        var rng = new Rng(8);
        var renorm = new BatchRenorm1d(6, momentum: 0, schedule: new BatchRenormSchedule(RMax: 1.2, DMax: 0, FixedSteps: 0, RMaxSteps: 0, DMaxSteps: 0));
        var model = new Sequential(new Linear(5, 6, rng: rng), renorm, new Tanh(), new Linear(6, 3, rng: rng));
        var x = Tensor.RandomNormal(rng, [8, 5], std: 20, dtype: DType.Float64);
        CheckHvp(model, x, [0, 1, 2, 1, 0, 2, 2, 1]);
        Assert.All(renorm.LastR!, r => Assert.Equal(1.2, r));
    }

    [Fact]
    public void QuadraticFormHasItsMatrixAsHessian()
    {
        // L = ½ wᵀAw with symmetric A: H = A, so Hv = A·v exactly.
        var a = Tensor.FromArray(new double[] { 2, 1, 0, 1, 3, -1, 0, -1, 4 }, 3, 3);
        var w = Tensor.FromArray(new double[] { 0.5, -1, 2 }, 3, 1);
        w.RequiresGrad = true;
        var v = Tensor.FromArray(new double[] { 1, 2, 3 }, 3, 1);
        var hv = Autograd.HessianVectorProduct(() => Tensor.MatMul(w, a.MatMul(w), true, false).Sum() * 0.5, [w], [v]);
        Assert.Equal(new double[] { 4, 4, 10 }, hv[0].ToDoubleArray());
    }

    [Fact]
    public void DetachingTheMeanWouldGiveADifferentHessian()
    {
        // Guards the design: BN's statistics are differentiated, so Hv through BN differs from the
        // product computed with statistics frozen (which the eval-mode op represents).
        var rng = new Rng(3);
        var x = Tensor.RandomNormal(rng, [6, 2], dtype: DType.Float64);
        var w = Tensor.RandomNormal(rng, [2, 2], dtype: DType.Float64);
        w.RequiresGrad = true;
        var v = Tensor.RandomNormal(rng, [2, 2], dtype: DType.Float64);
        Tensor TrainLoss() => Tensor.BatchNormTrain(x.MatMul(w), null, null, 1e-5, out _, out _).Pow(3).Sum();
        var hvTrain = Autograd.HessianVectorProduct(TrainLoss, [w], [v])[0];
        Tensor.BatchNormTrain(x.MatMul(w), null, null, 1e-5, out var mean, out var variance);
        Tensor FrozenLoss() => Tensor.BatchNormEval(x.MatMul(w), null, null, mean, variance, 1e-5).Pow(3).Sum();
        var hvFrozen = Autograd.HessianVectorProduct(FrozenLoss, [w], [v])[0];
        Assert.True((hvTrain - hvFrozen).Abs().Sum().Item() > 1e-3);
    }
}
