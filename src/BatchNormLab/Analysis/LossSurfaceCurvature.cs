using BatchNormLab.Nn;

namespace BatchNormLab.Analysis;

/// <summary>
/// Li et al. 2018's quantitative reading of a loss surface: the convexity map, |λmin/λmax| of the
/// Hessian at points w + α·d₁ + β·d₂ of a 2-D surface (near 0: locally convex; large: strong negative
/// curvature, a chaotic surface), and the curvature dᵀHd of a 1-D curve L(w + α·d) at α = 0.
/// Every call leaves the model as it found it (weights, grads, running statistics, modes).
/// </summary>
public static class LossSurfaceCurvature
{
    /// <summary>
    /// The smallest and largest Ritz values of <paramref name="steps"/> Lanczos steps (full
    /// re-orthogonalisation) from a Rademacher vector: estimates of λmin and λmax. Ritz values lie
    /// inside [λmin, λmax], so both ends are approached from inside; the isolated ends converge first
    /// (Li et al. use ARPACK's implicitly restarted Lanczos for the same two numbers).
    /// </summary>
    public static (double Min, double Max) ExtremeEigenvalues(HessianOperator op, int steps, Rng rng)
    {
        var (alpha, beta, _) = Lanczos.Tridiagonalize(op, Vectors.Rademacher(rng, op.Dimension), steps);
        var (ritz, _) = SymmetricTridiagonal.Eigen(alpha, beta);
        return (ritz.Min(), ritz.Max());
    }

    /// <summary>|λmin/λmax| (Li et al.'s convexity measure; NaN when λmax is 0).</summary>
    public static double ConvexityRatio(double min, double max) => max == 0 ? double.NaN : Math.Abs(min / max);

    /// <summary>
    /// The convexity map: at [α index, β index], <see cref="ConvexityRatio"/> of the Hessian of
    /// <paramref name="op"/>'s loss at w + α·d₁ + β·d₂ (directions in the operator's group order, i.e.
    /// <see cref="Module.Parameters"/> order for all parameters). Each point's Lanczos starts from its
    /// own draw of <paramref name="rng"/>.
    /// </summary>
    public static double[,] ConvexityMap(HessianOperator op, Tensor d1, Tensor d2, IReadOnlyList<double> alphas, IReadOnlyList<double> betas, int steps, Rng rng)
    {
        var model = op.Model;
        var parameters = op.Group.Resolve(model);
        var w = ParameterVector.Flatten(parameters).ToDoubleArray();
        var (u, v) = (d1.ToDoubleArray(), d2.ToDoubleArray());
        if (u.Length != w.Length || v.Length != w.Length) throw new ArgumentException($"directions of {u.Length} and {v.Length} values for {w.Length} parameters");
        var map = new double[alphas.Count, betas.Count];
        var saved = ModelState.Capture(model);
        try
        {
            var point = new double[w.Length];
            for (int i = 0; i < alphas.Count; i++)
                for (int j = 0; j < betas.Count; j++)
                {
                    for (int k = 0; k < w.Length; k++) point[k] = w[k] + alphas[i] * u[k] + betas[j] * v[k];
                    ParameterVector.Unflatten(Tensor.FromArray(point, point.Length), parameters);
                    var (min, max) = ExtremeEigenvalues(op, steps, rng);
                    map[i, j] = ConvexityRatio(min, max);
                }
        }
        finally
        {
            saved.Restore();
        }
        return map;
    }

    /// <summary>dᵀHd: the second derivative of L(w + α·d) at α = 0, exact (one Hessian-vector product).</summary>
    public static double Curvature(HessianOperator op, Tensor direction)
    {
        var d = direction.ToDoubleArray();
        return Vectors.Dot(d, op.Apply(d));
    }
}
