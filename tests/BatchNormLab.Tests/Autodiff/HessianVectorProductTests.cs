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

/// <summary>
/// BatchNorm's fused double backward (BatchNormKernels.DoubleBackward and the recorded gradient ops)
/// against autodiff through the composite definition, where every step is a primitive op.
/// </summary>
public class BatchNormDoubleBackwardTests
{
    // L = Σ u·y³ with y = BN(x): nonlinear in y, so the Hessian sees every term of the backward.
    static Tensor Loss(Tensor y, Tensor u) => (y * y * y * u).Sum();

    static Tensor Bn(Tensor x, Tensor? gamma, Tensor? beta, bool fused) =>
        fused ? Tensor.BatchNormTrain(x, gamma, beta, 1e-3, out _, out _) : Tensor.BatchNormTrainComposite(x, gamma, beta, 1e-3);

    // Eval mode: fixed statistics, chosen unlike the batch's so that they matter.
    static readonly double[] RunningMean = [0.5, -1, 2, 0.25, 3], RunningVar = [0.7, 2, 1.5, 4, 0.3];

    static Tensor BnEval(Tensor x, Tensor? gamma, Tensor? beta, bool fused)
    {
        int c = x.Shape[1];
        var (mean, variance) = (RunningMean[..c], RunningVar[..c]);
        return fused ? Tensor.BatchNormEval(x, gamma, beta, mean, variance, 1e-3) : Tensor.BatchNormEvalComposite(x, gamma, beta, mean, variance, 1e-3);
    }

    static (Tensor X, Tensor? Gamma, Tensor? Beta, Tensor U, Tensor[] V) Case(int[] shape, bool affine, DType dtype, int seed)
    {
        var rng = new Rng((ulong)seed);
        int c = shape[1];
        var x = Tensor.RandomNormal(rng, shape, mean: 3, std: 2, dtype: dtype);
        var gamma = affine ? Tensor.RandomNormal(rng, [c], mean: 1, std: 0.5, dtype: dtype) : null;
        var beta = affine ? Tensor.RandomNormal(rng, [c], dtype: dtype) : null;
        foreach (var t in new[] { x, gamma, beta }) if (t is not null) t.RequiresGrad = true;
        var u = Tensor.RandomNormal(rng, shape, dtype: dtype);
        Tensor[] parameters = affine ? [x, gamma!, beta!] : [x];
        return (x, gamma, beta, u, parameters.Select(p => Tensor.RandomNormal(rng, p.Shape, dtype: dtype)).ToArray());
    }

    [Theory]
    [InlineData(new[] { 9, 5 }, true)]
    [InlineData(new[] { 9, 5 }, false)]
    [InlineData(new[] { 4, 3, 7 }, true)]
    [InlineData(new[] { 3, 4, 6, 6 }, true)]
    [InlineData(new[] { 2, 3, 9, 11 }, false)]
    public void HessianVectorProductsMatchTheComposite(int[] shape, bool affine)
    {
        var (x, gamma, beta, u, v) = Case(shape, affine, DType.Float64, 11);
        Tensor[] parameters = affine ? [x, gamma!, beta!] : [x];
        var fused = Autograd.HessianVectorProduct(() => Loss(Bn(x, gamma, beta, true), u), parameters, v);
        var composite = Autograd.HessianVectorProduct(() => Loss(Bn(x, gamma, beta, false), u), parameters, v);
        for (int i = 0; i < parameters.Length; i++)
        {
            double scale = composite[i].Abs().Sum().Item() / composite[i].Length;
            Assert.True(scale > 1e-3, "vacuous comparison");
            Assert.Equal(composite[i].ToDoubleArray(), fused[i].ToDoubleArray(), (a, b) => Math.Abs(a - b) <= 1e-10 * (1 + scale));
        }
    }

    [Theory]
    [InlineData(new[] { 9, 5 }, true)]
    [InlineData(new[] { 4, 3, 7 }, false)]
    [InlineData(new[] { 3, 4, 6, 6 }, true)]
    public void EvalModeProductsMatchTheComposite(int[] shape, bool affine)
    {
        var (x, gamma, beta, u, v) = Case(shape, affine, DType.Float64, 15);
        Tensor[] parameters = affine ? [x, gamma!, beta!] : [x];
        var fused = Autograd.HessianVectorProduct(() => Loss(BnEval(x, gamma, beta, true), u), parameters, v);
        var composite = Autograd.HessianVectorProduct(() => Loss(BnEval(x, gamma, beta, false), u), parameters, v);
        var fusedGrad = Autograd.Grad(Loss(BnEval(x, gamma, beta, true), u), parameters);
        var compositeGrad = Autograd.Grad(Loss(BnEval(x, gamma, beta, false), u), parameters);
        for (int i = 0; i < parameters.Length; i++)
            foreach (var (expected, actual) in new[] { (composite[i], fused[i]), (compositeGrad[i], fusedGrad[i]) })
            {
                double scale = expected.Abs().Sum().Item() / expected.Length;
                Assert.True(scale > 1e-3, "vacuous comparison");
                Assert.Equal(expected.ToDoubleArray(), actual.ToDoubleArray(), (a, b) => Math.Abs(a - b) <= 1e-10 * (1 + scale));
            }
    }

    [Fact]
    public void Float32ProductsMatchFloat64()
    {
        var (x, gamma, beta, u, v) = Case([16, 4, 8, 8], true, DType.Float32, 12);
        Tensor[] parameters = [x, gamma!, beta!];
        var single = Autograd.HessianVectorProduct(() => Loss(Bn(x, gamma, beta, true), u), parameters, v);
        Tensor[] wide = [x.To(DType.Float64), gamma!.To(DType.Float64), beta!.To(DType.Float64)];
        foreach (var t in wide) t.RequiresGrad = true;
        var u64 = u.To(DType.Float64);
        var reference = Autograd.HessianVectorProduct(() => Loss(Bn(wide[0], wide[1], wide[2], false), u64), wide, v.Select(t => t.To(DType.Float64)).ToArray());
        for (int i = 0; i < 3; i++)
        {
            double scale = reference[i].Abs().Sum().Item() / reference[i].Length;
            Assert.Equal(reference[i].ToDoubleArray(), single[i].ToDoubleArray(), (a, b) => Math.Abs(a - b) <= 1e-4 * scale + 1e-6);
        }
    }

    [Fact]
    public void ThirdDerivativesGoThroughTheComposite()
    {
        // d/dx ⟨H·v, w⟩: the recorded gradient ops fall back to their composites when differentiated a third time.
        var (x, gamma, beta, u, v) = Case([5, 3, 4], true, DType.Float64, 13);
        Tensor[] parameters = [x, gamma!, beta!];
        var rng = new Rng(14);
        var w = parameters.Select(p => Tensor.RandomNormal(rng, p.Shape, dtype: DType.Float64)).ToArray();
        Tensor[] Third(Func<Tensor, Tensor?, Tensor?, bool, Tensor> bn, bool fused)
        {
            using var scope = Autograd.EnableGrad();
            var grads = Autograd.Grad(Loss(bn(x, gamma, beta, fused), u), parameters, createGraph: true);
            var dot = Enumerable.Range(0, 3).Select(i => (grads[i] * v[i]).Sum()).Aggregate((a, b) => a + b);
            var hv = Autograd.Grad(dot, parameters, createGraph: true);
            var dot2 = Enumerable.Range(0, 3).Select(i => (hv[i] * w[i]).Sum()).Aggregate((a, b) => a + b);
            return Autograd.Grad(dot2, parameters);
        }
        foreach (var bn in new Func<Tensor, Tensor?, Tensor?, bool, Tensor>[] { Bn, BnEval })
        {
            var fusedThird = Third(bn, true);
            var compositeThird = Third(bn, false);
            for (int i = 0; i < 3; i++)
            {
                double scale = compositeThird[i].Abs().Sum().Item() / compositeThird[i].Length;
                Assert.True(scale > 1e-3, "vacuous comparison");
                Assert.Equal(compositeThird[i].ToDoubleArray(), fusedThird[i].ToDoubleArray(), (a, b) => Math.Abs(a - b) <= 1e-9 * (1 + scale));
            }
        }
    }
}
