using BatchNormLab.Data;
using BatchNormLab.Nn;
using BatchNormLab.Training;

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

    public double Threshold { get; }
    public IReadOnlyList<int> Layers { get; }
    public List<SaturationSnapshot> Snapshots { get; } = [];

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

    public void OnBatch(Trainer trainer, int step, Batch batch) => recording = step % every == 0 ? step : null;

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
