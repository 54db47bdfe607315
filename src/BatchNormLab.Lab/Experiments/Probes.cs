namespace BatchNormLab.Experiments;

/// <summary>Shared pieces of the measurement callbacks: the training loss on one batch, and slices of flat vectors.</summary>
static class Probes
{
    /// <summary>The run's loss on <paramref name="batch"/> as a function of the model (training mode: batch statistics).</summary>
    public static Func<Module, Tensor> LossOn(Batch batch, LossKind loss) => m => TrainingLoss.Of(loss, m.Forward(batch.Inputs), batch);

    public static double[] Slice(double[] flat, WeightLayer layer) => flat.AsSpan(layer.Offset, layer.Length).ToArray();

    public static double Norm(ReadOnlySpan<double> v)
    {
        double s = 0;
        foreach (double x in v) s += x * x;
        return Math.Sqrt(s);
    }

    /// <summary>‖a − b‖₂.</summary>
    public static double Distance(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
        return Math.Sqrt(s);
    }

    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double dot = 0;
        for (int i = 0; i < a.Length; i++) dot += a[i] * b[i];
        return dot;
    }

    /// <summary>cos(a, b); NaN when either is zero.</summary>
    public static double Cosine(ReadOnlySpan<double> a, ReadOnlySpan<double> b) => Dot(a, b) / (Norm(a) * Norm(b));

    /// <summary>The parameter vector w − η·g.</summary>
    public static Tensor Stepped(double[] weights, double[] gradient, double eta)
    {
        var moved = new double[weights.Length];
        for (int j = 0; j < moved.Length; j++) moved[j] = weights[j] - eta * gradient[j];
        return Tensor.FromArray(moved, moved.Length);
    }

    public static double[] Gradients(Module model) =>
        ParameterVector.Flatten(model.Parameters().Select(p => p.Grad ?? Tensor.ZerosLike(p)).ToList()).ToDoubleArray();

    public static double[] Weights(Module model) => ParameterVector.Flatten(model.Parameters()).ToDoubleArray();
}
