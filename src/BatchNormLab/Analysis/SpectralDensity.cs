namespace BatchNormLab.Analysis;

/// <summary>
/// The eigenvalue density of a Hessian by stochastic Lanczos quadrature (Ghorbani et al. 2019, as PyHessian computes it):
/// per draw, Lanczos from a normalised Rademacher vector gives nodes θ_j (Ritz values) and weights
/// w_j = (first component of the j-th eigenvector of T)², a quadrature for vᵀf(H)v ≈ Σ w_j f(θ_j);
/// the density is the draws' mean of Σ_j w_j·N(λ; θ_j, s²) on a grid, normalised to integrate to 1.
/// </summary>
/// <param name="Mode">BatchNorm's mode while the Hessian was taken.</param>
/// <param name="Group">Name of the parameter group the Hessian is over.</param>
/// <param name="Grid">Evenly spaced λ from the draws' mean smallest node − 0.01 to their mean largest + 0.01.</param>
/// <param name="Density">The smoothed density at each grid point.</param>
/// <param name="Nodes">Per draw, the Ritz values (ascending).</param>
/// <param name="Weights">Per draw, the quadrature weights (each draw's sum to 1).</param>
/// <param name="KernelVariance">s² = σ²·max(1, λmax − λmin) over the grid's range.</param>
/// <param name="Products">Hessian-vector products spent.</param>
public sealed record SpectralDensity(HessianMode Mode, string Group, double[] Grid, double[] Density, double[][] Nodes, double[][] Weights, double KernelVariance, int Products)
{
    /// <summary>Margin beyond the extreme nodes, PyHessian's overhead.</summary>
    const double Margin = 0.01;

    /// <summary>
    /// Runs <paramref name="draws"/> Lanczos processes of <paramref name="steps"/> steps from vectors
    /// drawn from <paramref name="rng"/>, and smooths with Gaussians of variance
    /// <paramref name="sigmaSquared"/>·max(1, λmax − λmin) on <paramref name="gridPoints"/> points.
    /// Ghorbani et al. 2019 and PyHessian: 80–90 steps, 10 draws, σ² = 1e-5, 10,000 points.
    /// </summary>
    public static SpectralDensity Estimate(HessianOperator op, Rng rng, int steps = 90, int draws = 10, double sigmaSquared = 1e-5, int gridPoints = 10_000) =>
        Run(op, rng, steps, draws, sigmaSquared, gridPoints, topK: 0).Density;

    /// <summary>
    /// <see cref="Estimate"/>, and the <paramref name="k"/> Ritz pairs of largest magnitude of its first
    /// draw's Lanczos process (<see cref="Lanczos.Top"/> from the same start vector): one process serves
    /// the density and the top eigenspace, so the pairs cost no products of their own.
    /// </summary>
    public static (SpectralDensity Density, Eigenpairs Top) EstimateWithTop(HessianOperator op, int k, Rng rng, int steps = 90, int draws = 10, double sigmaSquared = 1e-5, int gridPoints = 10_000)
    {
        if (k < 1 || k > Math.Min(steps, op.Dimension)) throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be in [1, min(steps, dimension) = {Math.Min(steps, op.Dimension)}]");
        var (density, top) = Run(op, rng, steps, draws, sigmaSquared, gridPoints, k);
        return (density, top!);
    }

    static (SpectralDensity Density, Eigenpairs? Top) Run(HessianOperator op, Rng rng, int steps, int draws, double sigmaSquared, int gridPoints, int topK)
    {
        if (draws < 1) throw new ArgumentOutOfRangeException(nameof(draws), draws, "at least one draw");
        if (!(sigmaSquared > 0)) throw new ArgumentOutOfRangeException(nameof(sigmaSquared), sigmaSquared, "σ² must be positive");
        if (gridPoints < 2) throw new ArgumentOutOfRangeException(nameof(gridPoints), gridPoints, "a grid needs at least 2 points");
        int productsBefore = op.Products;
        var nodes = new double[draws][];
        var weights = new double[draws][];
        Eigenpairs? top = null;
        for (int d = 0; d < draws; d++)
        {
            var (alpha, beta, basis) = Lanczos.Tridiagonalize(op, Vectors.Rademacher(rng, op.Dimension), steps);
            var (ritz, y) = SymmetricTridiagonal.Eigen(alpha, beta);
            nodes[d] = ritz;
            weights[d] = Enumerable.Range(0, ritz.Length).Select(j => y[0, j] * y[0, j]).ToArray();
            if (d == 0 && topK > 0) top = Lanczos.Largest(op, ritz, y, basis, topK, op.Products - productsBefore);
        }
        double high = nodes.Average(n => n[^1]) + Margin;
        double low = nodes.Average(n => n[0]) - Margin;
        double variance = sigmaSquared * Math.Max(1, high - low);
        var grid = new double[gridPoints];
        for (int i = 0; i < gridPoints; i++) grid[i] = low + (high - low) * i / (gridPoints - 1);
        var density = new double[gridPoints];
        double kernelScale = 1 / Math.Sqrt(2 * Math.PI * variance) / draws;
        for (int d = 0; d < draws; d++)
            for (int j = 0; j < nodes[d].Length; j++)
                for (int i = 0; i < gridPoints; i++)
                {
                    double x = grid[i] - nodes[d][j];
                    density[i] += weights[d][j] * kernelScale * Math.Exp(-x * x / (2 * variance));
                }
        // Normalised as a Riemann sum over the grid (PyHessian's normalisation).
        double mass = density.Sum() * (grid[1] - grid[0]);
        for (int i = 0; i < gridPoints; i++) density[i] /= mass;
        return (new SpectralDensity(op.Mode, op.Group.Name, grid, density, nodes, weights, variance, op.Products - productsBefore), top);
    }

    /// <summary>The draws' mean of Σ_j w_j θ_j^k: an estimate of tr(H^k)/n (exact per draw for vᵀH^k v while k &lt; 2·steps).</summary>
    public double Moment(int k) => Nodes.Select((n, d) => n.Select((theta, j) => Weights[d][j] * Math.Pow(theta, k)).Sum()).Average();
}
