using BatchNormLab.Analysis;
using MathNet.Numerics.LinearAlgebra;

namespace BatchNormLab.Tests;

/// <summary>The implicit-QL tridiagonal eigensolver against MathNet's dense symmetric eigendecomposition.</summary>
public class SymmetricTridiagonalTests
{
    static void CheckAgainstDense(double[] diagonal, double[] offDiagonal)
    {
        int n = diagonal.Length;
        var t = Matrix<double>.Build.Dense(n, n);
        for (int i = 0; i < n; i++) t[i, i] = diagonal[i];
        for (int i = 0; i + 1 < n; i++) t[i, i + 1] = t[i + 1, i] = offDiagonal[i];
        var (values, vectors) = SymmetricTridiagonal.Eigen(diagonal, offDiagonal);
        var reference = t.Evd(Symmetricity.Symmetric).EigenValues.Select(c => c.Real).Order().ToArray();
        double scale = t.L2Norm();
        for (int j = 0; j < n; j++) Assert.True(Math.Abs(values[j] - reference[j]) <= 1e-13 * scale, $"λ{j}: {values[j]:R} vs {reference[j]:R}");
        var z = Matrix<double>.Build.DenseOfArray(vectors);
        Assert.True((t * z - z * Matrix<double>.Build.DiagonalOfDiagonalArray(values)).FrobeniusNorm() <= 1e-12 * scale * n, "TZ ≠ ZΛ");
        Assert.True((z.Transpose() * z - Matrix<double>.Build.DenseIdentity(n)).FrobeniusNorm() <= 1e-12 * n, "Z is not orthogonal");
    }

    [Fact]
    public void RandomMatrixMatchesTheDenseReference()
    {
        var rng = new Rng(1);
        CheckAgainstDense(Enumerable.Range(0, 40).Select(_ => rng.Normal()).ToArray(), Enumerable.Range(0, 39).Select(_ => rng.Normal()).ToArray());
    }

    [Fact]
    public void SplitBlocksAndRepeatedEigenvalues()
    {
        // Zero couplings split the matrix into blocks; [[2,1],[1,2]] repeats the eigenvalue 3 and 1 of its neighbours.
        CheckAgainstDense([2, 2, 3, 1, 2, 2, 5, -4], [1, 0, 0, 0, 1, 0, 1e-20]);
    }

    [Fact]
    public void LanczosLikeMatrixWithWideScale()
    {
        // Eigenvalues over six orders of magnitude, as a Hessian's tridiagonal has.
        var rng = new Rng(2);
        CheckAgainstDense(Enumerable.Range(0, 30).Select(i => Math.Pow(10, 3 - 0.2 * i) * (1 + 0.1 * rng.Normal())).ToArray(),
            Enumerable.Range(0, 29).Select(i => Math.Pow(10, 2 - 0.2 * i) * rng.Normal()).ToArray());
    }

    [Fact]
    public void OneByOne()
    {
        var (values, vectors) = SymmetricTridiagonal.Eigen([-3.5], []);
        Assert.Equal(-3.5, values[0]);
        Assert.Equal(1, vectors[0, 0]);
    }
}
