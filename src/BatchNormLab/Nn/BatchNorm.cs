namespace BatchNormLab.Nn;

/// <summary>
/// Batch normalisation with PyTorch's semantics (Ioffe &amp; Szegedy 2015). Training: batch mean and biased
/// variance per channel normalise the output; the running mean and the *unbiased* running variance
/// (÷(m−1), m = values per channel, N·H·W for images) move by the factor momentum, or by
/// 1/num_batches_tracked when momentum is null (a cumulative average). Eval: running statistics,
/// unless track_running_stats is off, in which case batch statistics are used in both modes.
/// </summary>
public abstract class BatchNorm : NormLayer
{
    double? momentum;

    /// <summary>The running statistics' update factor, or null for the cumulative average; settable, as PyTorch's <c>bn.momentum = None</c>.</summary>
    public double? Momentum
    {
        get => momentum;
        set
        {
            if (value is double mo && !(mo >= 0 && mo <= 1)) throw new ArgumentOutOfRangeException(nameof(Momentum), value, "momentum must be in [0, 1] or null");
            momentum = value;
        }
    }
    /// <summary>Running unbiased variance per channel (ones at start), or null when not tracking running statistics.</summary>
    public Tensor? RunningVar => GetBuffer("running_var");

    /// <summary>Creates the layer with γ = 1, β = 0, running mean 0 and running variance 1.</summary>
    protected BatchNorm(int numFeatures, double eps, double? momentum, bool affine, bool trackRunningStats)
        : base("BatchNorm", numFeatures, eps, affine, trackRunningStats, "running_var") => Momentum = momentum;

    /// <summary>PyTorch's reset_running_stats(): running mean 0, running variance 1, num_batches_tracked 0.</summary>
    public void ResetRunningStats()
    {
        if (!TrackRunningStats) return;
        RunningMean!.Fill(0);
        RunningVar!.Fill(1);
        ResetBatchCount();
    }

    /// <summary>Throws unless the input's rank is one this layer accepts.</summary>
    protected abstract void CheckRank(Tensor input);

    /// <summary>Normalises with batch statistics in training or when not tracking running statistics, else with the running statistics.</summary>
    protected override Tensor Compute(Tensor input)
    {
        CheckRank(input);
        if (input.Size(1) != NumFeatures)
            throw new ArgumentException($"{GetType().Name}({NumFeatures}) got {input.Size(1)} channels in dimension 1 (input shape {Tensor.Format(input.Dims)})");
        bool useBatchStatistics = Training || !TrackRunningStats;
        if (!useBatchStatistics)
            return Tensor.BatchNormEval(input, Weight, Bias, RunningMean!.ToDoubleArray(), RunningVar!.ToDoubleArray(), Eps);
        return NormaliseWithBatchStatistics(input);
    }

    /// <summary>The forward with batch statistics (training, or eval without running statistics); Ghost BN and Batch Renorm change it.</summary>
    protected virtual Tensor NormaliseWithBatchStatistics(Tensor input)
    {
        long perChannel = input.Length / NumFeatures;
        CheckValuesPerChannel(perChannel, input);
        var y = Tensor.BatchNormTrain(input, Weight, Bias, Eps, out var mean, out var variance);
        if (Training && TrackRunningStats) UpdateRunningStatistics(mean, variance, perChannel);
        return y;
    }

    /// <summary>Throws, as PyTorch does, when a channel has at most one value to take batch statistics over.</summary>
    protected static void CheckValuesPerChannel(long perChannel, Tensor input)
    {
        if (perChannel <= 1)
            throw new ArgumentException($"Expected more than 1 value per channel when training, got input size {Tensor.Format(input.Dims)}");
    }

    // running ← (1−f)·running + f·batch,  f = momentum or 1/num_batches_tracked;  running_var takes σ²·m/(m−1)
    /// <summary>Counts a batch and blends its mean and biased variance into the running statistics; <paramref name="perChannel"/> (values per channel) unbiases the variance.</summary>
    protected void UpdateRunningStatistics(double[] mean, double[] biasedVariance, long perChannel)
    {
        double f = RunningStatistics.Factor(Momentum, CountBatch());
        double unbias = perChannel / (perChannel - 1.0);
        RunningStatistics.Blend(RunningMean!, f, mean);
        RunningStatistics.Blend(RunningVar!, f, biasedVariance.Select(v => v * unbias).ToArray());
    }

    /// <summary>Throws unless <paramref name="input"/> is (N, C) or (N, C, L).</summary>
    protected void CheckRank1d(Tensor input)
    {
        if (input.Rank is not (2 or 3)) throw new ArgumentException($"{GetType().Name} expected 2D or 3D input (got {input.Rank}D input, shape {Tensor.Format(input.Dims)})");
    }

    /// <summary>Throws unless <paramref name="input"/> is (N, C, H, W).</summary>
    protected void CheckRank2d(Tensor input)
    {
        if (input.Rank != 4) throw new ArgumentException($"{GetType().Name} expected 4D input (got {input.Rank}D input, shape {Tensor.Format(input.Dims)})");
    }
}

/// <summary>BatchNorm over (N, C) or (N, C, L): statistics per C over N (and L).</summary>
public sealed class BatchNorm1d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true)
    : BatchNorm(numFeatures, eps, momentum, affine, trackRunningStats)
{
    /// <inheritdoc/>
    protected override void CheckRank(Tensor input) => CheckRank1d(input);
}

/// <summary>BatchNorm over (N, C, H, W): statistics per C over N, H and W.</summary>
public sealed class BatchNorm2d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true)
    : BatchNorm(numFeatures, eps, momentum, affine, trackRunningStats)
{
    /// <inheritdoc/>
    protected override void CheckRank(Tensor input) => CheckRank2d(input);
}
