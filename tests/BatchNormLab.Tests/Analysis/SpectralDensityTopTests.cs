using BatchNormLab.Analysis;
using static BatchNormLab.Tests.HessianFixtures;

namespace BatchNormLab.Tests;

/// <summary><see cref="SpectralDensity.EstimateWithTop"/>: one Lanczos process for the density and the top eigenpairs, the same numbers as the two computed apart.</summary>
public class SpectralDensityTopTests
{
    [Fact]
    public void TopPairsComeFromTheFirstDrawAtNoExtraCost()
    {
        var (model, batch) = BatchNormMlp();
        var op = HessianOperator.OnBatch(model, batch, Training.LossKind.CrossEntropy, HessianMode.Training);
        const int steps = 20, draws = 2, k = 3;
        int before = op.Products;
        var (density, top) = SpectralDensity.EstimateWithTop(op, k, new Rng(2), steps, draws, gridPoints: 100);
        Assert.Equal(steps * draws, op.Products - before);
        Assert.Equal(steps * draws, density.Products);
        Assert.Equal(steps, top.Products);

        // The same start vectors as the density alone, and the first as Lanczos.Top's: bitwise the same results.
        var alone = SpectralDensity.Estimate(op, new Rng(2), steps, draws, gridPoints: 100);
        Assert.Equal(alone.Nodes, density.Nodes);
        Assert.Equal(alone.Density, density.Density);
        var separate = Lanczos.Top(op, k, steps, new Rng(2));
        Assert.Equal(separate.Values, top.Values);
        Assert.Equal(separate.Vectors, top.Vectors);

        // Against the dense Hessian: the largest eigenvalue has converged in 20 steps.
        var (exact, _) = EigenByMagnitude(Dense(op));
        Assert.True(Relative(top.Values[0], exact[0]) <= 1e-6, $"λ1 {top.Values[0]:R} vs exact {exact[0]:R}");
        Assert.Throws<ArgumentOutOfRangeException>(() => SpectralDensity.EstimateWithTop(op, steps + 1, new Rng(2), steps, draws));
    }
}
