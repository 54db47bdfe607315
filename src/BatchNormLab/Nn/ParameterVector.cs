namespace BatchNormLab.Nn;

/// <summary>
/// A model's parameters as one flat vector (in <see cref="Module.Parameters"/> order), and the loss
/// and gradient at any such vector without disturbing the model: what Hessian and landscape
/// analyses need.
/// </summary>
public static class ParameterVector
{
    /// <summary>Concatenates the tensors into one 1-D float64 tensor.</summary>
    public static Tensor Flatten(IReadOnlyList<Tensor> tensors)
    {
        var values = new double[tensors.Sum(t => t.Length)];
        int offset = 0;
        foreach (var t in tensors)
        {
            t.ToDoubleArray().CopyTo(values, offset);
            offset += t.Length;
        }
        return Tensor.FromArray(values, values.Length);
    }

    /// <summary>Copies a flat vector back into the tensors (dtype converted), never recorded.</summary>
    public static void Unflatten(Tensor vector, IReadOnlyList<Tensor> tensors)
    {
        int total = tensors.Sum(t => t.Length);
        if (vector.Length != total) throw new ArgumentException($"a vector of {vector.Length} values cannot fill parameters of {total} values");
        var values = vector.ToDoubleArray();
        int offset = 0;
        foreach (var t in tensors)
        {
            t.CopyFrom(Tensor.FromArray(values[offset..(offset + t.Length)], t.Shape));
            offset += t.Length;
        }
    }

    /// <summary>Splits a flat vector into tensors shaped like <paramref name="like"/> (e.g. a direction per parameter).</summary>
    public static Tensor[] Split(Tensor vector, IReadOnlyList<Tensor> like)
    {
        var parts = like.Select(t => Tensor.ZerosLike(t)).ToArray();
        Unflatten(vector, parts);
        return parts;
    }

    /// <summary>
    /// The loss and its gradient (flat, float64) with the parameters set to <paramref name="vector"/>.
    /// Parameters, their .Grad and every buffer (BatchNorm running statistics and counters) are
    /// restored afterwards, so the model is exactly as before.
    /// </summary>
    public static (double Loss, Tensor Gradient) LossAndGradientAt(Module model, Tensor vector, Func<Module, Tensor> loss) =>
        At(model, vector, parameters =>
        {
            using (Autograd.EnableGrad())
            {
                var value = loss(model);
                return (value.Item(), Flatten(Autograd.Grad(value, parameters)));
            }
        });

    /// <summary>The loss with the parameters set to <paramref name="vector"/>, without gradients; the model is restored as by <see cref="LossAndGradientAt"/>.</summary>
    public static double LossAt(Module model, Tensor vector, Func<Module, double> loss) =>
        At(model, vector, _ =>
        {
            using (Autograd.NoGrad()) return loss(model);
        });

    /// <summary>Runs <paramref name="evaluate"/> with the parameters set to <paramref name="vector"/>, then restores parameters, gradients and buffers.</summary>
    static T At<T>(Module model, Tensor vector, Func<IReadOnlyList<Tensor>, T> evaluate)
    {
        var parameters = model.Parameters();
        var saved = ModelState.Capture(model);
        try
        {
            Unflatten(vector, parameters);
            return evaluate(parameters);
        }
        finally
        {
            saved.Restore();
        }
    }
}
