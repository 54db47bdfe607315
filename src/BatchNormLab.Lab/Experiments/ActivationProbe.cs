namespace BatchNormLab.Experiments;

/// <summary>The distribution of one weight layer's activations (its output, before any normalisation) on one training batch.</summary>
public sealed record ActivationSnapshot(int Step, int Layer, double Mean, double Std, double P05, double P25, double P50, double P75, double P95);

/// <summary>
/// Records, every <c>every</c> steps, the distribution of chosen weight layers' outputs (the conv or linear
/// output, before any normalisation) during the training forward pass: the same place in every network,
/// and one no normalisation pins (after BN, or after BN and the activation, γ and β fix the distribution
/// by construction). A layer's output moves when the layers before it change, noise included, which is
/// the shift Santurkar et al.'s Figs. 1c and 2 look at. Large tensors are summarised from an evenly
/// strided sample of at most <see cref="MaxSample"/> values.
/// </summary>
public sealed class ActivationProbe : ITrainingCallback
{
    /// <summary>The most values a snapshot is summarised from (2¹⁶); larger outputs are sampled with an even stride.</summary>
    public const int MaxSample = 1 << 16;

    readonly int every;
    int? recording;

    /// <summary>The weight-layer numbers recorded (from 1, counting linear and conv layers in forward order).</summary>
    public IReadOnlyList<int> Layers { get; }
    /// <summary>The snapshots recorded so far, in step order, one per recorded layer per recording step.</summary>
    public List<ActivationSnapshot> Snapshots { get; } = [];

    /// <summary>Hooks the chosen weight layers of <paramref name="model"/>; throws when a layer number is out of range.</summary>
    /// <param name="model">The network to record; its linear and conv layers are counted in forward order.</param>
    /// <param name="layers">Weight-layer numbers (<see cref="WeightLayer"/>, from 1).</param>
    /// <param name="every">The recording interval in steps (at least 1): the steps that are multiples of it.</param>
    public ActivationProbe(Module model, IReadOnlyList<int> layers, int every)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(every, 1);
        (Layers, this.every) = (layers, every);
        var weightLayers = model.NamedModules().Select(m => m.Module).Where(m => m is Linear or Conv2d).ToList();
        foreach (int layer in layers)
        {
            if (layer < 1 || layer > weightLayers.Count)
                throw new ArgumentException($"the model has weight layers #1 to #{weightLayers.Count}, not #{layer}");
            weightLayers[layer - 1].RegisterForwardHook((_, _, output) =>
            {
                if (recording is int step) Snapshots.Add(Summarise(step, layer, output.ToFloatArray()));
                return null;
            });
        }
    }

    // A probe read back with its run (RunArchive): its snapshots only; it is never attached to a trainer again.
    ActivationProbe(IReadOnlyList<int> layers, List<ActivationSnapshot> snapshots) => (Layers, Snapshots, every) = (layers, snapshots, 1);

    internal static ActivationProbe Restored(IReadOnlyList<int> layers, List<ActivationSnapshot> snapshots) => new(layers, snapshots);

    /// <summary>Arms recording for the forward pass of <paramref name="step"/> when it is a multiple of the interval.</summary>
    public void OnBatch(Trainer trainer, int step, Batch batch) => recording = step % every == 0 ? step : null;

    // Only the training forward pass is recorded: later forwards (evaluation, probes) are not this step's distribution.
    /// <summary>Disarms recording once the training forward pass is done.</summary>
    public void OnGradient(Trainer trainer, StepMetrics metrics) => recording = null;

    /// <summary>Weight-layer number → the first ReLU/Sigmoid/Tanh module after it in forward order (before the next weight layer).</summary>
    internal static Dictionary<int, Module> ActivationAfterEachWeightLayer(Module model)
    {
        var found = new Dictionary<int, Module>();
        int layer = 0;
        foreach (var (_, module) in model.NamedModules())
        {
            if (module is Linear or Conv2d) layer++;
            else if (module is ReLU or Sigmoid or Tanh && layer > 0) found.TryAdd(layer, module);
        }
        return found;
    }

    /// <summary>Mean, standard deviation and the 5/25/50/75/95th percentiles of <paramref name="values"/> (strided sample when large).</summary>
    public static ActivationSnapshot Summarise(int step, int layer, float[] values)
    {
        int stride = Math.Max(1, (values.Length + MaxSample - 1) / MaxSample);
        var sample = new double[(values.Length + stride - 1) / stride];
        for (int i = 0; i < sample.Length; i++) sample[i] = values[i * stride];
        double mean = sample.Average();
        double variance = sample.Sum(v => (v - mean) * (v - mean)) / sample.Length;
        Array.Sort(sample);
        double Percentile(double q)
        {
            // Linear interpolation between order statistics (NumPy's default).
            double position = q * (sample.Length - 1);
            int low = (int)Math.Floor(position);
            int high = Math.Min(low + 1, sample.Length - 1);
            return sample[low] + (position - low) * (sample[high] - sample[low]);
        }
        return new ActivationSnapshot(step, layer, mean, Math.Sqrt(variance), Percentile(0.05), Percentile(0.25), Percentile(0.5), Percentile(0.75), Percentile(0.95));
    }

    /// <summary>
    /// How much a layer's distribution moves between consecutive snapshots, in its own units: the mean
    /// over snapshot pairs of the mean absolute change of the 5/25/50/75/95th percentiles divided by the
    /// earlier 5–95 spread. It sees shape as well as location and scale (a ReLU's output is one-sided and partly zero), and is scale-free, so networks whose
    /// activations differ in size compare fairly. NaN with fewer than two snapshots.
    /// </summary>
    public static double Shift(IReadOnlyList<ActivationSnapshot> snapshots)
    {
        static double[] Percentiles(ActivationSnapshot s) => [s.P05, s.P25, s.P50, s.P75, s.P95];
        var ordered = snapshots.OrderBy(s => s.Step).Where(s => Percentiles(s).All(double.IsFinite) && s.P95 > s.P05).ToList();
        if (ordered.Count < 2) return double.NaN;
        double sum = 0;
        for (int i = 1; i < ordered.Count; i++)
        {
            var (before, after) = (Percentiles(ordered[i - 1]), Percentiles(ordered[i]));
            sum += before.Zip(after, (a, b) => Math.Abs(b - a)).Average() / (ordered[i - 1].P95 - ordered[i - 1].P05);
        }
        return sum / (ordered.Count - 1);
    }
}
