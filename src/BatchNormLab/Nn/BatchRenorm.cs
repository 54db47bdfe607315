namespace BatchNormLab.Nn;

/// <summary>
/// How far Batch Renormalization may pull the batch statistics towards the running ones, by the
/// layer's training step t (its num_batches_tracked before the step). The defaults are those of
/// Ioffe 2017 §4: r_max = 1 and d_max = 0 (plain BatchNorm) for the first <see cref="FixedSteps"/>,
/// then linear ramps reaching <see cref="RMax"/> at step <see cref="RMaxSteps"/> and
/// <see cref="DMax"/> at step <see cref="DMaxSteps"/>; constant after. RMax = 1, DMax = 0 is BatchNorm.
/// </summary>
/// <param name="RMax">Final r_max, finite and ≥ 1 (default 3).</param>
/// <param name="DMax">Final d_max, finite and ≥ 0 (default 5).</param>
/// <param name="FixedSteps">Steps of plain BatchNorm (r_max = 1, d_max = 0) before the ramps start (default 5000).</param>
/// <param name="RMaxSteps">Step at which r_max reaches <paramref name="RMax"/> (default 40000).</param>
/// <param name="DMaxSteps">Step at which d_max reaches <paramref name="DMax"/> (default 25000).</param>
public sealed record BatchRenormSchedule(double RMax = 3, double DMax = 5, long FixedSteps = 5_000, long RMaxSteps = 40_000, long DMaxSteps = 25_000)
{
    /// <summary>r_max at training step <paramref name="step"/>.</summary>
    public double RMaxAt(long step) => Ramp(step, 1, RMax, RMaxSteps);

    /// <summary>d_max at training step <paramref name="step"/>.</summary>
    public double DMaxAt(long step) => Ramp(step, 0, DMax, DMaxSteps);

    double Ramp(long step, double from, double to, long end) =>
        step >= end ? to : step <= FixedSteps ? from : from + (to - from) * (step - FixedSteps) / (end - FixedSteps);

    /// <summary>Throws an ArgumentException naming the setting that is out of range.</summary>
    public void Validate()
    {
        if (!(RMax >= 1) || !double.IsFinite(RMax)) throw new ArgumentOutOfRangeException(nameof(RMax), RMax, "Batch Renorm: r_max must be finite and ≥ 1");
        if (!(DMax >= 0) || !double.IsFinite(DMax)) throw new ArgumentOutOfRangeException(nameof(DMax), DMax, "Batch Renorm: d_max must be finite and ≥ 0");
        if (FixedSteps < 0) throw new ArgumentOutOfRangeException(nameof(FixedSteps), FixedSteps, "Batch Renorm: the steps before the ramps must be ≥ 0");
        if (RMaxSteps < FixedSteps) throw new ArgumentOutOfRangeException(nameof(RMaxSteps), RMaxSteps, $"Batch Renorm: the r_max ramp must end at or after step {FixedSteps}, where it starts");
        if (DMaxSteps < FixedSteps) throw new ArgumentOutOfRangeException(nameof(DMaxSteps), DMaxSteps, $"Batch Renorm: the d_max ramp must end at or after step {FixedSteps}, where it starts");
    }
}

/// <summary>
/// Batch Renormalization (Ioffe 2017). Training, with batch statistics μ_B, σ_B = √(σ²_B + ε) (biased)
/// and running ones μ, σ = √(running_var + ε):
/// <code>
/// r = clip(σ_B/σ, 1/r_max, r_max),  d = clip((μ_B − μ)/σ, −d_max, d_max)     (constants for autodiff)
/// y = γ·((x − μ_B)/σ_B·r + d) + β
/// </code>
/// then the running statistics move as BatchNorm's do (running_var takes the unbiased batch variance);
/// r and d use the running statistics from before this step's update. Eval is BatchNorm's eval. The
/// paper keeps a moving average of σ; this layer averages the variance, as BatchNorm does, so its state
/// dict, its eval and its r_max = 1, d_max = 0 limit are exactly BatchNorm's. r_max and d_max follow
/// <see cref="Schedule"/>, keyed on num_batches_tracked. Running statistics are always tracked (without
/// them the layer would be BatchNorm).
/// </summary>
public abstract class BatchRenorm : BatchNorm
{
    /// <summary>The r_max and d_max schedule (the paper's defaults when none is given).</summary>
    public BatchRenormSchedule Schedule { get; }

    /// <summary>r of the last training forward, per channel (null before the first).</summary>
    public double[]? LastR { get; private set; }

    /// <summary>d of the last training forward, per channel (null before the first).</summary>
    public double[]? LastD { get; private set; }

    /// <summary>Creates the layer (always tracking running statistics) and validates <paramref name="schedule"/>.</summary>
    protected BatchRenorm(int numFeatures, double eps, double? momentum, bool affine, BatchRenormSchedule? schedule)
        : base(numFeatures, eps, momentum, affine, trackRunningStats: true)
    {
        Schedule = schedule ?? new BatchRenormSchedule();
        Schedule.Validate();
    }

    /// <summary>Normalises with the batch statistics corrected by r and d, records them, then updates the running statistics.</summary>
    protected override Tensor NormaliseWithBatchStatistics(Tensor input)
    {
        long perChannel = input.Length / NumFeatures;
        CheckValuesPerChannel(perChannel, input);
        var (mean, variance) = Tensor.BatchStatistics(input);
        double rMax = Schedule.RMaxAt(NumBatchesTracked), dMax = Schedule.DMaxAt(NumBatchesTracked);
        var runningMean = RunningMean!.ToDoubleArray();
        var runningVar = RunningVar!.ToDoubleArray();
        var r = new double[NumFeatures];
        var d = new double[NumFeatures];
        for (int c = 0; c < NumFeatures; c++)
        {
            double sigma = Math.Sqrt(runningVar[c] + Eps);
            r[c] = Math.Clamp(Math.Sqrt(variance[c] + Eps) / sigma, 1 / rMax, rMax);
            d[c] = Math.Clamp((mean[c] - runningMean[c]) / sigma, -dMax, dMax);
        }
        (LastR, LastD) = (r, d);
        var y = Tensor.BatchRenormTrain(input, Weight, Bias, Eps, mean, variance, r, d);
        UpdateRunningStatistics(mean, variance, perChannel);
        return y;
    }
}

/// <summary>Batch Renorm over (N, C) or (N, C, L): statistics per C over N (and L).</summary>
public sealed class BatchRenorm1d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, BatchRenormSchedule? schedule = null)
    : BatchRenorm(numFeatures, eps, momentum, affine, schedule)
{
    /// <inheritdoc/>
    protected override void CheckRank(Tensor input) => CheckRank1d(input);
}

/// <summary>Batch Renorm over (N, C, H, W): statistics per C over N, H and W.</summary>
public sealed class BatchRenorm2d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, BatchRenormSchedule? schedule = null)
    : BatchRenorm(numFeatures, eps, momentum, affine, schedule)
{
    /// <inheritdoc/>
    protected override void CheckRank(Tensor input) => CheckRank2d(input);
}
