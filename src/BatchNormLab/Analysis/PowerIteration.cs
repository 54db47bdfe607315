namespace BatchNormLab.Analysis;

/// <summary>Top eigenpairs by power iteration with deflation, as PyHessian computes them.</summary>
public static class PowerIteration
{
    /// <summary>
    /// The <paramref name="k"/> eigenvalues of largest magnitude, one after another: each iterate is
    /// kept orthogonal to the eigenvectors already found, starts from a Gaussian vector drawn from
    /// <paramref name="rng"/>, and stops when the Rayleigh quotient changes by less than
    /// <paramref name="tolerance"/> relative, or after <paramref name="maxIterations"/> products
    /// (PyHessian's defaults: 100 and 1e-3).
    /// </summary>
    public static Eigenpairs Top(HessianOperator op, int k, Rng rng, int maxIterations = 100, double tolerance = 1e-3)
    {
        if (k < 1 || k > op.Dimension) throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be in [1, {op.Dimension}]");
        if (maxIterations < 1) throw new ArgumentOutOfRangeException(nameof(maxIterations), maxIterations, "at least one iteration");
        int productsBefore = op.Products;
        var values = new double[k];
        var vectors = new List<double[]>();
        for (int i = 0; i < k; i++)
        {
            var v = Vectors.Gaussian(rng, op.Dimension);
            double value = double.NaN;
            for (int iteration = 0; iteration < maxIterations; iteration++)
            {
                Vectors.Orthogonalize(v, vectors);
                Vectors.Normalize(v);
                var hv = op.Apply(v);
                double previous = value;
                value = Vectors.Dot(hv, v);
                v = hv;
                if (Math.Abs(value - previous) / (Math.Abs(previous) + 1e-6) < tolerance) break;
            }
            Vectors.Orthogonalize(v, vectors);
            Vectors.Normalize(v);
            values[i] = value;
            vectors.Add(v);
        }
        return new Eigenpairs(op.Mode, op.Group.Name, values, vectors.ToArray(), op.Products - productsBefore);
    }
}
