namespace BatchNormLab.Analysis;

/// <summary>
/// How much of the gradient lies in a Hessian's top eigenspace (Ghorbani et al.):
/// Shares[i] = ‖P_{i+1} g‖²/‖g‖², P_k the projection onto the span of the first k eigenvectors.
/// </summary>
/// <param name="Mode">BatchNorm's mode while the Hessian and gradient were taken.</param>
/// <param name="Group">Name of the parameter group.</param>
/// <param name="GradientNorm">‖g‖₂ of the loss's gradient over the group.</param>
/// <param name="Shares">Cumulative share of ‖g‖² in the span of the first i+1 eigenvectors, nondecreasing in [0, 1].</param>
public sealed record GradientEnergy(HessianMode Mode, string Group, double GradientNorm, double[] Shares)
{
    /// <summary>The gradient of <paramref name="op"/>'s loss (same batches, mode and group) against the orthonormal eigenvectors of <paramref name="top"/>.</summary>
    public static GradientEnergy Of(HessianOperator op, Eigenpairs top)
    {
        if (top.Mode != op.Mode || top.Group != op.Group.Name)
            throw new ArgumentException($"eigenpairs of group '{top.Group}' in {top.Mode} mode do not belong to the Hessian of group '{op.Group.Name}' in {op.Mode} mode", nameof(top));
        var (_, gradient) = op.LossAndGradient();
        double squaredNorm = Vectors.Dot(gradient, gradient);
        var shares = new double[top.Vectors.Length];
        double projected = 0;
        for (int i = 0; i < shares.Length; i++)
        {
            double component = Vectors.Dot(top.Vectors[i], gradient);
            projected += component * component;
            shares[i] = projected / squaredNorm;
        }
        return new GradientEnergy(op.Mode, op.Group.Name, Math.Sqrt(squaredNorm), shares);
    }
}
