namespace BatchNormLab.Nn;

/// <summary>
/// What BatchNorm, its ℓp variant and InstanceNorm share, with PyTorch's names: <see cref="NumFeatures"/>
/// channels with optional γ (ones) and β (zeros), ε, and when tracking running statistics a running mean,
/// a running spread (running_var, or running_scale; ones at start) and the int64 num_batches_tracked.
/// </summary>
public abstract class NormLayer : Module
{
    long numBatchesTracked;

    public int NumFeatures { get; }
    public double Eps { get; }
    public bool Affine { get; }
    public bool TrackRunningStats { get; }

    /// <summary>γ (ones at start), or null when not affine.</summary>
    public Tensor? Weight => GetParameter("weight");
    /// <summary>β (zeros at start), or null when not affine.</summary>
    public Tensor? Bias => GetParameter("bias");
    public Tensor? RunningMean => GetBuffer("running_mean");
    public long NumBatchesTracked => numBatchesTracked;

    /// <param name="layer">The layer's name in error messages.</param>
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

    protected void ResetBatchCount() => numBatchesTracked = 0;

    protected override IEnumerable<(string Name, long Value)> Int64Buffers =>
        TrackRunningStats ? [("num_batches_tracked", numBatchesTracked)] : [];

    protected override void SetInt64Buffer(string name, long value)
    {
        if (name != "num_batches_tracked" || !TrackRunningStats) base.SetInt64Buffer(name, value);
        numBatchesTracked = value;
    }
}
