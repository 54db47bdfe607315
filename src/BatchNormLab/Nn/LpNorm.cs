namespace BatchNormLab.Nn;

/// <summary>
/// ℓp normalisation (Santurkar et al. 2018 §3.3, Figs. 13–14): BatchNorm with the
/// standard deviation replaced by the ℓp average of the values, per channel over N and the spatial
/// dimensions of an (N, C, ...) input, p ∈ {1, 2, ∞}. The paper does not say whether the mean is
/// subtracted first, so both are offered: centred (μ the batch mean; p = 2 is then BatchNorm) and
/// uncentred (μ = 0: only the scale is normalised, so the mean can drift, which Fig. 14's shift needs).
/// <code>
/// training:  μ = mean x (centred) or 0,  c = x − μ,  M = mean |c|ᵖ (p = 1, 2) or max |c| (p = ∞)
///            D = (M + ε)^(1/q)  with q = p for p = 1, 2 and q = 1 for p = ∞
///            y = γ·c/D + β
/// running:   running_mean  ← (1−f)·running_mean  + f·μ        (centred; uncentred it stays 0)
///            running_scale ← (1−f)·running_scale + f·M^(1/q)      (f = momentum, or 1/num_batches_tracked)
/// eval:      D = (running_scale^q + ε)^(1/q),  y = γ·(x − running_mean)/D + β
/// </code>
/// ε sits under the root, so p = 2 is BatchNorm's training output exactly (D = √(σ²_biased + ε)); for
/// p = 1 and ∞ it is added to the average itself. running_scale is the ℓp average itself (for p = 2 the
/// biased std, where BatchNorm keeps the unbiased variance): only p = 2 has a simple unbiasing factor,
/// and training divides by the batch's own statistic, whose mean this estimates. With p = ∞ the
/// gradient of the max goes to the first maximum (Tensor.Max), a valid subgradient at ties.
/// Training runs the fused op (<see cref="Kernels.LpNormKernels"/>); its composite twin (Tensor.LpNormComposite)
/// is the definition and gives the double backward.
/// </summary>
public sealed class LpNorm : NormLayer
{
    readonly int root;

    /// <summary>1, 2 or <see cref="double.PositiveInfinity"/>.</summary>
    public double P { get; }
    /// <summary>Weight of the new batch statistic in the running averages (PyTorch's momentum, default 0.1); null means a cumulative average.</summary>
    public double? Momentum { get; }

    /// <summary>Whether the batch mean is subtracted before the ℓp average is taken (true: the layer of the same name in PyTorch's twin).</summary>
    public bool Centred { get; }

    /// <summary>Running ℓp average of the centred values (ones at start).</summary>
    public Tensor? RunningScale => GetBuffer("running_scale");

    /// <summary>Creates the layer with γ = 1, β = 0, running mean 0 and running scale 1; <paramref name="p"/> must be 1, 2 or ∞.</summary>
    public LpNorm(int numFeatures, double p, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true, bool centred = true)
        : base("LpNorm", numFeatures, eps, affine, trackRunningStats, "running_scale")
    {
        if (p is not (1 or 2 or double.PositiveInfinity)) throw new ArgumentOutOfRangeException(nameof(p), p, "LpNorm supports p = 1, 2 or ∞ (double.PositiveInfinity)");
        if (momentum is double mo && !(mo >= 0 && mo <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1] or null");
        (P, Momentum, Centred) = (p, momentum, centred);
        root = p == 2 ? 2 : 1;
    }

    /// <summary>Training, or eval without running statistics: normalises by the batch's ℓp average (updating the running statistics in training); eval: by the running ones.</summary>
    protected override Tensor Compute(Tensor input)
    {
        if (input.Rank < 2) throw new ArgumentException($"LpNorm expected (N, C, ...) input of rank ≥ 2 (got shape {Tensor.Format(input.Dims)})");
        if (input.Size(1) != NumFeatures)
            throw new ArgumentException($"LpNorm({NumFeatures}) got {input.Size(1)} channels in dimension 1 (input shape {Tensor.Format(input.Dims)})");
        int n = input.Size(0), c = NumFeatures, s = 1;
        for (int d = 2; d < input.Rank; d++) s *= input.Size(d);
        if (Training || !TrackRunningStats)
        {
            if ((long)n * s <= 1)
                throw new ArgumentException($"Expected more than 1 value per channel when training, got input size {Tensor.Format(input.Dims)}");
            var output = Tensor.LpNormTrain(input, P, Centred, Weight, Bias, Eps, out var mean, out var moment);
            if (Training && TrackRunningStats) UpdateRunningStatistics(Centred ? mean : null, moment);
            return output;
        }
        var xhat = NormaliseWithRunningStatistics(input.Reshape(n, c, s));
        var y = Weight is null ? xhat : xhat * Weight.Reshape(1, c, 1);
        return (Bias is null ? y : y + Bias.Reshape(1, c, 1)).Reshape(input.Shape);
    }

    // x̂ = (x − running_mean)·(running_scale^q + ε)^(−1/q)   (constants: linear in x)
    Tensor NormaliseWithRunningStatistics(Tensor x)
    {
        var mean = RunningMean!.ToDoubleArray();
        var inverse = RunningScale!.ToDoubleArray().Select(r => Math.Pow(Math.Pow(r, root) + Eps, -1.0 / root)).ToArray();
        return (x - Tensor.FromArray(mean, 1, NumFeatures, 1).To(x.DType)) * Tensor.FromArray(inverse, 1, NumFeatures, 1).To(x.DType);
    }

    // running ← (1−f)·running + f·batch,  f = momentum or 1/num_batches_tracked;  running_scale takes M^(1/q); no mean when uncentred
    void UpdateRunningStatistics(double[]? mean, double[] moment)
    {
        double f = RunningStatistics.Factor(Momentum, CountBatch());
        if (mean is not null) RunningStatistics.Blend(RunningMean!, f, mean);
        RunningStatistics.Blend(RunningScale!, f, moment.Select(m => Math.Pow(m, 1.0 / root)).ToArray());
    }
}
