using BatchNormLab.Analysis;
using BatchNormLab.QuadraticTheory;
using MathNet.Numerics.LinearAlgebra;

namespace BatchNormLab.Tests;

/// <summary>
/// The quadratic error surface of one linear unit (LeCun, Kanter &amp; Solla 1991): the dense eigensolver against
/// MathNet, R's measured spectrum against LeCun, Kanter &amp; Solla's theory, and gradient descent
/// against the closed form along R's eigenvectors.
/// </summary>
public class LinearUnitQuadraticTests
{
    const double Tolerance = 1e-6;

    /// <summary>The quadratic of the given inputs after <paramref name="treatment"/>, with a teacher drawn after the inputs.</summary>
    static LinearUnitQuadratic Problem(IidInputs inputs, InputTreatment treatment, ulong seed = 4)
    {
        var rng = new Rng(seed);
        var x = inputs.Draw(rng);
        return new LinearUnitQuadratic(treatment.Apply(x), LinearUnitQuadratic.RandomTeacher(rng, inputs.Dimension));
    }

    static readonly IidInputs Biased = new(Dimension: 100, Samples: 1000, Mean: 1, Variance: 1);

    static double Relative(double measured, double expected) => Math.Abs(measured / expected - 1);

    static void CheckAgainstMathNet(double[,] a)
    {
        int n = a.GetLength(0);
        var m = Matrix<double>.Build.DenseOfArray(a);
        var (values, vectors) = SymmetricEigen.Decompose(a);
        var reference = m.Evd(Symmetricity.Symmetric);
        var referenceValues = reference.EigenValues.Select(c => c.Real).ToArray();
        var order = Enumerable.Range(0, n).OrderBy(j => referenceValues[j]).ToArray();
        double scale = m.L2Norm();
        for (int j = 0; j < n; j++)
        {
            Assert.True(Math.Abs(values[j] - referenceValues[order[j]]) <= 1e-12 * scale, $"λ{j}: {values[j]:R} vs MathNet {referenceValues[order[j]]:R}");
            // Eigenvectors are defined up to sign, and only for simple eigenvalues.
            bool simple = (j == 0 || values[j] - values[j - 1] > 1e-6 * scale) && (j == n - 1 || values[j + 1] - values[j] > 1e-6 * scale);
            if (simple) Assert.True(1 - Math.Abs(Matrix<double>.Build.DenseOfArray(vectors).Column(j) * reference.EigenVectors.Column(order[j])) <= 1e-10, $"eigenvector {j}");
        }
        var z = Matrix<double>.Build.DenseOfArray(vectors);
        Assert.True((m * z - z * Matrix<double>.Build.DiagonalOfDiagonalArray(values)).FrobeniusNorm() <= 1e-12 * scale * n, "AZ ≠ ZΛ");
        Assert.True((z.Transpose() * z - Matrix<double>.Build.DenseIdentity(n)).FrobeniusNorm() <= 1e-12 * n, "Z is not orthogonal");
    }

    [Fact]
    public void EigensolverMatchesMathNetOnARandomSymmetricMatrix()
    {
        var rng = new Rng(11);
        const int n = 60;
        var a = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++) a[i, j] = a[j, i] = rng.Normal();
        CheckAgainstMathNet(a);
    }

    [Fact]
    public void EigensolverHandlesASingularCorrelationMatrixAndTinyOnes()
    {
        // p < N: rank p, N − p eigenvalues at zero; plus the 1×1, a diagonal 2×2 (nothing to reduce) and a 3×3.
        var q = Problem(new IidInputs(30, 12, 1, 1), InputTreatment.Raw);
        var r = new double[30, 30];
        for (int i = 0; i < 30; i++)
            for (int j = 0; j < 30; j++) r[i, j] = q.Correlation(i, j);
        CheckAgainstMathNet(r);
        CheckAgainstMathNet(new double[,] { { -2.5 } });
        CheckAgainstMathNet(new double[,] { { 3, 0 }, { 0, 1 } });
        CheckAgainstMathNet(new double[,] { { 2, -1, 0.5 }, { -1, 2, -1 }, { 0.5, -1, 2 } });
    }

    [Theory]
    [InlineData(10.0)]
    [InlineData(1.0)]
    [InlineData(0.5)]
    public void MarchenkoPasturPutsMassMinOfOneAndAlphaOnTheBulk(double alpha)
    {
        var law = new MarchenkoPastur(alpha, 2);
        Assert.Equal(Math.Min(1, alpha), law.Fraction(law.Lower, law.Upper), 5);
        Assert.Equal(1, Math.Min(1, alpha) + law.ZeroMass, 12);
        // The fraction's derivative is the density.
        double mid = (law.Lower + law.Upper) / 2, h = 1e-4;
        Assert.Equal(law.Density(mid), law.Fraction(mid - h, mid + h) / (2 * h), 4);
        Assert.Equal(0, law.Density(law.Upper * 1.01));
    }

    /// <summary>
    /// At N = 100 one draw's extreme bulk eigenvalues fluctuate by a few percent (Tracy–Widom, ~N^(−2/3)),
    /// so the edges are compared as means over <see cref="Draws"/> independent draws, as the experiment does.
    /// </summary>
    const int Draws = 10;

    static (double Low, double High) MeanEdges(InputTreatment treatment, bool dropOutlier)
    {
        var bulks = Enumerable.Range(0, Draws).Select(seed => Problem(Biased, treatment, (ulong)seed).Eigenvalues.SkipLast(dropOutlier ? 1 : 0).ToArray()).ToList();
        return (bulks.Average(b => b[0]), bulks.Average(b => b[^1]));
    }

    [Fact]
    public void UncentredInputsHaveOneOutlierAtNmSquaredPlusVAlongTheOnesVector()
    {
        for (ulong seed = 0; seed < Draws; seed++)
        {
            var q = Problem(Biased, InputTreatment.Raw, seed);
            Assert.True(Relative(q.LambdaMax, Biased.Outlier) <= 0.02, $"seed {seed}: outlier {q.LambdaMax} vs N·m² + v = {Biased.Outlier}");
            double overlap = Math.Abs(q.Eigenvector(Biased.Dimension - 1).Sum()) / Math.Sqrt(Biased.Dimension);
            Assert.True(overlap > 0.99, $"seed {seed}: |u·(1,…,1)/√N| = {overlap}");
            // the next eigenvalue is back in the bulk
            Assert.True(q.Eigenvalues[^2] < 1.1 * Biased.Bulk.Upper, $"seed {seed}: second eigenvalue {q.Eigenvalues[^2]}");
        }
        // Excluding it, the bulk lies within 5% of the Marchenko–Pastur edges.
        var (low, high) = MeanEdges(InputTreatment.Raw, dropOutlier: true);
        Assert.True(Relative(low, Biased.Bulk.Lower) <= 0.05, $"lower edge {low} vs {Biased.Bulk.Lower}");
        Assert.True(Relative(high, Biased.Bulk.Upper) <= 0.05, $"upper edge {high} vs {Biased.Bulk.Upper}");
    }

    [Theory]
    [InlineData(InputTreatment.Centred)]
    [InlineData(InputTreatment.Standardised)]
    public void CentringRemovesTheOutlierAndLeavesTheMarchenkoPasturBulk(InputTreatment treatment)
    {
        var (low, high) = MeanEdges(treatment, dropOutlier: false);
        Assert.True(Relative(low, Biased.Bulk.Lower) <= 0.05, $"lower edge {low} vs {Biased.Bulk.Lower}");
        Assert.True(Relative(high, Biased.Bulk.Upper) <= 0.05, $"upper edge {high} vs {Biased.Bulk.Upper}");
        // The trace is N·v: centring took N·m² out of it.
        Assert.Equal(Biased.Dimension * Biased.Variance, Problem(Biased, treatment).Eigenvalues.Sum(), Biased.Dimension * 0.03);
    }

    [Fact]
    public void FewerSamplesThanInputsLeaveNMinusPZeroEigenvalues()
    {
        var inputs = new IidInputs(Dimension: 100, Samples: 50, Mean: 1, Variance: 1);
        var q = Problem(inputs, InputTreatment.Raw);
        Assert.Equal(50, inputs.ZeroEigenvalues);
        Assert.Equal(inputs.ZeroEigenvalues, q.ZeroEigenvalues);
        // The first nonzero one is far above rounding.
        Assert.True(q.SmallestNonzeroEigenvalue > 0.5 * inputs.Bulk.Lower, $"{q.SmallestNonzeroEigenvalue}");
        // Over draws the outlier follows the finite-α formula, 2% above N·m² + v here (one draw's sample mean moves it by ~3%).
        double outlier = Enumerable.Range(0, Draws).Average(seed => Problem(inputs, InputTreatment.Raw, (ulong)seed).LambdaMax);
        Assert.True(Relative(outlier, inputs.OutlierAtRatio) <= 0.01, $"mean outlier {outlier} vs {inputs.OutlierAtRatio}");
    }

    [Theory]
    [InlineData(InputTreatment.Raw)]
    [InlineData(InputTreatment.Centred)]
    [InlineData(InputTreatment.Standardised)]
    public void GradientDescentTakesTheStepsTheClosedFormPredicts(InputTreatment treatment)
    {
        var q = Problem(Biased, treatment);
        double eta = 1 / q.LambdaMax;
        var trace = q.Descend(eta, Tolerance, maxSteps: 100_000);
        int predicted = q.PredictedSteps(eta, Tolerance, 100_000) ?? throw new Xunit.Sdk.XunitException("no predicted convergence");
        int measured = trace.StepsToTolerance ?? throw new Xunit.Sdk.XunitException("GD did not converge");
        Assert.True(Math.Abs(measured - predicted) <= 0.1 * predicted, $"{treatment}: {measured} steps measured, {predicted} predicted");
        // The whole curve, not just where it crosses the tolerance.
        var closedForm = q.PredictedLosses(eta, trace.Losses.Length - 1);
        for (int k = 0; k < trace.Losses.Length; k++) Assert.True(Relative(trace.Losses[k], closedForm[k]) < 1e-6, $"step {k}: {trace.Losses[k]:R} vs {closedForm[k]:R}");
    }

    [Fact]
    public void RawInputsNeedManyTimesTheStepsOfCentredOnes()
    {
        int Steps(InputTreatment t)
        {
            var q = Problem(Biased, t);
            return q.Descend(1 / q.LambdaMax, Tolerance, 100_000).StepsToTolerance!.Value;
        }
        int raw = Steps(InputTreatment.Raw), centred = Steps(InputTreatment.Centred), standardised = Steps(InputTreatment.Standardised);
        Assert.True(raw >= 10 * centred && raw >= 10 * standardised, $"raw {raw}, centred {centred}, standardised {standardised}");
    }

    [Fact]
    public void GradientDescentConvergesJustBelowTwoOverLambdaMaxAndDivergesJustAbove()
    {
        var q = Problem(Biased, InputTreatment.Raw);
        double edge = 2 / q.LambdaMax;
        var below = q.Descend(0.99 * edge, Tolerance, 100_000);
        Assert.False(below.Diverged);
        Assert.NotNull(below.StepsToTolerance);
        var above = q.Descend(1.01 * edge, Tolerance, 100_000);
        Assert.True(above.Diverged);
        Assert.Null(above.StepsToTolerance);
        Assert.Null(q.PredictedSteps(1.01 * edge, Tolerance, 100_000));
    }

    [Fact]
    public void TheSameSeedGivesTheSameNumbers()
    {
        var a = Problem(new IidInputs(40, 120, 0.5, 2), InputTreatment.Raw, seed: 9);
        var b = Problem(new IidInputs(40, 120, 0.5, 2), InputTreatment.Raw, seed: 9);
        Assert.Equal(a.Eigenvalues, b.Eigenvalues);
        Assert.Equal(a.Descend(0.01, Tolerance, 1000).Losses, b.Descend(0.01, Tolerance, 1000).Losses);
    }
}
