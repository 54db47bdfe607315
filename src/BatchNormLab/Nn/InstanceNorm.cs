namespace BatchNormLab.Nn;

/// <summary>
/// Instance normalisation with PyTorch's semantics (nn.InstanceNorm1d/2d; Ulyanov et al. 2016):
/// each sample's channel is normalised over its own spatial values (L, or H·W) by its mean and
/// biased variance; GroupNorm with one group per channel. PyTorch's defaults: affine = false,
/// track_running_stats = false (eval then uses each input's own statistics too).
/// With track_running_stats, training updates, per channel, with the factor momentum
/// <code>
/// running_mean ← (1−m)·running_mean + m·mean_n μ[n, c]
/// running_var  ← (1−m)·running_var  + m·mean_n σ²[n, c]·S/(S−1)     (unbiased per instance)
/// </code>
/// and eval normalises with them, as BatchNorm's eval does. As in PyTorch, num_batches_tracked is in
/// the state dict but never counts, and momentum cannot be None. Training needs more than one spatial
/// value. An input without the batch dimension ((C, L) or (C, H, W)) is one sample.
/// </summary>
public abstract class InstanceNorm : NormLayer
{
    /// <summary>Weight of the new statistics in the running averages (PyTorch's momentum, default 0.1); in [0, 1], never null.</summary>
    public double Momentum { get; }
    /// <summary>Running unbiased variance per channel (ones at start), or null when not tracking running statistics.</summary>
    public Tensor? RunningVar => GetBuffer("running_var");

    /// <summary>1 for (N, C, L), 2 for (N, C, H, W).</summary>
    protected abstract int SpatialRank { get; }

    /// <summary>Creates the layer; <paramref name="momentum"/> must be in [0, 1].</summary>
    protected InstanceNorm(int numFeatures, double eps, double momentum, bool affine, bool trackRunningStats)
        : base("InstanceNorm", numFeatures, eps, affine, trackRunningStats, "running_var")
    {
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1]");
        Momentum = momentum;
    }

    /// <summary>Normalises each sample's channels with their own statistics (updating the running ones in training), or in eval with the running statistics when tracked.</summary>
    protected override Tensor Compute(Tensor input)
    {
        bool batched = input.Rank == SpatialRank + 2;
        if (!batched && input.Rank != SpatialRank + 1)
            throw new ArgumentException($"{GetType().Name} expected {SpatialRank + 1}D (unbatched) or {SpatialRank + 2}D (batched) input (got {input.Rank}D input, shape {Tensor.Format(input.Dims)})");
        var x = batched ? input : input.Reshape([1, .. input.Shape]);
        if (x.Size(1) != NumFeatures)
            throw new ArgumentException($"{GetType().Name}({NumFeatures}) got {x.Size(1)} channels (input shape {Tensor.Format(input.Dims)})");
        Tensor y;
        if (!Training && TrackRunningStats)
            y = Tensor.BatchNormEval(x, Weight, Bias, RunningMean!.ToDoubleArray(), RunningVar!.ToDoubleArray(), Eps);
        else
        {
            int n = x.Size(0);
            long spatial = x.Length / ((long)n * NumFeatures);
            if (spatial <= 1)
                throw new ArgumentException($"Expected more than 1 spatial element when training, got input size {Tensor.Format(input.Dims)}");
            y = Tensor.GroupNorm(x, NumFeatures, Weight, Bias, Eps, out var mean, out var variance);
            if (Training && TrackRunningStats) UpdateRunningStatistics(mean, variance, n, spatial);
        }
        return batched ? y : y.Reshape(input.Shape);
    }

    // running ← (1−m)·running + m·(average over the batch of each instance's statistic), running_var with σ²·S/(S−1)
    void UpdateRunningStatistics(double[] mean, double[] biasedVariance, int n, long spatial)
    {
        double unbias = spatial / (spatial - 1.0);
        var batchMean = new double[NumFeatures];
        var batchVar = new double[NumFeatures];
        for (int i = 0; i < n; i++)
            for (int c = 0; c < NumFeatures; c++)
            {
                batchMean[c] += mean[i * NumFeatures + c] / n;
                batchVar[c] += biasedVariance[i * NumFeatures + c] * unbias / n;
            }
        RunningStatistics.Blend(RunningMean!, Momentum, batchMean);
        RunningStatistics.Blend(RunningVar!, Momentum, batchVar);
    }
}

/// <summary>InstanceNorm over (N, C, L) or (C, L): per sample and channel over L.</summary>
public sealed class InstanceNorm1d(int numFeatures, double eps = 1e-5, double momentum = 0.1, bool affine = false, bool trackRunningStats = false)
    : InstanceNorm(numFeatures, eps, momentum, affine, trackRunningStats)
{
    /// <inheritdoc/>
    protected override int SpatialRank => 1;
}

/// <summary>InstanceNorm over (N, C, H, W) or (C, H, W): per sample and channel over H and W.</summary>
public sealed class InstanceNorm2d(int numFeatures, double eps = 1e-5, double momentum = 0.1, bool affine = false, bool trackRunningStats = false)
    : InstanceNorm(numFeatures, eps, momentum, affine, trackRunningStats)
{
    /// <inheritdoc/>
    protected override int SpatialRank => 2;
}
