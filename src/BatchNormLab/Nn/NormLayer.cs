namespace BatchNormLab.Nn;

/// <summary>
/// What BatchNorm, its ℓp variant and InstanceNorm share, with PyTorch's names: <see cref="NumFeatures"/>
/// channels with optional γ (ones) and β (zeros), ε, and when tracking running statistics a running mean,
/// a running spread (running_var, or running_scale; ones at start) and the int64 num_batches_tracked.
/// </summary>
public abstract class NormLayer : Module
{
    long numBatchesTracked;

    /// <summary>Channel count C (dimension 1 of the input); the length of γ, β and the running statistics.</summary>
    public int NumFeatures { get; }
    /// <summary>ε added to the spread in the denominator for numerical stability (PyTorch's eps); positive.</summary>
    public double Eps { get; }
    /// <summary>Whether the layer has learnable γ and β (PyTorch's affine).</summary>
    public bool Affine { get; }
    /// <summary>Whether the layer keeps running statistics for eval mode (PyTorch's track_running_stats).</summary>
    public bool TrackRunningStats { get; }

    /// <summary>γ (ones at start), or null when not affine.</summary>
    public Tensor? Weight => GetParameter("weight");
    /// <summary>β (zeros at start), or null when not affine.</summary>
    public Tensor? Bias => GetParameter("bias");
    /// <summary>Running mean per channel (zeros at start), or null when not tracking running statistics.</summary>
    public Tensor? RunningMean => GetBuffer("running_mean");
    /// <summary>Training batches counted into the running statistics since construction or reset (PyTorch's num_batches_tracked).</summary>
    public long NumBatchesTracked => numBatchesTracked;

    /// <param name="layer">The layer's name in error messages.</param>
    /// <param name="numFeatures">Channel count C; at least 1.</param>
    /// <param name="eps">ε; must be positive.</param>
    /// <param name="affine">Whether to create γ and β.</param>
    /// <param name="trackRunningStats">Whether to create the running-statistics buffers and the batch counter.</param>
    /// <param name="spreadBuffer">The running spread's buffer name.</param>
    protected NormLayer(string layer, int numFeatures, double eps, bool affine, bool trackRunningStats, string spreadBuffer)
    {
        if (numFeatures < 1) throw new ArgumentOutOfRangeException(nameof(numFeatures), numFeatures, $"{layer} needs at least one feature");
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "eps must be positive");
        (NumFeatures, Eps, Affine, TrackRunningStats) = (numFeatures, eps, affine, trackRunningStats);
        RegisterParameter("weight", affine ? Tensor.Ones(numFeatures) : null);
        RegisterParameter("bias", affine ? Tensor.Zeros(numFeatures) : null);
        RegisterBuffer("running_mean", trackRunningStats ? Tensor.Zeros(numFeatures) : null);
        RegisterBuffer(spreadBuffer, trackRunningStats ? Tensor.Ones(numFeatures) : null);
    }

    /// <summary>Counts one more batch into the running statistics; returns the new count.</summary>
    protected long CountBatch() => ++numBatchesTracked;

    /// <summary>Sets num_batches_tracked back to 0.</summary>
    protected void ResetBatchCount() => numBatchesTracked = 0;

    /// <inheritdoc/>
    protected override IEnumerable<(string Name, long Value)> Int64Buffers =>
        TrackRunningStats ? [("num_batches_tracked", numBatchesTracked)] : [];

    /// <inheritdoc/>
    protected override void SetInt64Buffer(string name, long value)
    {
        if (name != "num_batches_tracked" || !TrackRunningStats) base.SetInt64Buffer(name, value);
        numBatchesTracked = value;
    }
}
