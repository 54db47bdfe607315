namespace BatchNormLab.Data;

/// <summary>The regression task of the deep linear network: targets y = A·x (see <see cref="Synthetic.LinearRegression"/>).</summary>
/// <param name="Data">The (x, y) regression set.</param>
/// <param name="A">The float32 [dims, dims] matrix A the targets are generated with.</param>
public sealed record LinearTask(Dataset Data, Tensor A);

/// <summary>
/// Generated datasets for fast experiments and tests. Every number comes from one <see cref="Rng"/>
/// seeded with the given seed, drawn in a fixed order, so a seed gives bitwise the same data everywhere.
/// </summary>
public static class Synthetic
{
    /// <summary>
    /// <paramref name="classes"/> Gaussian clusters in <paramref name="dims"/> dimensions: each centre is a
    /// random direction scaled to length <paramref name="separation"/> (so centres are about
    /// separation·√2 apart whatever the dimension), each point its centre plus N(0, I) noise. Sample i
    /// has label i mod classes, so the classes are balanced, also in any prefix.
    /// </summary>
    public static Dataset GaussianMixture(ulong seed, int count, int classes, int dims, double separation = 3.0)
    {
        if (count < 1 || classes < 1 || dims < 1)
            throw new ArgumentOutOfRangeException(nameof(count), $"count, classes and dims must be positive (got {count}, {classes}, {dims})");
        var rng = new Rng(seed);
        var centres = new double[classes, dims];
        for (int c = 0; c < classes; c++)
        {
            double norm = 0;
            for (int d = 0; d < dims; d++) { centres[c, d] = rng.Normal(); norm += centres[c, d] * centres[c, d]; }
            double scale = separation / Math.Sqrt(norm);
            for (int d = 0; d < dims; d++) centres[c, d] *= scale;
        }
        var x = new float[count * dims];
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            labels[i] = i % classes;
            for (int d = 0; d < dims; d++) x[i * dims + d] = (float)(centres[labels[i], d] + rng.Normal());
        }
        return new Dataset("gaussian-mixture", new Tensor(x, 0, [count, dims]), labels, classes);
    }

    /// <summary>
    /// A: dims×dims with N(0, 1) entries (float32), then inputs x ~ N(0, I) (float32, [count, dims]) and
    /// targets y = A·x, each summed in double over the stored float32 values and rounded once, so the
    /// data is exactly consistent with the A returned.
    /// </summary>
    public static LinearTask LinearRegression(ulong seed, int count, int dims = 10)
    {
        if (count < 1 || dims < 1)
            throw new ArgumentOutOfRangeException(nameof(count), $"count and dims must be positive (got {count}, {dims})");
        var rng = new Rng(seed);
        var a = Tensor.RandomNormal(rng, [dims, dims]);
        var x = Tensor.RandomNormal(rng, [count, dims]);
        var aValues = a.FloatSpan;
        var xValues = x.FloatSpan;
        var y = new float[count * dims];
        for (int n = 0; n < count; n++)
        {
            for (int i = 0; i < dims; i++)
            {
                double sum = 0;
                for (int j = 0; j < dims; j++) sum += (double)aValues[i * dims + j] * xValues[n * dims + j];
                y[n * dims + i] = (float)sum;
            }
        }
        return new LinearTask(new Dataset("linear-regression", x, new Tensor(y, 0, [count, dims])), a);
    }
}
