using BatchNormLab.Analysis;
using BatchNormLab.Nn;
using static BatchNormLab.Tests.HessianFixtures;

namespace BatchNormLab.Tests;

/// <summary>The convexity map and the 1-D curvature against the dense Hessian of a small BN MLP (float64, 101 parameters).</summary>
public sealed class LossSurfaceCurvatureTests
{
    [Fact]
    public void ConvexityMapAndCurvatureMatchTheDenseHessianAndLeaveTheModelAsItWas()
    {
        var (model, batch) = BatchNormMlp();
        var op = HessianOperator.OnBatch(model, batch, Training.LossKind.CrossEntropy, HessianMode.Training);
        var before = ModelState.CopyOfStateDict(model).Select(e => e.Tensor?.ToDoubleArray()).ToList();
        var rng = new Rng(3);
        var (d1, d2) = (LossSurface.FilterNormalisedDirection(model, rng), LossSurface.FilterNormalisedDirection(model, rng));

        // The dense ratio at w + 0.5·d₁ − 0.5·d₂, the model moved there by hand.
        var w = ParameterVector.Flatten(model.Parameters()).ToDoubleArray();
        var (u, v) = (d1.ToDoubleArray(), d2.ToDoubleArray());
        var saved = ModelState.Capture(model);
        ParameterVector.Unflatten(Tensor.FromArray(w.Select((x, i) => x + 0.5 * u[i] - 0.5 * v[i]).ToArray(), w.Length), model.Parameters());
        var spectrum = Dense(op).Evd().EigenValues.Select(c => c.Real).ToArray();
        saved.Restore();
        Assert.True(spectrum.Min() < 0, "the fixture's Hessian there is indefinite");
        double expected = Math.Abs(spectrum.Min() / spectrum.Max());

        // With as many Lanczos steps as parameters the Ritz values are the eigenvalues.
        var map = LossSurfaceCurvature.ConvexityMap(op, d1, d2, [0.5], [-0.5, 0.0], steps: w.Length, new Rng(4));
        Assert.Equal(expected, map[0, 0], 8);
        var (min, max) = LossSurfaceCurvature.ExtremeEigenvalues(op, w.Length, new Rng(5));
        var here = Dense(op).Evd().EigenValues.Select(c => c.Real).ToArray();
        Assert.Equal(here.Min(), min, 8);
        Assert.Equal(here.Max(), max, 8);

        double curvature = Dense(op).Multiply(MathNet.Numerics.LinearAlgebra.Vector<double>.Build.DenseOfArray(u)).DotProduct(MathNet.Numerics.LinearAlgebra.Vector<double>.Build.DenseOfArray(u));
        Assert.Equal(curvature, LossSurfaceCurvature.Curvature(op, d1), 9);
        Assert.Equal(before, ModelState.CopyOfStateDict(model).Select(e => e.Tensor?.ToDoubleArray()).ToList());
    }
}
