using BatchNormLab.Analysis;
using BatchNormLab.Nn;
using MathNet.Numerics.LinearAlgebra;
using static BatchNormLab.Tests.HessianFixtures;

namespace BatchNormLab.Tests;

/// <summary>
/// Top eigenpairs, trace, spectral density and gradient energy against exact answers: a quadratic
/// whose spectrum is chosen, and a BatchNorm MLP (training mode) whose Hessian is assembled from
/// products and eigendecomposed densely.
/// </summary>
public class SpectrumTests
{
    const int K = 3;

    static void CheckTop(Eigenpairs found, double[] exactValues, Matrix<double> exactVectors, double tolerance)
    {
        Assert.Equal(K, found.Values.Length);
        for (int i = 0; i < K; i++)
        {
            Assert.True(Relative(found.Values[i], exactValues[i]) <= tolerance, $"λ{i}: {found.Values[i]:R} vs exact {exactValues[i]:R}");
            double alignment = Math.Abs(Vector<double>.Build.DenseOfArray(found.Vectors[i]) * exactVectors.Column(i));
            Assert.True(1 - alignment <= Math.Sqrt(tolerance), $"eigenvector {i}: |cos| = {alignment:R}");
        }
    }

    [Fact]
    public void PowerIterationAndLanczosFindTheChosenSpectrumOfAQuadratic()
    {
        var op = Quadratic();
        var (values, vectors) = EigenByMagnitude(Dense(op));
        for (int i = 0; i < values.Length; i++) Assert.True(Relative(values[i], QuadraticSpectrum[i]) < 1e-12, $"the fixture's λ{i} is {values[i]:R}");
        CheckTop(PowerIteration.Top(op, K, new Rng(1), maxIterations: 2000, tolerance: 1e-14), values, vectors, 1e-6);
        CheckTop(Lanczos.Top(op, K, steps: 20, new Rng(2)), values, vectors, 1e-9);
    }

    [Fact]
    public void PowerIterationAndLanczosAgreeWithTheDenseHessianOfABatchNormMlp()
    {
        var (model, batch) = BatchNormMlp();
        var op = HessianOperator.OnBatch(model, batch, Training.LossKind.CrossEntropy, HessianMode.Training);
        var (values, vectors) = EigenByMagnitude(Dense(op));
        var power = PowerIteration.Top(op, K, new Rng(1), maxIterations: 5000, tolerance: 1e-14);
        var lanczos = Lanczos.Top(op, K, steps: 60, new Rng(2));
        CheckTop(power, values, vectors, 1e-6);
        CheckTop(lanczos, values, vectors, 1e-9);
        for (int i = 0; i < K; i++) Assert.True(Relative(power.Values[i], lanczos.Values[i]) <= 1e-6);
        Assert.Equal(60, lanczos.Products);
        Assert.Equal(HessianMode.Training, power.Mode);
        Assert.Equal(ParameterGroup.AllName, lanczos.Group);
    }

    /// <summary>
    /// The variance of one draw of qᵀAq, q = v/√n with Rademacher v, is 2(‖A‖_F² − Σ A_ii²)/n²: the
    /// quadrature reproduces vᵀH^k v exactly (k &lt; 2·steps), so the draws' mean of the k-th moment
    /// must lie within a few of these standard errors of tr(H^k)/n.
    /// </summary>
    static double MomentStandardError(Matrix<double> power, int draws)
    {
        int n = power.RowCount;
        double offDiagonal = power.FrobeniusNorm() * power.FrobeniusNorm() - power.Diagonal().Sum(x => x * x);
        return Math.Sqrt(2 * offDiagonal / ((double)n * n) / draws);
    }

    [Fact]
    public void SlqMomentsMatchTheExactSpectrum()
    {
        var (model, batch) = BatchNormMlp();
        var op = HessianOperator.OnBatch(model, batch, Training.LossKind.CrossEntropy, HessianMode.Training);
        var h = Dense(op);
        const int draws = 10;
        var density = SpectralDensity.Estimate(op, new Rng(3), steps: 30, draws: draws, gridPoints: 4000);
        Assert.Equal(draws, density.Nodes.Length);
        foreach (var w in density.Weights) Assert.Equal(1, w.Sum(), 12);
        Assert.Equal(1, density.Moment(0), 12);
        var power = Matrix<double>.Build.DenseIdentity(op.Dimension);
        for (int k = 1; k <= 3; k++)
        {
            power *= h;
            double exact = power.Trace() / op.Dimension, error = MomentStandardError(power, draws);
            double estimate = density.Moment(k);
            // Stated tolerance: 4 standard errors of the estimator (a chance of about 6e-5 to fail if correct).
            Assert.True(Math.Abs(estimate - exact) <= 4 * error, $"moment {k}: SLQ {estimate:G6}, exact {exact:G6}, standard error {error:G3}");
        }
        // The smoothed density integrates to 1 and keeps the nodes' mean, and its kernel variance is σ²·max(1, range).
        double dx = density.Grid[1] - density.Grid[0];
        Assert.Equal(1, density.Density.Sum() * dx, 12);
        Assert.True(Math.Abs(density.Density.Select((p, i) => p * density.Grid[i]).Sum() * dx - density.Moment(1)) <= 1e-3 * Math.Abs(density.Moment(1)) + dx);
        Assert.Equal(1e-5 * Math.Max(1, density.Grid[^1] - density.Grid[0]), density.KernelVariance, 15);
    }

    [Fact]
    public void HutchinsonTraceLiesWithinThreeStandardErrors()
    {
        var (model, batch) = BatchNormMlp();
        var op = HessianOperator.OnBatch(model, batch, Training.LossKind.CrossEntropy, HessianMode.Training);
        double exact = Dense(op).Trace();
        var estimate = Hutchinson.Trace(op, 100, new Rng(4));
        Assert.Equal(100, estimate.Samples);
        Assert.True(estimate.StandardError > 0 && estimate.StandardError < 0.5 * Math.Abs(exact), $"standard error {estimate.StandardError:G3} against trace {exact:G4}");
        Assert.True(Math.Abs(estimate.Trace - exact) <= 3 * estimate.StandardError, $"Hutchinson {estimate.Trace:G6} ± {estimate.StandardError:G3}, exact {exact:G6}");
    }

    [Fact]
    public void GradientEnergyInTheTopEigenspaceEqualsTheExactProjection()
    {
        var (model, batch) = BatchNormMlp();
        var op = HessianOperator.OnBatch(model, batch, Training.LossKind.CrossEntropy, HessianMode.Training);
        var (_, vectors) = EigenByMagnitude(Dense(op));
        var lossTerm = Analysis.LossTerm.On(batch, Training.LossKind.CrossEntropy).Loss;
        var (_, gradientTensor) = ParameterVector.LossAndGradientAt(model, ParameterVector.Flatten(model.Parameters()), lossTerm);
        var g = Vector<double>.Build.DenseOfArray(gradientTensor.ToDoubleArray());
        var energy = GradientEnergy.Of(op, Lanczos.Top(op, K, steps: 60, new Rng(2)));
        Assert.Equal(g.L2Norm(), energy.GradientNorm, 12);
        double projected = 0;
        for (int i = 0; i < K; i++)
        {
            projected += Math.Pow(vectors.Column(i) * g, 2);
            Assert.Equal(projected / g.DotProduct(g), energy.Shares[i], 9);
        }
        Assert.True(energy.Shares[^1] > 1e-3, "vacuous: the gradient has no energy in the top eigenspace");
    }
}
