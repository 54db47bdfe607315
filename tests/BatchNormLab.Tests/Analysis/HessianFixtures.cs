using BatchNormLab.Analysis;
using BatchNormLab.Data;
using BatchNormLab.Models;
using BatchNormLab.Nn;
using BatchNormLab.Training;
using MathNet.Numerics.LinearAlgebra;

namespace BatchNormLab.Tests;

/// <summary>Models whose Hessians are known exactly, and the dense references the iterations are checked against.</summary>
static class HessianFixtures
{
    /// <summary>The chosen spectrum of <see cref="Quadratic"/>: distinct, with a clear top three.</summary>
    public static readonly double[] QuadraticSpectrum = Enumerable.Range(0, 24).Select(i => i switch { 0 => 12.0, 1 => 7.0, 2 => 4.5, _ => 2.0 / i }).ToArray();

    /// <summary>
    /// A bias-free linear model y = Xw with MSE loss, L = ‖Xw − y‖²/n, so H = 2XᵀX/n. X = √(n/2)·U·diag(√λ)·Vᵀ
    /// with orthonormal U (n×d) and V (d×d) makes the spectrum exactly <see cref="QuadraticSpectrum"/>.
    /// </summary>
    public static HessianOperator Quadratic(HessianMode mode = HessianMode.Training)
    {
        int d = QuadraticSpectrum.Length, n = 40;
        var rng = new Rng(11);
        var u = Orthonormal(rng, n, d);
        var v = Orthonormal(rng, d, d);
        var x = u * Matrix<double>.Build.DiagonalOfDiagonalArray(QuadraticSpectrum.Select(Math.Sqrt).ToArray()) * v.Transpose() * Math.Sqrt(n / 2.0);
        var model = new Sequential(new Linear(d, 1, bias: false, rng: rng)).To(DType.Float64);
        var inputs = Tensor.FromArray(x.ToRowMajorArray(), n, d);
        var targets = Tensor.RandomNormal(rng, [n, 1], dtype: DType.Float64);
        return HessianOperator.OnBatch(model, new Batch(inputs, null, targets, 0, 0), LossKind.Mse, mode);
    }

    static Matrix<double> Orthonormal(Rng rng, int rows, int columns) =>
        Matrix<double>.Build.Dense(rows, columns, (_, _) => rng.Normal()).QR().Q.SubMatrix(0, rows, 0, columns);

    /// <summary>A float64 MLP 5 → 6 → 5 → 3 with BatchNorm and tanh (101 parameters), with its cross-entropy batch of 16.</summary>
    public static (Module Model, Batch Batch) BatchNormMlp(Norm norm = Norm.BatchNorm)
    {
        var rng = new Rng(5);
        var model = Mlp.Create(5, [6, 5], 3, new ModelOptions(norm, Activation: Activation.Tanh), rng).To(DType.Float64);
        var inputs = Tensor.RandomNormal(rng, [16, 5], dtype: DType.Float64);
        var labels = Enumerable.Range(0, 16).Select(_ => rng.NextInt(3)).ToArray();
        return (model, new Batch(inputs, labels, null, 0, 0));
    }

    /// <summary>The Hessian assembled column by column (H·e_i), checked symmetric, then symmetrised.</summary>
    public static Matrix<double> Dense(HessianOperator op)
    {
        int n = op.Dimension;
        var h = Matrix<double>.Build.Dense(n, n);
        for (int i = 0; i < n; i++)
        {
            var e = new double[n];
            e[i] = 1;
            h.SetColumn(i, op.Apply(e));
        }
        double asymmetry = (h - h.Transpose()).FrobeniusNorm() / h.FrobeniusNorm();
        Assert.True(asymmetry < 1e-12, $"assembled Hessian is not symmetric: {asymmetry:E2}");
        return (h + h.Transpose()) / 2;
    }

    /// <summary>Eigenvalues and unit eigenvectors (columns), largest magnitude first.</summary>
    public static (double[] Values, Matrix<double> Vectors) EigenByMagnitude(Matrix<double> h)
    {
        var evd = h.Evd(Symmetricity.Symmetric);
        var values = evd.EigenValues.Select(c => c.Real).ToArray();
        var order = Enumerable.Range(0, values.Length).OrderByDescending(i => Math.Abs(values[i])).ToArray();
        var vectors = Matrix<double>.Build.Dense(h.RowCount, order.Length, (r, c) => evd.EigenVectors[r, order[c]]);
        return (order.Select(i => values[i]).ToArray(), vectors);
    }

    public static double Relative(double a, double b) => Math.Abs(a - b) / Math.Abs(b);
}
