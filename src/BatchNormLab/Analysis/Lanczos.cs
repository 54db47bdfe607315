namespace BatchNormLab.Analysis;

/// <summary>
/// The Lanczos process in float64 with full re-orthogonalisation, and what it yields: Ritz values
/// (the tridiagonal's eigenvalues) and Ritz vectors.
/// </summary>
public static class Lanczos
{
    /// <summary>
    /// The tridiagonal T = QᵀHQ of <paramref name="steps"/> Lanczos steps from <paramref name="start"/>
    /// (fewer if the Krylov space closes: never more than the dimension), and the orthonormal basis Q.
    /// Each new vector is orthogonalised against all earlier ones, so Q stays orthonormal to
    /// rounding and no spurious copies of converged eigenvalues appear.
    /// </summary>
    internal static (double[] Alpha, double[] Beta, List<double[]> Basis) Tridiagonalize(HessianOperator op, double[] start, int steps)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "at least one Lanczos step");
        steps = Math.Min(steps, op.Dimension);
        var q = (double[])start.Clone();
        Vectors.Normalize(q);
        var basis = new List<double[]> { q };
        var alpha = new List<double>();
        var beta = new List<double>();
        double scale = 0;
        for (int j = 0; j < steps; j++)
        {
            // w = Hq_j − α_j q_j − β_{j−1} q_{j−1}, the last two terms (and rounding's drift) removed by orthogonalising against all of Q.
            var w = op.Apply(basis[j]);
            alpha.Add(Vectors.Dot(w, basis[j]));
            if (j == steps - 1) break;
            Vectors.Orthogonalize(w, basis);
            double b = Vectors.Norm(w);
            scale = Math.Max(scale, Math.Abs(alpha[j]) + b);
            if (b <= 1e-12 * scale) break;
            for (int i = 0; i < w.Length; i++) w[i] /= b;
            beta.Add(b);
            basis.Add(w);
        }
        return (alpha.ToArray(), beta.ToArray(), basis);
    }

    /// <summary>
    /// The <paramref name="k"/> Ritz pairs of largest magnitude after <paramref name="steps"/> Lanczos
    /// steps from a Rademacher vector drawn from <paramref name="rng"/>. With steps equal to the
    /// dimension they are the exact eigenpairs; extreme eigenvalues converge long before.
    /// </summary>
    public static Eigenpairs Top(HessianOperator op, int k, int steps, Rng rng)
    {
        if (k < 1 || k > Math.Min(steps, op.Dimension)) throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be in [1, min(steps, dimension) = {Math.Min(steps, op.Dimension)}]");
        int productsBefore = op.Products;
        var (alpha, beta, basis) = Tridiagonalize(op, Vectors.Rademacher(rng, op.Dimension), steps);
        var (ritz, y) = SymmetricTridiagonal.Eigen(alpha, beta);
        return Largest(op, ritz, y, basis, k, op.Products - productsBefore);
    }

    /// <summary>
    /// The <paramref name="k"/> Ritz pairs of largest magnitude of a Lanczos process: its Ritz values
    /// <paramref name="ritz"/>, the tridiagonal's eigenvectors <paramref name="y"/> (columns) and its basis.
    /// </summary>
    internal static Eigenpairs Largest(HessianOperator op, double[] ritz, double[,] y, List<double[]> basis, int k, int products)
    {
        var order = Enumerable.Range(0, ritz.Length).OrderByDescending(j => Math.Abs(ritz[j])).Take(k).ToArray();
        if (order.Length < k) throw new InvalidOperationException($"the Krylov space closed after {ritz.Length} steps, fewer than the {k} eigenpairs asked for (a start vector orthogonal to the rest)");
        var vectors = order.Select(j =>
        {
            var v = new double[op.Dimension];
            for (int i = 0; i < ritz.Length; i++) Vectors.AddScaled(v, y[i, j], basis[i]);
            return v;
        }).ToArray();
        return new Eigenpairs(op.Mode, op.Group.Name, order.Select(j => ritz[j]).ToArray(), vectors, products);
    }
}
