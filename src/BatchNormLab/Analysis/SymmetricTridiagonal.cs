namespace BatchNormLab.Analysis;

/// <summary>
/// Eigenvalues and eigenvectors of a real symmetric tridiagonal matrix by the implicit QL method
/// with Wilkinson-type shifts (EISPACK's tql2, as in JAMA), in float64.
/// </summary>
public static class SymmetricTridiagonal
{
    const int MaxIterationsPerEigenvalue = 60;
    /// <summary>2⁻⁵², the spacing of doubles at 1: an off-diagonal this small relative to the matrix is zero.</summary>
    const double Unit = 2.220446049250313e-16;

    /// <summary>
    /// The eigen-decomposition of the matrix with <paramref name="diagonal"/> (length n) and
    /// <paramref name="offDiagonal"/> (length n−1, entry i joining rows i and i+1). Values come in
    /// ascending order; column j of Vectors (Vectors[row, j]) is the unit eigenvector of value j.
    /// </summary>
    public static (double[] Values, double[,] Vectors) Eigen(ReadOnlySpan<double> diagonal, ReadOnlySpan<double> offDiagonal)
    {
        int n = diagonal.Length;
        if (n == 0) throw new ArgumentException("an empty matrix has no eigenvalues", nameof(diagonal));
        if (offDiagonal.Length != n - 1) throw new ArgumentException($"a {n}×{n} tridiagonal matrix has {n - 1} off-diagonal entries, got {offDiagonal.Length}", nameof(offDiagonal));
        var d = diagonal.ToArray();
        var e = new double[n];
        offDiagonal.CopyTo(e);
        var z = new double[n, n];
        for (int i = 0; i < n; i++) z[i, i] = 1;

        double shiftSum = 0, scale = 0;
        for (int l = 0; l < n; l++)
        {
            // Split off the block l..m where e[m] is negligible; d[l] alone has converged when m = l.
            scale = Math.Max(scale, Math.Abs(d[l]) + Math.Abs(e[l]));
            int m = l;
            while (m < n - 1 && Math.Abs(e[m]) > Unit * scale) m++;
            for (int iteration = 0; m > l && Math.Abs(e[l]) > Unit * scale; iteration++)
            {
                if (iteration == MaxIterationsPerEigenvalue) throw new ArithmeticException("tridiagonal QL did not converge");
                // Shift by the eigenvalue of the leading 2×2 block nearer d[l].
                double g = d[l];
                double p = (d[l + 1] - g) / (2 * e[l]);
                double r = double.Hypot(p, 1);
                if (p < 0) r = -r;
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                double dl1 = d[l + 1];
                double h = g - d[l];
                for (int i = l + 2; i < n; i++) d[i] -= h;
                shiftSum += h;

                // One implicit QL sweep of plane rotations from m−1 up to l, applied to the vectors too.
                p = d[m];
                double c = 1, c2 = 1, c3 = 1, s = 0, s2 = 0;
                double el1 = e[l + 1];
                for (int i = m - 1; i >= l; i--)
                {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    g = c * e[i];
                    h = c * p;
                    r = double.Hypot(p, e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    for (int k = 0; k < n; k++)
                    {
                        h = z[k, i + 1];
                        z[k, i + 1] = s * z[k, i] + c * h;
                        z[k, i] = c * z[k, i] - s * h;
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
            }
            d[l] += shiftSum;
            e[l] = 0;
        }
        SortAscending(d, z);
        return (d, z);
    }

    static void SortAscending(double[] values, double[,] vectors)
    {
        int n = values.Length;
        for (int i = 0; i < n - 1; i++)
        {
            int k = i;
            for (int j = i + 1; j < n; j++) if (values[j] < values[k]) k = j;
            if (k == i) continue;
            (values[i], values[k]) = (values[k], values[i]);
            for (int row = 0; row < n; row++) (vectors[row, i], vectors[row, k]) = (vectors[row, k], vectors[row, i]);
        }
    }
}
