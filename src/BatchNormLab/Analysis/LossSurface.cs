using BatchNormLab.Data;
using BatchNormLab.Nn;
using BatchNormLab.Training;

namespace BatchNormLab.Analysis;

/// <summary>What a direction holds for parameter tensors of one dimension or fewer (biases, BN's γ and β).</summary>
public enum SmallTensors
{
    /// <summary>Zero: those parameters stay put (Li et al.'s <c>ignore biasbn</c>, the setting of their plots).</summary>
    Ignore,
    /// <summary>The weights themselves (Li et al.'s code without <c>ignore biasbn</c>): moving along d rescales them by 1 + α.</summary>
    Include,
}

/// <summary>Which statistics BN layers use while a surface is evaluated: the running ones (eval mode, as Li et al. and PyHessian) or each batch's (training mode, what SGD sees).</summary>
public enum BnMode
{
    /// <summary>Running statistics (eval mode).</summary>
    Eval,
    /// <summary>Each batch's statistics (training mode).</summary>
    Train
}

/// <summary>
/// Loss surfaces around a model's weights w (Li et al. 2018): filter-normalised random directions d,
/// 1-D curves L(w + α·d) and 2-D grids L(w + α·d₁ + β·d₂). Every evaluation leaves the model's
/// parameters, gradients, BN running statistics and train/eval modes exactly as they were.
/// Directions and points are flat float64 vectors in <see cref="Module.Parameters"/> order (<see cref="ParameterVector"/>).
/// </summary>
public static class LossSurface
{
    /// <summary>
    /// A Gaussian direction shaped like the parameters, filter-normalised: in every tensor of two or more
    /// dimensions each slice along dim 0 (a conv filter, a linear layer's row) is rescaled to the norm of
    /// the matching weight slice, ‖w_j‖/(‖d_j‖ + 1e-10); smaller tensors per <paramref name="small"/>.
    /// </summary>
    public static Tensor FilterNormalisedDirection(Module model, Rng rng, SmallTensors small = SmallTensors.Ignore)
    {
        var parts = new List<Tensor>();
        foreach (var p in model.Parameters())
        {
            var w = p.ToDoubleArray();
            if (p.Rank <= 1)
            {
                parts.Add(Tensor.FromArray(small == SmallTensors.Include ? w : new double[w.Length], w.Length));
                continue;
            }
            var d = new double[w.Length];
            for (int i = 0; i < d.Length; i++) d[i] = rng.Normal();
            int filter = w.Length / p.Size(0);
            for (int start = 0; start < d.Length; start += filter)
            {
                double scale = Norm(w.AsSpan(start, filter)) / (Norm(d.AsSpan(start, filter)) + 1e-10);
                for (int i = start; i < start + filter; i++) d[i] *= scale;
            }
            parts.Add(Tensor.FromArray(d, d.Length));
        }
        return ParameterVector.Flatten(parts);
    }

    /// <summary>L(w + α·d) for each α of <paramref name="alphas"/>.</summary>
    public static double[] Curve(Module model, Tensor direction, IReadOnlyList<double> alphas, Func<Module, double> loss, BnMode mode)
    {
        var grid = Grid(model, direction, direction, alphas, [0.0], loss, mode);
        return Enumerable.Range(0, alphas.Count).Select(i => grid[i, 0]).ToArray();
    }

    /// <summary>L(w + α·d₁ + β·d₂) at [α index, β index].</summary>
    public static double[,] Grid(Module model, Tensor d1, Tensor d2, IReadOnlyList<double> alphas, IReadOnlyList<double> betas, Func<Module, double> loss, BnMode mode)
    {
        var w = ParameterVector.Flatten(model.Parameters()).ToDoubleArray();
        var (u, v) = (d1.ToDoubleArray(), d2.ToDoubleArray());
        if (u.Length != w.Length || v.Length != w.Length) throw new ArgumentException($"directions of {u.Length} and {v.Length} values for {w.Length} parameters");
        var modes = model.NamedModules().Select(m => (m.Module, m.Module.Training)).ToList();
        var losses = new double[alphas.Count, betas.Count];
        try
        {
            model.Train(mode == BnMode.Train);
            var point = new double[w.Length];
            for (int i = 0; i < alphas.Count; i++)
                for (int j = 0; j < betas.Count; j++)
                {
                    for (int k = 0; k < w.Length; k++) point[k] = w[k] + alphas[i] * u[k] + betas[j] * v[k];
                    losses[i, j] = ParameterVector.LossAt(model, Tensor.FromArray(point, point.Length), loss);
                }
        }
        finally
        {
            foreach (var (module, training) in modes) module.Train(training);
        }
        return losses;
    }

    /// <summary>The mean loss over <paramref name="batches"/>, each weighted by its size: the loss over a batch set.</summary>
    public static Func<Module, double> MeanLoss(IReadOnlyList<Batch> batches, LossKind kind) => model =>
    {
        double sum = 0;
        foreach (var b in batches)
        {
            var output = model.Forward(b.Inputs);
            sum += b.Count * TrainingLoss.Of(kind, output, b).Item();
        }
        return sum / batches.Sum(b => b.Count);
    };

    static double Norm(ReadOnlySpan<double> v)
    {
        double s = 0;
        foreach (double x in v) s += x * x;
        return Math.Sqrt(s);
    }
}
