namespace BatchNormLab.Analysis;

/// <summary>
/// Every eigenvalue and eigenvector of a dense real symmetric matrix, in float64: Householder
/// reduction to tridiagonal form A = Q·T·Qᵀ, then the implicit QL of <see cref="SymmetricTridiagonal"/>
/// on T = Y·Λ·Yᵀ, so A's eigenvectors are the columns of Q·Y. O(n³); meant for n up to a few hundred.
/// </summary>
public static class SymmetricEigen
{
    /// <summary>
    /// The eigen-decomposition of <paramref name="matrix"/> (n×n, symmetric: only its lower triangle
    /// is read). Values come in ascending order; column j of Vectors (Vectors[row, j]) is the unit
    /// eigenvector of value j.
    /// </summary>
    public static (double[] Values, double[,] Vectors) Decompose(double[,] matrix)
    {
        int n = matrix.GetLength(0);
        if (n == 0 || matrix.GetLength(1) != n) throw new ArgumentException($"a symmetric matrix must be square and non-empty, got {n}×{matrix.GetLength(1)}", nameof(matrix));
        var (diagonal, offDiagonal, q) = Tridiagonalize(matrix);
        var (values, y) = SymmetricTridiagonal.Eigen(diagonal, offDiagonal);
        var vectors = new double[n, n];
        var row = new double[n];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < n; k++) row[k] = q[i, k];
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int k = 0; k < n; k++) s += row[k] * y[k, j];
                vectors[i, j] = s;
            }
        }
        return (values, vectors);
    }

    /// <summary>
    /// Householder tridiagonalisation: T = Qᵀ·A·Q with Q = H₁·H₂·…·H_{n−2}, where H_k = I − β·v·vᵀ zeroes
    /// column k below the subdiagonal. Returns T's diagonal, its off-diagonal and Q.
    /// </summary>
    static (double[] Diagonal, double[] OffDiagonal, double[,] Q) Tridiagonalize(double[,] matrix)
    {
        int n = matrix.GetLength(0);
        var a = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++) a[i, j] = a[j, i] = matrix[i, j];
        var q = new double[n, n];
        for (int i = 0; i < n; i++) q[i, i] = 1;
        var v = new double[n];
        var p = new double[n];
        for (int k = 0; k < n - 2; k++)
        {
            // v = x − α·e₁ for x = a[k+1.., k], with α = −sign(x₀)·‖x‖ so that x₀ − α does not cancel.
            double norm = 0;
            for (int i = k + 1; i < n; i++) norm = double.Hypot(norm, a[i, k]);
            if (norm == 0) continue;
            double alpha = a[k + 1, k] > 0 ? -norm : norm;
            double vv = 0;
            for (int i = k + 1; i < n; i++)
            {
                v[i] = a[i, k] - (i == k + 1 ? alpha : 0);
                vv += v[i] * v[i];
            }
            double beta = 2 / vv;

            // H·A·H on the trailing block = A − v·wᵀ − w·vᵀ with p = β·A·v and w = p − (β·vᵀp/2)·v.
            double vp = 0;
            for (int i = k + 1; i < n; i++)
            {
                double s = 0;
                for (int j = k + 1; j < n; j++) s += a[i, j] * v[j];
                p[i] = beta * s;
                vp += v[i] * p[i];
            }
            double half = beta * vp / 2;
            for (int i = k + 1; i < n; i++) p[i] -= half * v[i];
            for (int i = k + 1; i < n; i++)
                for (int j = k + 1; j < n; j++) a[i, j] -= v[i] * p[j] + p[i] * v[j];
            a[k + 1, k] = a[k, k + 1] = alpha;
            for (int i = k + 2; i < n; i++) a[i, k] = a[k, i] = 0;

            // Q ← Q·H: each row r of Q loses β·(r·v)·vᵀ.
            for (int r = 0; r < n; r++)
            {
                double s = 0;
                for (int j = k + 1; j < n; j++) s += q[r, j] * v[j];
                s *= beta;
                for (int j = k + 1; j < n; j++) q[r, j] -= s * v[j];
            }
        }
        var diagonal = new double[n];
        var offDiagonal = new double[n - 1];
        for (int i = 0; i < n; i++) diagonal[i] = a[i, i];
        for (int i = 0; i + 1 < n; i++) offDiagonal[i] = a[i + 1, i];
        return (diagonal, offDiagonal, q);
    }
}
