namespace BatchNormLab.Experiments;

/// <summary>
/// The four quantities of Santurkar et al. §4 for one layer at one probed step: with y the layer's output
/// (before any normalisation) and ĝ = ∇_y L, ‖ĝ‖₂, the second-order term ĝᵀ H_y ĝ / ‖ĝ‖² (signed), the
/// norm of the gradient with respect to the layer's weights, and ‖W_t − W_0‖₂. Beside them, what Theorems 4.1 and
/// 4.2 scale BN's gradient by: σ_j, the standard deviation of channel j of y over the batch, and in the BN network
/// γ_j/σ_j (γ of the BN after the layer, σ_j with its ε), each the mean over the channels; NaN without BN.
/// </summary>
public sealed record TheoryMeasurement(int Step, int Layer, double ActivationGradient, double Curvature, double WeightGradient, double Distance, double OutputStd, double Gain);

/// <summary>At one layer's output y in one forward pass: ‖∇_y L‖₂, ĝᵀH_yĝ/‖ĝ‖² and each channel's standard deviation over the batch (and positions).</summary>
public sealed record OutputGradient(double Norm, double Curvature, double[] ChannelStd);

/// <summary>
/// Measures the §4 quantities every <c>every</c> steps on the step's batch, in training mode, at the
/// weights the step's gradient was taken at: ∇_y L and ĝᵀ H_y ĝ exactly, by double backward through the
/// rest of the network (<see cref="AlongGradient"/>); the weight gradient is the one the optimizer applies.
/// It also keeps ‖W_T − W_0‖₂ after the last step. Like the other probes it leaves the model exactly as it was.
/// </summary>
public sealed class TheoryProbe : ITrainingCallback
{
    readonly Module model;
    readonly IReadOnlyList<WeightLayer> layers;
    readonly Module[] modules;
    readonly NormLayer?[] norms;
    readonly double[][] initial;
    readonly int every;
    readonly LossKind loss;
    Batch? batch;

    /// <summary>Prepares to probe <paramref name="model"/>'s chosen layers; their current weights are W_0.</summary>
    /// <param name="model">The network to probe, before its first step.</param>
    /// <param name="layers">Weight-layer numbers (<see cref="WeightLayer"/>): y is the output of that Linear or Conv2d.</param>
    /// <param name="every">The probing interval in steps: the steps that are multiples of it.</param>
    /// <param name="loss">The training loss, which the probe differentiates on the step's batch.</param>
    public TheoryProbe(Module model, IReadOnlyList<int> layers, int every, LossKind loss)
    {
        var all = WeightLayer.Of(model);
        var byName = model.NamedModules().ToDictionary(m => m.Name, m => m.Module);
        (this.model, this.every, this.loss) = (model, every, loss);
        this.layers = layers.Select(n => all[n - 1]).ToList();
        modules = this.layers.Select(l => byName[l.Name]).ToArray();
        norms = modules.Select(m => NormAfter(model, m)).ToArray();
        initial = this.layers.Select(l => l.Weight.ToDoubleArray()).ToArray();
        Layers = this.layers.Select(l => l.Number).ToList();
    }

    // A probe read back with its run (RunArchive): its measurements only; it is never attached to a trainer again.
    TheoryProbe(IReadOnlyList<int> layers, List<TheoryMeasurement> measurements, double[]? finalDistances)
    {
        (model, this.layers, modules, norms, initial, loss) = (null!, [], [], [], [], LossKind.CrossEntropy);
        (Layers, Measurements, FinalDistances) = (layers, measurements, finalDistances);
    }

    internal static TheoryProbe Restored(IReadOnlyList<int> layers, List<TheoryMeasurement> measurements, double[]? finalDistances) =>
        new(layers, measurements, finalDistances);

    /// <summary>The weight-layer numbers probed (from 1), in the order given.</summary>
    public IReadOnlyList<int> Layers { get; }

    /// <summary>The measurements so far, in step order, one per probed layer per probed step.</summary>
    public List<TheoryMeasurement> Measurements { get; } = [];

    /// <summary>‖W_T − W_0‖₂ per layer (in <see cref="Layers"/> order) after the run's last planned step; null when it stopped before (diverged).</summary>
    public double[]? FinalDistances { get; private set; }

    /// <summary>Keeps the batch of <paramref name="step"/> when the step is a multiple of the interval, to probe on it.</summary>
    public void OnBatch(Trainer trainer, int step, Batch b) => batch = step % every == 0 ? b : null;

    /// <summary>Measures every probed layer at the weights the gradient was just taken at, before the optimizer applies it (skipped when the gradient is not finite).</summary>
    public void OnGradient(Trainer trainer, StepMetrics m)
    {
        if (batch is null || !double.IsFinite(m.GradNorm)) return;
        var along = AlongGradient(model, modules, Probes.LossOn(batch, loss));
        for (int i = 0; i < layers.Count; i++)
            Measurements.Add(new TheoryMeasurement(m.Step, layers[i].Number, along[i].Norm, along[i].Curvature,
                Probes.Norm(layers[i].Weight.Grad!.ToDoubleArray()), DistanceFromStart(i), along[i].ChannelStd.Average(), Gain(norms[i], along[i].ChannelStd)));
        batch = null;
    }

    /// <summary>The mean over channels of |γ_j| / √(σ_j² + ε) of <paramref name="norm"/>; NaN when there is none.</summary>
    static double Gain(NormLayer? norm, double[] std)
    {
        if (norm is null) return double.NaN;
        var gamma = norm.Weight?.ToDoubleArray();
        return std.Select((s, j) => Math.Abs(gamma?[j] ?? 1) / Math.Sqrt(s * s + norm.Eps)).Average();
    }

    /// <summary>The normalisation layer between <paramref name="layer"/> and the next weight layer, if any.</summary>
    static NormLayer? NormAfter(Module model, Module layer)
    {
        bool after = false;
        foreach (var (_, module) in model.NamedModules())
        {
            if (ReferenceEquals(module, layer)) after = true;
            else if (after && module is Linear or Conv2d) return null;
            else if (after && module is NormLayer norm) return norm;
        }
        return null;
    }

    /// <summary>Per channel (dimension 1), the standard deviation over the batch and the positions (biased, as BN normalises).</summary>
    static double[] ChannelStd(Tensor y)
    {
        var values = y.ToDoubleArray();
        int channels = y.Size(1), positions = y.Length / (y.Size(0) * channels);
        var std = new double[channels];
        for (int c = 0; c < channels; c++)
        {
            double sum = 0, squares = 0;
            int count = 0;
            for (int n = 0; n < y.Size(0); n++)
                for (int p = 0, start = (n * channels + c) * positions; p < positions; p++, count++)
                {
                    double v = values[start + p];
                    (sum, squares) = (sum + v, squares + v * v);
                }
            double mean = sum / count;
            std[c] = Math.Sqrt(Math.Max(0, squares / count - mean * mean));
        }
        return std;
    }

    /// <summary>After the run's last planned step, records <see cref="FinalDistances"/>.</summary>
    public void OnStep(Trainer trainer, StepMetrics m)
    {
        if (m.Step == trainer.Config.Steps - 1) FinalDistances = Enumerable.Range(0, layers.Count).Select(DistanceFromStart).ToArray();
    }

    double DistanceFromStart(int i) => Probes.Distance(layers[i].Weight.ToDoubleArray(), initial[i]);

    /// <summary>
    /// For each of <paramref name="layers"/>, with y its output in one forward pass of <paramref name="loss"/>
    /// and ĝ = ∇_y L: ‖ĝ‖₂ and ĝᵀ H_y ĝ / ‖ĝ‖², where H_y ĝ = ∇_y ⟨∇_y L, ĝ⟩ with ĝ held fixed (double
    /// backward; everything after y, batch statistics included, stays a function of y). Parameters, buffers
    /// and gradients are restored afterwards.
    /// </summary>
    public static OutputGradient[] AlongGradient(Module model, IReadOnlyList<Module> layers, Func<Module, Tensor> loss)
    {
        var outputs = new Tensor[layers.Count];
        var saved = ModelState.Capture(model);
        var hooks = layers.Select((layer, i) => layer.RegisterForwardHook((_, _, y) =>
        {
            outputs[i] = y;
            return null;
        })).ToList();
        try
        {
            using (Autograd.EnableGrad())
            {
                var value = loss(model);
                return outputs.Select(y =>
                {
                    var g = Autograd.Grad(value, [y], createGraph: true)[0];
                    var fixedG = g.Detach();
                    var hg = Autograd.Grad((g * fixedG).Sum(), [y])[0].ToDoubleArray();
                    var gv = fixedG.ToDoubleArray();
                    double norm = Probes.Norm(gv);
                    return new OutputGradient(norm, Probes.Dot(gv, hg) / (norm * norm), ChannelStd(y));
                }).ToArray();
            }
        }
        finally
        {
            foreach (var hook in hooks) hook.Dispose();
            saved.Restore();
        }
    }
}

/// <summary>
/// Santurkar et al. 2018, §4: the four quantities its theorems bound, measured during training of the Fig. 4
/// networks (VGG at LR 0.1 with and without BN, the same runs as ics and landscape) over the context's seeds.
/// </summary>
public sealed class Theory : Experiment
{
    /// <inheritdoc/>
    public override string Name => "theory";
    /// <inheritdoc/>
    public override string Figure => "Santurkar et al. 2018, §4 (Theorems 4.1, 4.2, 4.4, Lemma 4.5)";
    /// <inheritdoc/>
    public override string Source => "Santurkar et al. 2018 §4: Theorem 4.1 (‖∇_y L‖), Theorem 4.2 (ĝᵀH_yĝ), Theorem 4.4 (weight gradient), Lemma 4.5 (distance from the initialisation); seed 000 lists the four statements. " +
                                     "The paper proves them as bounds for one layer; measuring them during training of the Fig. 4 networks is this project's extension, and (4) measures the distance training travels, ‖W_T − W_0‖, where Lemma 4.5 bounds the distance from W_0 to the nearest optimum.";
    /// <inheritdoc/>
    public override string Claim => "With BatchNorm, at a layer whose output (before normalisation) is y: (1) the gradient of the loss with respect to y, ‖∇_y L‖, is smaller; (2) the second-order term along it, ĝᵀ H_y ĝ / ‖ĝ‖² with ĝ = ∇_y L, is smaller in magnitude (the loss is smoother in the activations); " +
                                    "(3) the gradient with respect to the layer's weights is smaller; (4) the weights end closer to their initial values, ‖W_T − W_0‖ smaller.";

    /// <summary>"Smaller": BN's value below the standard network's by more than a factor 1.25 (within it counts as not reduced in <see cref="Ics"/>).</summary>
    public static readonly Rule Smaller = Rule.Factor(Claimed.Less, 1.25);

    /// <summary>The layers measured: those of <see cref="Ics"/>, the paper's #5 and #10 of 13 scaled to this VGG.</summary>
    public static int[] Layers(Module model) => Ics.DeepVggLayers(model);

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"VGG: {Presets.Describe(preset, dataset)}, LR 0.1, with and without BN (the runs of ics and landscape). Every {ProbedRuns.Every(preset, ProbedNetwork.Vgg)} steps, on that step's batch in training mode, " +
         "at the conv layers of the same relative depth as the paper's #5 and #10 of 13, with y the conv's output (before BN in the BN network, before ReLU in the standard one) and ĝ = ∇_y L: " +
         "(1) ‖ĝ‖₂; (2) |ĝᵀ H_y ĝ| / ‖ĝ‖², H_y ĝ computed exactly by double backward through the rest of the network; (3) ‖∇_W L‖₂ of the conv's weights (the gradient the optimizer applies); (4) ‖W_T − W_0‖₂ of those weights after the last step. " +
         "Per seed: (1)–(3) the mean over the probes per layer, (4) its final value per layer, then the geometric mean over the layers. " +
         $"Each of the four: {Smaller.Describe("value(BN)", "value(standard)")}. Precondition: both networks train (test accuracy 10 points above chance). " +
         "Reported beside them: σ_j, the standard deviation of channel j of y over the batch, and in the BN network γ_j/σ_j, the factor by which Theorems 4.1 and 4.2 scale the gradient at the BN's output " +
         "(‖∇_y L̂‖² ≤ (γ²/σ_j²)(‖∇_z L‖² − …) with z the BN's output): the bounds shrink the gradient only where γ_j/σ_j < 1, which the paper expects from large σ_j.",
         Presets.Deviations(preset, dataset) + " The paper's §4 has no experiment: the layers, the probe schedule, the magnitude of (2) (seed 000: \"二阶导幅值\", the size of the second derivative; the sign is in the raw file) and the factor 1.25 are ours.");

    static readonly (string Name, string Unit, Func<TheoryMeasurement, double> Value)[] Measures =
    [
        ("‖∇_y L‖", "gradient with respect to the layer's output", x => x.ActivationGradient),
        ("|ĝᵀH_yĝ|/‖ĝ‖²", "second-order term along ∇_y L (magnitude)", x => Math.Abs(x.Curvature)),
        ("‖∇_W L‖", "gradient with respect to the layer's weights", x => x.WeightGradient),
        ("‖W_t − W_0‖", "distance from the initial weights", x => x.Distance),
    ];

    static TheoryProbe Probed(TrainedRun run) => run.Probe<TheoryProbe>();

    /// <summary>A run's judged values, in <see cref="Measures"/> order: (1)–(3) over the probes, (4) after the last step, each the geometric mean over the layers.</summary>
    public static double[] Judged(TrainedRun run)
    {
        var probe = Probed(run);
        return
        [
            .. Measures.Take(3).Select(m => ProbedRuns.OverLayers(probe.Measurements, x => x.Layer, m.Value)),
            probe.FinalDistances is { } final ? ProbedRuns.OverLayers(final.Index(), x => x.Index, x => x.Item) : double.NaN,
        ];
    }

    /// <summary>The key of a judged measure (e.g. "‖∇_y L‖") of the runs <paramref name="run"/> (e.g. "VGG BN"), mean over seeds: "VGG BN: ‖∇_y L‖ (mean over seeds)".</summary>
    public static ResultKey MeanKey(string run, string measure) => new(run, $"{measure} (mean over seeds)");

    /// <summary>The key of the factor γ_j/σ_j of Theorems 4.1 and 4.2 in the BN runs <paramref name="run"/>, mean over probes, channels, layers and seeds: "VGG BN: γ_j/σ_j (mean)".</summary>
    public static ResultKey GainKey(string run) => new(run, "γ_j/σ_j (mean)");

    /// <summary>The key of the standard deviation σ_j of a layer's output y in the runs <paramref name="run"/>, mean over probes, channels, layers and seeds: "VGG standard: σ_j of y (mean)".</summary>
    public static ResultKey OutputStdKey(string run) => new(run, "σ_j of y (mean)");

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var numbers = new Dictionary<ResultKey, double>();
        var rows = new List<IReadOnlyList<string>>();
        var groups = ((Norm[])[Norm.BatchNorm, Norm.None]).Select(norm => ProbedRuns.Train(context, Name, ProbedNetwork.Vgg, norm)).ToList();
        var values = groups.Select(g => Enumerable.Range(0, Measures.Length).Select(i => g.Values(r => Judged(r)[i]) with { Label = $"{Measures[i].Name}, {g.Label}" }).ToArray()).ToList();
        // (4) starts at 0, so it is drawn on a linear axis; the others are positive and span decades between the networks.
        var figures = Measures.Select((m, i) => new FigureData($"{m.Name}: {m.Unit}", $"{m.Name} at each probe, per layer; mean over seeds, the band spans the seeds.", "step", m.Name,
            groups.SelectMany(g => Probed(g.Runs[0]).Layers.Select(layer => new SeededRuns($"{g.Label}, layer #{layer}", g.Runs).Mean(r =>
            {
                var at = Probed(r).Measurements.Where(x => x.Layer == layer).ToList();
                return new Series(r.Label, at.Select(x => (double)x.Step).ToArray(), at.Select(m.Value).ToArray()) { DivergedAt = r.Outcome.DivergedAtStep };
            }))).ToList(), LogY: i < 3)).ToList();

        var lines = new List<string> { "network,seed,step,layer,activation_gradient,curvature,weight_gradient,distance_from_start,output_std,gamma_over_sigma" };
        var finalLines = new List<string> { "network,seed,layer,final_distance_from_start" };
        foreach (var (g, v) in groups.Zip(values))
        {
            string network = g.Runs[0].Config.Model.Options.Norm == Norm.BatchNorm ? "bn" : "standard";
            foreach (var run in g.Runs)
            {
                var probe = Probed(run);
                lines.AddRange(probe.Measurements.Select(x => string.Create(CultureInfo.InvariantCulture,
                    $"{network},{run.Config.Seed},{x.Step},{x.Layer},{x.ActivationGradient:R},{x.Curvature:R},{x.WeightGradient:R},{x.Distance:R},{x.OutputStd:R},{x.Gain:R}")));
                finalLines.AddRange(probe.Layers.Select((layer, i) => string.Create(CultureInfo.InvariantCulture,
                    $"{network},{run.Config.Seed},{layer},{(probe.FinalDistances is { } f ? f[i] : double.NaN):R}")));
                foreach (var (layer, i) in probe.Layers.Select((layer, i) => (layer, i)))
                {
                    var at = probe.Measurements.Where(x => x.Layer == layer).ToList();
                    rows.Add([run.Label, $"#{layer}", at.Count.ToString(CultureInfo.InvariantCulture), .. Measures.Take(3).Select(m => G(at.Average(m.Value))),
                        at.Count(x => x.Curvature < 0).ToString(CultureInfo.InvariantCulture), G(probe.FinalDistances?[i] ?? double.NaN), G(at.Average(x => x.OutputStd)), G(at.Average(x => x.Gain))]);
                }
            }
            for (int i = 0; i < Measures.Length; i++) numbers[MeanKey(g.Label, Measures[i].Name)] = v[i].Values.Average();
        }
        var files = new List<string> { WriteCsv(context, "theory.csv", lines), WriteCsv(context, "theory-final.csv", finalLines) };
        var table = new TableData("Per run and layer: means over the probes, and the final distance from the initial weights",
            ["run", "layer", "probes", "mean ‖∇_y L‖", "mean |ĝᵀH_yĝ|/‖ĝ‖²", "mean ‖∇_W L‖", "probes with ĝᵀH_yĝ < 0", "‖W_T − W_0‖", "mean σ_j of y", "mean γ_j/σ_j"], rows);
        double MeanOf(SeededRuns g, Func<TheoryMeasurement, double> value) => g.Runs.SelectMany(r => Probed(r).Measurements).Select(value).DefaultIfEmpty(double.NaN).Average();
        var (gain, stdBn, stdStandard) = (MeanOf(groups[0], x => x.Gain), MeanOf(groups[0], x => x.OutputStd), MeanOf(groups[1], x => x.OutputStd));
        numbers[GainKey(groups[0].Label)] = gain;
        numbers[OutputStdKey(groups[0].Label)] = stdBn;
        numbers[OutputStdKey(groups[1].Label)] = stdStandard;
        string note = $"The factor γ_j/σ_j of Theorems 4.1 and 4.2 in the BN network, mean over probes, channels, layers and seeds: {G(gain)} (σ_j of y: {G(stdBn)} with BN, {G(stdStandard)} without)";
        var verdict = Judge(groups[0].TestAccuracyPerSeed, groups[1].TestAccuracyPerSeed,
            new BnVsStandard(values[0][0], values[1][0]), new BnVsStandard(values[0][1], values[1][1]),
            new BnVsStandard(values[0][2], values[1][2]), new BnVsStandard(values[0][3], values[1][3]), note);
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict, figures, [table], numbers, files, clock.Elapsed.TotalSeconds);
    }

    static string G(double v) => RunFigures.Cell(v, "G4");

    /// <summary>Both networks train (preconditions); each of the four quantities with BN below the standard network's by more than a factor 1.25.</summary>
    public static Verdict Judge(SeedValues accuracyBn, SeedValues accuracyStandard, BnVsStandard activationGradient, BnVsStandard curvature, BnVsStandard weightGradient, BnVsStandard distance, string? note = null) => Verdict.Of(
    [
        SeededRuns.Trains(accuracyBn),
        SeededRuns.Trains(accuracyStandard),
        Smaller.Judge("(1) the gradient with respect to the layer's output, ‖∇_y L‖, is smaller with BN", activationGradient.Bn, activationGradient.Standard),
        Smaller.Judge("(2) the second-order term along it, |ĝᵀH_yĝ|/‖ĝ‖², is smaller with BN", curvature.Bn, curvature.Standard),
        Smaller.Judge("(3) the gradient with respect to the layer's weights is smaller with BN", weightGradient.Bn, weightGradient.Standard),
        Smaller.Judge("(4) the weights end closer to their initial values, ‖W_T − W_0‖, with BN", distance.Bn, distance.Standard),
    ], note);
}
