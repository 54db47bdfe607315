using BatchNormLab.Analysis;

namespace BatchNormLab.QuadraticTheory;

/// <summary>
/// Gradient descent on a <see cref="LinearUnitQuadratic"/> from W = 0: the loss before each step,
/// and how it ended.
/// </summary>
/// <param name="LearningRate">η, the fixed step size.</param>
/// <param name="Tolerance">The stopping level as a fraction of E(W_0).</param>
/// <param name="Losses">E(W_k) for k = 0, 1, …: the last is where the run stopped.</param>
/// <param name="StepsToTolerance">The first k with E(W_k) ≤ tolerance·E(W_0); null if none was reached.</param>
/// <param name="Diverged">The loss became non-finite or exceeded <see cref="LinearUnitQuadratic.DivergenceFactor"/>·E(W_0).</param>
public sealed record DescentTrace(double LearningRate, double Tolerance, double[] Losses, int? StepsToTolerance, bool Diverged);

/// <summary>
/// Seed 004 (LeCun, Kanter &amp; Solla 1991): one linear unit y = W·x with the squared
/// error E(W) = (1/2p)·Σ_u (y_u − W·x_u)² over p samples of N inputs. E is quadratic in W, with
/// gradient R·W − Q and Hessian R = (1/p)·Σ_u x_u·x_uᵀ, Q = (1/p)·Σ_u y_u·x_u. The targets come from a
/// teacher W* on the very inputs the unit sees, y_u = W*·x_u, without noise, so the minimum is
/// E(W*) = 0 and E(W) = ½(W − W*)ᵀR(W − W*) is itself the excess loss the closed form predicts
/// (noise would add a floor, change Q and not R, and leave the excess loss's dynamics as they are).
/// Along R's eigenvector u_j the error evolves as (1 − ηλ_j)ᵏ, so
/// E(W_k) = ½·Σ_j λ_j·(u_jᵀ(W_0 − W*))²·(1 − ηλ_j)^{2k}.
/// </summary>
public sealed class LinearUnitQuadratic
{
    /// <summary>A run whose loss grows beyond this multiple of its first loss has diverged (the trainer's rule).</summary>
    public const double DivergenceFactor = 1000;

    /// <summary>Eigenvalues at most this fraction of λmax are zero: rounding leaves ~1e-14·λmax where R is singular.</summary>
    public const double ZeroThreshold = 1e-9;

    readonly double[,] correlation;
    readonly double[] teacher;
    readonly Lazy<(double[] Values, double[,] Vectors)> eigen;

    /// <param name="inputs">p×N: row u is the u-th sample as the unit sees it.</param>
    /// <param name="teacher">W*, length N: the targets are y_u = W*·x_u.</param>
    public LinearUnitQuadratic(double[,] inputs, double[] teacher)
    {
        int p = inputs.GetLength(0), n = inputs.GetLength(1);
        if (p < 1 || n < 1) throw new ArgumentException($"need at least one sample and one input, got {p}×{n}", nameof(inputs));
        if (teacher.Length != n) throw new ArgumentException($"the teacher has {teacher.Length} weights for {n} inputs", nameof(teacher));
        Dimension = n;
        this.teacher = (double[])teacher.Clone();
        Targets = new double[p];
        for (int u = 0; u < p; u++)
            for (int i = 0; i < n; i++) Targets[u] += teacher[i] * inputs[u, i];
        correlation = new double[n, n];
        for (int u = 0; u < p; u++)
            for (int i = 0; i < n; i++)
            {
                double xi = inputs[u, i] / p;
                for (int j = 0; j <= i; j++) correlation[i, j] += xi * inputs[u, j];
            }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++) correlation[j, i] = correlation[i, j];
        CrossCorrelation = Multiply(teacher);
        eigen = new(() => SymmetricEigen.Decompose(correlation));
    }

    /// <summary>A teacher W* with i.i.d. N(0, 1/N) weights, so that the targets' scale does not grow with N.</summary>
    public static double[] RandomTeacher(Rng rng, int dimension)
    {
        var w = Vectors.Gaussian(rng, dimension);
        for (int i = 0; i < dimension; i++) w[i] /= Math.Sqrt(dimension);
        return w;
    }

    /// <summary>N, the number of inputs (and of weights).</summary>
    public int Dimension { get; }

    /// <summary>y_u = W*·x_u.</summary>
    public double[] Targets { get; }

    /// <summary>Q = (1/p)·Σ_u y_u·x_u = R·W*.</summary>
    public double[] CrossCorrelation { get; }

    /// <summary>R[i, j] = (1/p)·Σ_u x_ui·x_uj, the Hessian of E.</summary>
    public double Correlation(int i, int j) => correlation[i, j];

    /// <summary>R's eigenvalues, ascending (computed once, densely).</summary>
    public double[] Eigenvalues => eigen.Value.Values;

    /// <summary>R's unit eigenvector of eigenvalue <paramref name="j"/> (ascending order).</summary>
    public double[] Eigenvector(int j)
    {
        var v = new double[Dimension];
        for (int i = 0; i < Dimension; i++) v[i] = eigen.Value.Vectors[i, j];
        return v;
    }

    /// <summary>The largest eigenvalue.</summary>
    public double LambdaMax => Eigenvalues[^1];

    /// <summary>The smallest eigenvalue above <see cref="ZeroThreshold"/>·λmax: the slowest mode GD moves.</summary>
    public double SmallestNonzeroEigenvalue => Eigenvalues.First(l => l > ZeroThreshold * LambdaMax);

    /// <summary>How many eigenvalues are zero (at most <see cref="ZeroThreshold"/>·λmax in magnitude).</summary>
    public int ZeroEigenvalues => Eigenvalues.Count(l => Math.Abs(l) <= ZeroThreshold * LambdaMax);

    /// <summary>E(W) = ½(W − W*)ᵀR(W − W*), which equals (1/2p)·Σ_u (y_u − W·x_u)² and has no cancellation near the minimum.</summary>
    public double Loss(ReadOnlySpan<double> w)
    {
        var d = new double[Dimension];
        for (int i = 0; i < Dimension; i++) d[i] = w[i] - teacher[i];
        return 0.5 * Vectors.Dot(d, Multiply(d));
    }

    /// <summary>∇E(W) = R·W − Q.</summary>
    public double[] Gradient(ReadOnlySpan<double> w)
    {
        var g = Multiply(w);
        for (int i = 0; i < Dimension; i++) g[i] -= CrossCorrelation[i];
        return g;
    }

    double[] Multiply(ReadOnlySpan<double> w)
    {
        var r = new double[Dimension];
        for (int i = 0; i < Dimension; i++)
        {
            double s = 0;
            for (int j = 0; j < Dimension; j++) s += correlation[i, j] * w[j];
            r[i] = s;
        }
        return r;
    }

    /// <summary>
    /// Plain gradient descent W ← W − η·(R·W − Q) from W = 0, until the loss is at most
    /// <paramref name="tolerance"/>·E(W_0), diverges, or <paramref name="maxSteps"/> steps are done.
    /// </summary>
    public DescentTrace Descend(double learningRate, double tolerance, int maxSteps)
    {
        var w = new double[Dimension];
        var losses = new List<double> { Loss(w) };
        double first = losses[0];
        for (int k = 1; k <= maxSteps; k++)
        {
            Vectors.AddScaled(w, -learningRate, Gradient(w));
            double loss = Loss(w);
            losses.Add(loss);
            if (!(loss <= DivergenceFactor * first)) return new DescentTrace(learningRate, tolerance, [.. losses], null, Diverged: true);
            if (loss <= tolerance * first) return new DescentTrace(learningRate, tolerance, [.. losses], k, Diverged: false);
        }
        return new DescentTrace(learningRate, tolerance, [.. losses], null, Diverged: false);
    }

    /// <summary>
    /// The closed form's loss ½·Σ_j λ_j·c_j²·(1 − ηλ_j)^{2k} from W_0 = 0 (c_j = u_jᵀW*), for k = 0 … steps.
    /// </summary>
    public double[] PredictedLosses(double learningRate, int steps)
    {
        var (terms, factors) = Modes(learningRate);
        var losses = new double[steps + 1];
        for (int k = 0; k <= steps; k++)
        {
            losses[k] = terms.Sum();
            for (int j = 0; j < terms.Length; j++) terms[j] *= factors[j];
        }
        return losses;
    }

    /// <summary>
    /// The closed form's steps to reach <paramref name="tolerance"/>·E(W_0): the first k whose
    /// predicted loss is that small; null when none within <paramref name="maxSteps"/>, including
    /// every η at or beyond 2/λmax, where the top mode does not decay.
    /// </summary>
    public int? PredictedSteps(double learningRate, double tolerance, int maxSteps)
    {
        var (terms, factors) = Modes(learningRate);
        double target = tolerance * terms.Sum();
        for (int k = 1; k <= maxSteps; k++)
        {
            double loss = 0;
            for (int j = 0; j < terms.Length; j++) loss += terms[j] *= factors[j];
            if (loss <= target) return k;
        }
        return null;
    }

    /// <summary>
    /// The rough rule of LeCun, Kanter &amp; Solla 1991: at η = 1/λmax the slowest mode decays with time constant
    /// λmax/λmin, and the loss (its square) by e⁻² per time constant, so ln(1/tolerance)/2·λmax/λmin
    /// steps, whatever the start.
    /// </summary>
    public double RuleOfThumbSteps(double tolerance) => Math.Log(1 / tolerance) / 2 * LambdaMax / SmallestNonzeroEigenvalue;

    /// <summary>Per mode j: its share ½·λ_j·(u_jᵀ(0 − W*))² of E(W_0), and its factor (1 − ηλ_j)² per step.</summary>
    (double[] Terms, double[] Factors) Modes(double learningRate)
    {
        var values = Eigenvalues;
        var terms = new double[Dimension];
        var factors = new double[Dimension];
        for (int j = 0; j < Dimension; j++)
        {
            double c = Vectors.Dot(Eigenvector(j), teacher);
            terms[j] = 0.5 * Math.Max(values[j], 0) * c * c;
            factors[j] = (1 - learningRate * values[j]) * (1 - learningRate * values[j]);
        }
        return (terms, factors);
    }
}
