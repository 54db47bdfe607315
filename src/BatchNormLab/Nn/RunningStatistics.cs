namespace BatchNormLab.Nn;

/// <summary>The running averages of BatchNorm-style layers: running ← (1−f)·running + f·batch, f = momentum or 1/num_batches_tracked.</summary>
internal static class RunningStatistics
{
    public static double Factor(double? momentum, long numBatchesTracked) => momentum ?? 1.0 / numBatchesTracked;

    /// <summary>Moves each channel of <paramref name="running"/> the fraction <paramref name="f"/> towards <paramref name="batch"/>.</summary>
    public static void Blend(Tensor running, double f, IReadOnlyList<double> batch)
    {
        var values = running.ToDoubleArray();
        for (int c = 0; c < values.Length; c++) values[c] = (1 - f) * values[c] + f * batch[c];
        running.CopyFrom(Tensor.FromArray(values, values.Length));
    }
}
