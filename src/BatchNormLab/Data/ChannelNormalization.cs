namespace BatchNormLab.Data;

/// <summary>
/// x ← (x − mean_c) / std_c per channel c (dimension 1 of [N, C, ...]; the feature for [N, D]), with
/// mean and std measured on the training set only and then applied to training and test sets alike.
/// Mean and std are kept in double so they can be saved in a run's config and restored exactly.
/// </summary>
public sealed class ChannelNormalization
{
    /// <summary>Mean of each channel over the training inputs.</summary>
    public double[] Mean { get; }

    /// <summary>Population standard deviation (divided by the count, as torchvision's constants are).</summary>
    public double[] Std { get; }

    /// <summary>From saved statistics.</summary>
    public ChannelNormalization(double[] mean, double[] std)
    {
        if (mean.Length != std.Length || mean.Length == 0)
            throw new ArgumentException($"need one mean and one std per channel, got {mean.Length} and {std.Length}");
        if (std.Any(s => !(s > 0)))
            throw new ArgumentException($"std must be positive, got [{string.Join(", ", std)}]", nameof(std));
        (Mean, Std) = ((double[])mean.Clone(), (double[])std.Clone());
    }

    /// <summary>
    /// Statistics of <paramref name="train"/>'s inputs, summed in double in a fixed order (two passes,
    /// so a large mean does not swamp the variance). A constant channel gets std 1: it is only centred.
    /// </summary>
    public static ChannelNormalization Fit(Dataset train)
    {
        var x = train.Inputs.FloatSpan;
        int n = train.Count, channels = train.Inputs.Size(1), inner = x.Length / (n * channels);
        var mean = new double[channels];
        var std = new double[channels];
        for (int c = 0; c < channels; c++)
        {
            double sum = 0;
            for (int s = 0; s < n; s++) foreach (float v in x.Slice((s * channels + c) * inner, inner)) sum += v;
            mean[c] = sum / ((double)n * inner);
            double squares = 0;
            for (int s = 0; s < n; s++) foreach (float v in x.Slice((s * channels + c) * inner, inner)) squares += (v - mean[c]) * (v - mean[c]);
            std[c] = Math.Sqrt(squares / ((double)n * inner));
            if (std[c] == 0) std[c] = 1;
        }
        return new ChannelNormalization(mean, std);
    }

    /// <summary>Normalises float32 [N, C, ...] inputs in place.</summary>
    public void ApplyInPlace(Tensor inputs)
    {
        if (inputs.DType != DType.Float32 || inputs.Rank < 2 || inputs.Size(1) != Mean.Length)
            throw new ArgumentException($"expected float32 [N, {Mean.Length}, ...], got {inputs}", nameof(inputs));
        var x = inputs.FloatSpan;
        int rows = inputs.Size(0) * Mean.Length, inner = rows == 0 ? 0 : x.Length / rows;
        for (int row = 0; row < rows; row++)
        {
            int c = row % Mean.Length;
            foreach (ref float v in x.Slice(row * inner, inner)) v = (float)((v - Mean[c]) / Std[c]);
        }
    }

    /// <summary>A normalised copy of <paramref name="data"/> (labels and targets shared).</summary>
    public Dataset Apply(Dataset data)
    {
        var inputs = data.Inputs.Clone();
        ApplyInPlace(inputs);
        return data.WithInputs(inputs);
    }
}
