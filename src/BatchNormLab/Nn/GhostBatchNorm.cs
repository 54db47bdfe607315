namespace BatchNormLab.Nn;

/// <summary>
/// Ghost BatchNorm (Hoffer, Hubara and Soudry 2017): BatchNorm whose batch statistics come from
/// virtual batches, the consecutive chunks of <see cref="VirtualBatchSize"/> samples along N (the
/// last may be smaller, but must still have more than one value per channel). Each chunk is
/// normalised with its own mean and biased variance, exactly as BatchNorm would normalise that chunk
/// alone; γ and β are shared.
/// Running statistics are updated per chunk, in chunk order, as if BatchNorm had run on each chunk in
/// turn: num_batches_tracked counts chunks, and with momentum m one forward of k chunks moves the
/// running statistics by 1 − (1 − m)^k in all. So a batch that is one virtual batch is BatchNorm
/// exactly (forward, gradients, running statistics), and k virtual batches are BatchNorm applied to
/// each chunk. Eval with running statistics is BatchNorm's eval; without them, eval uses per-chunk
/// batch statistics too.
/// </summary>
public abstract class GhostBatchNorm : BatchNorm
{
    /// <summary>Samples per virtual batch (chunk of N); at least 2.</summary>
    public int VirtualBatchSize { get; }

    /// <summary>Creates the layer as BatchNorm does; <paramref name="virtualBatchSize"/> must be at least 2.</summary>
    protected GhostBatchNorm(int numFeatures, int virtualBatchSize, double eps, double? momentum, bool affine, bool trackRunningStats)
        : base(numFeatures, eps, momentum, affine, trackRunningStats)
    {
        if (virtualBatchSize < 2)
            throw new ArgumentOutOfRangeException(nameof(virtualBatchSize), virtualBatchSize, "GhostBatchNorm: the virtual batch size must be at least 2 (one sample per virtual batch has no variance)");
        VirtualBatchSize = virtualBatchSize;
    }

    /// <summary>Normalises each virtual batch with its own statistics and, in training, updates the running statistics once per chunk; a batch of at most one virtual batch is plain BatchNorm.</summary>
    protected override Tensor NormaliseWithBatchStatistics(Tensor input)
    {
        int n = input.Size(0);
        if (n <= VirtualBatchSize) return base.NormaliseWithBatchStatistics(input);
        long perSample = input.Length / n / NumFeatures;
        int chunks = (n + VirtualBatchSize - 1) / VirtualBatchSize;
        int lastRows = n - (chunks - 1) * VirtualBatchSize;
        if (lastRows * perSample <= 1)
            throw new ArgumentException($"GhostBatchNorm: the last virtual batch of input size {Tensor.Format(input.Dims)} has {lastRows} sample of one value per channel " +
                $"(virtual batch size {VirtualBatchSize}); expected more than 1 value per channel when training");
        var y = Tensor.GhostBatchNormTrain(input, Weight, Bias, Eps, VirtualBatchSize, out var means, out var variances);
        if (Training && TrackRunningStats)
            for (int j = 0; j < chunks; j++)
                UpdateRunningStatistics(means[j], variances[j], Math.Min(VirtualBatchSize, n - j * VirtualBatchSize) * perSample);
        return y;
    }
}

/// <summary>Ghost BN over (N, C) or (N, C, L): per virtual batch, statistics per C over its samples (and L).</summary>
public sealed class GhostBatchNorm1d(int numFeatures, int virtualBatchSize = 32, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true)
    : GhostBatchNorm(numFeatures, virtualBatchSize, eps, momentum, affine, trackRunningStats)
{
    /// <inheritdoc/>
    protected override void CheckRank(Tensor input) => CheckRank1d(input);
}

/// <summary>Ghost BN over (N, C, H, W): per virtual batch, statistics per C over its samples, H and W.</summary>
public sealed class GhostBatchNorm2d(int numFeatures, int virtualBatchSize = 32, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true)
    : GhostBatchNorm(numFeatures, virtualBatchSize, eps, momentum, affine, trackRunningStats)
{
    /// <inheritdoc/>
    protected override void CheckRank(Tensor input) => CheckRank2d(input);
}
