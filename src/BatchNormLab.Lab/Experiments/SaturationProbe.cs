namespace BatchNormLab.Experiments;

/// <summary>The fraction of one layer's units whose pre-activation lies beyond the saturation threshold, on one training batch.</summary>
public sealed record SaturationSnapshot(int Step, int Layer, double Fraction);

/// <summary>
/// Records, every <c>every</c> steps, the fraction of saturated units after every weight layer that
/// has an activation: values entering the activation (after BN when the model has it before the
/// activation) with |x| above the threshold, where a sigmoid's slope is below σ′(4) ≈ 0.018 of its
/// largest 0.25 at the default 4. Only the training forward pass is recorded.
/// </summary>
public sealed class SaturationProbe : ITrainingCallback
{
    readonly int every;
    int? recording;

    /// <summary>The |x| beyond which a unit counts as saturated (positive).</summary>
    public double Threshold { get; }
    /// <summary>The weight-layer numbers (from 1) that have an activation after them, in order: the layers recorded.</summary>
    public IReadOnlyList<int> Layers { get; }
    /// <summary>The snapshots recorded so far, in step order, one per recorded layer per recording step.</summary>
    public List<SaturationSnapshot> Snapshots { get; } = [];

    /// <summary>Hooks the activation after each weight layer of <paramref name="model"/> (ReLU, Sigmoid or Tanh) to read the values entering it.</summary>
    /// <param name="model">The network to record.</param>
    /// <param name="threshold">The saturation threshold on |x| (positive).</param>
    /// <param name="every">The recording interval in steps (at least 1).</param>
    public SaturationProbe(Module model, double threshold, int every)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(every, 1);
        if (!(threshold > 0)) throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "the saturation threshold must be positive");
        (Threshold, this.every) = (threshold, every);
        var activations = ActivationProbe.ActivationAfterEachWeightLayer(model);
        Layers = activations.Keys.Order().ToList();
        foreach (var (layer, activation) in activations)
            activation.RegisterForwardHook((_, input, _) =>
            {
                if (recording is int step) Snapshots.Add(new SaturationSnapshot(step, layer, SaturatedFraction(input.ToFloatArray(), threshold)));
                return null;
            });
    }

    // A probe read back with its run (RunArchive): its snapshots only; it is never attached to a trainer again.
    SaturationProbe(double threshold, IReadOnlyList<int> layers, List<SaturationSnapshot> snapshots) =>
        (Threshold, Layers, Snapshots, every) = (threshold, layers, snapshots, 1);

    internal static SaturationProbe Restored(double threshold, IReadOnlyList<int> layers, List<SaturationSnapshot> snapshots) => new(threshold, layers, snapshots);

    /// <summary>Arms recording for the forward pass of <paramref name="step"/> when it is a multiple of the interval.</summary>
    public void OnBatch(Trainer trainer, int step, Batch batch) => recording = step % every == 0 ? step : null;

    /// <summary>Disarms recording once the training forward pass is done.</summary>
    public void OnGradient(Trainer trainer, StepMetrics metrics) => recording = null;

    /// <summary>The fraction of <paramref name="values"/> with |v| &gt; <paramref name="threshold"/> (NaN counts as saturated: it has no slope).</summary>
    public static double SaturatedFraction(ReadOnlySpan<float> values, double threshold)
    {
        int saturated = 0;
        foreach (float v in values)
            if (!(Math.Abs(v) <= threshold)) saturated++;
        return (double)saturated / values.Length;
    }

    /// <summary>Per layer, the mean saturated fraction over the recordings in the last <paramref name="share"/> of the run's recorded steps.</summary>
    public IReadOnlyDictionary<int, double> Late(double share = 0.2)
    {
        int last = Snapshots.Count == 0 ? 0 : Snapshots.Max(s => s.Step);
        int from = (int)Math.Floor(last * (1 - share));
        return Layers.ToDictionary(l => l, l => Snapshots.Where(s => s.Layer == l && s.Step >= from).Select(s => s.Fraction).DefaultIfEmpty(double.NaN).Average());
    }
}
