namespace BatchNormLab.Experiments;

/// <summary>One ICS measurement (Santurkar et al., Definition 2.1) of one layer at one step.</summary>
public sealed record IcsMeasurement(int Step, int Layer, double Distance, double Cosine, double GradientNorm)
{
    /// <summary>‖G − G′‖₂ / ‖G‖₂: the shift relative to the gradient's own size.</summary>
    public double RelativeDistance => Distance / GradientNorm;
}

/// <summary>
/// Measures internal covariate shift in the optimisation sense (Definition 2.1): at step t, on the
/// batch of that step, G = ∇_{W_i} L(W₁ᵗ, …, W_kᵗ) is the gradient the optimizer uses, and
/// G′ = ∇_{W_i} L(W₁ᵗ⁺¹, …, W_{i−1}ᵗ⁺¹, W_iᵗ, …, W_kᵗ) the gradient after only the parameters before
/// layer i took this step's update (the real update, momentum included). It records ‖G − G′‖₂ and
/// cos(G, G′) (and ‖G‖₂). The extra evaluations restore the model exactly (running statistics included), so the
/// training trajectory is the one an unmeasured run takes.
/// </summary>
public sealed class IcsProbe(Module model, IReadOnlyList<int> layers, int every, LossKind loss) : ITrainingCallback
{
    /// <summary>The weight-layer numbers measured (from 1, counting linear and conv layers in forward order).</summary>
    public IReadOnlyList<int> Layers => layers;

    IReadOnlyList<WeightLayer>? weights;
    Batch? batch;
    double[]? before, gradient;

    /// <summary>The measurements so far, in step order, one per measured layer per measured step.</summary>
    public List<IcsMeasurement> Measurements { get; private init; } = [];

    // A probe read back with its run (RunArchive): its measurements only; it is never attached to a trainer again.
    internal static IcsProbe Restored(IReadOnlyList<int> layers, List<IcsMeasurement> measurements) =>
        new(null!, layers, 1, LossKind.CrossEntropy) { Measurements = measurements };

    /// <summary>Keeps the batch of <paramref name="step"/> when the step is a multiple of the interval, to measure on it.</summary>
    public void OnBatch(Trainer trainer, int step, Batch b) => batch = step % every == 0 ? b : null;

    /// <summary>Saves the weights Wᵗ and the gradient G the optimizer is about to apply (skipped when the gradient is not finite).</summary>
    public void OnGradient(Trainer trainer, StepMetrics m)
    {
        if (batch is null || !double.IsFinite(m.GradNorm)) return;
        before = Probes.Weights(model);
        gradient = Probes.Gradients(model);
    }

    /// <summary>After the update: per measured layer, G′ at the mixed weights and the distance and cosine between G and G′.</summary>
    public void OnStep(Trainer trainer, StepMetrics m)
    {
        if (batch is null || before is null || gradient is null) return;
        var after = Probes.Weights(model);
        foreach (int number in layers)
        {
            var layer = (weights ??= WeightLayer.Of(model))[number - 1];
            // Parameters before layer i at Wᵗ⁺¹, layer i and after at Wᵗ.
            var mixed = (double[])before.Clone();
            Array.Copy(after, mixed, layer.Offset);
            var (_, shifted) = ParameterVector.LossAndGradientAt(model, Tensor.FromArray(mixed, mixed.Length), Probes.LossOn(batch, loss));
            var g = Probes.Slice(gradient, layer);
            var gPrime = Probes.Slice(shifted.ToDoubleArray(), layer);
            Measurements.Add(new IcsMeasurement(m.Step, number, Probes.Distance(g, gPrime), Probes.Cosine(g, gPrime), Probes.Norm(g)));
        }
        (before, gradient, batch) = (null, null, null);
    }
}

/// <summary>
/// Santurkar et al. 2018, Fig. 3: ICS per layer over training for VGG (LR 0.1) and the 25-layer deep linear
/// network (at a tenth of its training LR, as the paper), each with and without BN, over the context's seeds.
/// The claim: BN does not reduce this ICS; on the DLN it even increases it.
/// </summary>
public sealed class Ics : Experiment
{
    /// <inheritdoc/>
    public override string Name => "ics";
    /// <inheritdoc/>
    public override string Figure => "Santurkar et al. 2018, Fig. 3";
    /// <inheritdoc/>
    public override string Source => "Santurkar et al. 2018 §2.2, Definition 2.1, Fig. 3; seed 000 and seed 002 (BN does not reduce ICS; on the DLN it even increases it)";
    /// <inheritdoc/>
    public override string Claim => "BatchNorm does not reduce internal covariate shift measured as the change of a layer's gradient when the layers before it update (‖G−G′‖₂, cos(G, G′)); on the deep linear network it even increases it.";

    /// <summary>"Does not reduce": BN's 1 − cos(G, G′) not below the standard network's by more than a factor 1.25 (the factor that "smaller" needs in <see cref="Theory"/>).</summary>
    public static readonly Rule NotReduced = Rule.Factor(Claimed.NotLess, 1.25);

    /// <summary>"Increases": BN's 1 − cos(G, G′) above the standard network's by more than a factor 1.25.</summary>
    public static readonly Rule Increases = Rule.Factor(Claimed.Greater, 1.25);

    /// <summary>Layer 1 (a check: nothing moves before it, so its ICS is 0) and the paper's #5 and #10 of VGG-16's 13 convs, scaled to this model's convs (all weight layers but the head).</summary>
    public static int[] VggLayers(Module model) => [1, .. DeepVggLayers(model)];

    /// <summary>The paper's #5 and #10 of VGG-16's 13 convs, scaled to this model's convs.</summary>
    public static int[] DeepVggLayers(Module model) => WeightLayer.Scaled([5, 10], 13, WeightLayer.Of(model).Count - 1);

    /// <summary>Layer 1 (the check) and the paper's #9 and #17 of the DLN's 25.</summary>
    public static readonly int[] DlnLayers = [1, 9, 17];

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"VGG: {Presets.Describe(preset, dataset)}, LR 0.1, ICS every {ProbedRuns.Every(preset, ProbedNetwork.Vgg)} steps at the conv layers of the same relative depth as the paper's #5 and #10 of 13. " +
         $"DLN: {Presets.DescribeDln(preset)}, except that it trains at a tenth of that LR ({RunFigures.F(ProbedRuns.IcsDln(preset, Norm.None, 0).LearningRate)}), as Fig. 3 does; ICS every {ProbedRuns.Every(preset, ProbedNetwork.IcsDln)} steps at layers 9 and 17. " +
         "Layer 1 is measured too, as a check (its ICS is 0 by definition). " +
         "Judged on 1 − cos(G, G′), per seed the geometric mean over the deep layers of its mean over training: " +
         $"VGG, BN does not reduce ICS: {NotReduced.Describe("ICS(BN)", "ICS(standard)")}. DLN, BN increases ICS: {Increases.Describe("ICS(BN)", "ICS(standard)")}. " +
         "Precondition: both VGG networks train (test accuracy 10 points above chance). " +
         "‖G − G′‖₂ is reported, as the paper plots it, but not judged: it scales with the gradient, and BN rescales the gradient (by γ/σ of the layers after it, and by 1/‖W‖ of the weights it normalises), so a difference of ‖G − G′‖₂ between the networks mixes their gradients' sizes with their shift; 1 − cos does not depend on that scale. ‖G − G′‖₂ / ‖G‖₂ is reported beside it.",
         Presets.Deviations(preset, dataset) + " " + Presets.DlnDeviations + " \"Does not reduce\" and \"increases\" are not quantified in the paper: the factor 1.25 is ours.");

    static readonly (string Name, ProbedNetwork Network)[] Networks = [("VGG", ProbedNetwork.Vgg), ("DLN", ProbedNetwork.IcsDln)];

    /// <summary>The label of weight layer <paramref name="layer"/> of the runs <paramref name="run"/> (e.g. "VGG BN"), the subject of its numbers: "VGG BN, layer #2".</summary>
    static string Layer(string run, int layer) => $"{run}, layer #{layer}";

    /// <summary>The key of layer <paramref name="layer"/>'s ‖G − G′‖₂ of the runs <paramref name="run"/> (e.g. "DLN standard"), mean over training and seeds: "DLN standard, layer #9: mean ‖G−G′‖".</summary>
    public static ResultKey DistanceKey(string run, int layer) => new(Layer(run, layer), "mean ‖G−G′‖");

    /// <summary>The key of layer <paramref name="layer"/>'s ‖G − G′‖₂/‖G‖₂ of the runs <paramref name="run"/>, mean over training and seeds: "DLN standard, layer #9: mean ‖G−G′‖/‖G‖".</summary>
    public static ResultKey RelativeDistanceKey(string run, int layer) => new(Layer(run, layer), "mean ‖G−G′‖/‖G‖");

    /// <summary>The key of layer <paramref name="layer"/>'s cos(G, G′) of the runs <paramref name="run"/>, mean over training and seeds: "DLN standard, layer #9: mean cos(G,G′)".</summary>
    public static ResultKey CosineKey(string run, int layer) => new(Layer(run, layer), "mean cos(G,G′)");

    /// <summary>The key of the judged shift 1 − cos of the runs <paramref name="run"/>, mean over seeds: "DLN standard: judged 1−cos (mean over seeds)".</summary>
    public static ResultKey JudgedKey(string run) => new(run, "judged 1−cos (mean over seeds)");

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var figures = new List<FigureData>();
        var tables = new List<TableData>();
        var numbers = new Dictionary<ResultKey, double>();
        var files = new List<string>();
        var judged = new Dictionary<(ProbedNetwork, Norm), SeedValues>();
        var accuracy = new Dictionary<Norm, SeedValues>();
        // Every network's runs are asked for before any is used, so a plan finds them all (Experiment.Discover).
        var trained = Networks.SelectMany(n => (Norm[])[Norm.BatchNorm, Norm.None], (n, norm) => (n.Network, norm))
            .ToDictionary(k => k, k => ProbedRuns.Train(context, Name, k.Network, k.norm));
        foreach (var (net, network) in Networks)
        {
            var rows = new List<IReadOnlyList<string>>();
            var (distanceSeries, cosineSeries) = (new List<Series>(), new List<Series>());
            foreach (var norm in (Norm[])[Norm.BatchNorm, Norm.None])
            {
                var group = trained[(network, norm)];
                if (network == ProbedNetwork.Vgg) accuracy[norm] = group.TestAccuracyPerSeed;
                judged[(network, norm)] = group.Values(Shift) with { Label = $"1−cos, {group.Label}" };
                files.Add(WriteCsv(context, TrainedRun.FileName(group.Label) + ".ics.csv", group.Runs.SelectMany(r => r.Probe<IcsProbe>().Measurements.Select(x =>
                    string.Create(CultureInfo.InvariantCulture, $"{r.Config.Seed},{x.Step},{x.Layer},{x.Distance:R},{x.Cosine:R},{x.GradientNorm:R}")))
                    .Prepend("seed,step,layer,l2_difference,cosine,gradient_norm")));
                foreach (int layer in group.Runs[0].Probe<IcsProbe>().Layers)
                {
                    List<IcsMeasurement> At(TrainedRun r) => r.Probe<IcsProbe>().Measurements.Where(x => x.Layer == layer).ToList();
                    double MeanOverTraining(TrainedRun r, Func<IcsMeasurement, double> value) => At(r).Select(value).DefaultIfEmpty(double.NaN).Average();
                    double MeanOverSeeds(Func<IcsMeasurement, double> value) => group.Runs.Average(r => MeanOverTraining(r, value));
                    string name = Layer(group.Label, layer);
                    Series Curve(TrainedRun r, Func<IcsMeasurement, double> value) => new(name, At(r).Select(x => (double)x.Step).ToArray(), At(r).Select(value).ToArray());
                    var layerRuns = new SeededRuns(name, group.Runs);
                    if (layer != 1)
                    {
                        distanceSeries.Add(layerRuns.Mean(r => Curve(r, x => x.Distance)));
                        cosineSeries.Add(layerRuns.Mean(r => Curve(r, x => x.Cosine)));
                    }
                    var (distance, relative, cosine) = (MeanOverSeeds(x => x.Distance), MeanOverSeeds(x => x.RelativeDistance), MeanOverSeeds(x => x.Cosine));
                    numbers[DistanceKey(group.Label, layer)] = distance;
                    numbers[RelativeDistanceKey(group.Label, layer)] = relative;
                    numbers[CosineKey(group.Label, layer)] = cosine;
                    rows.Add([group.Label, $"#{layer}", string.Join(", ", group.Runs.Select(r => At(r).Count)), G(distance), G(relative), cosine.ToString("F4", CultureInfo.InvariantCulture),
                        string.Join(", ", group.Runs.Select(r => G(MeanOverTraining(r, x => 1 - x.Cosine))))]);
                }
                numbers[JudgedKey(group.Label)] = judged[(network, norm)].Values.Average();
            }
            figures.Add(new FigureData($"{net}: ‖G − G′‖₂", "ℓ2 change of a layer's gradient when the layers before it take their update (0 = no shift); mean over seeds, the band spans the seeds.", "step", "‖G − G′‖₂",
                distanceSeries, LogY: true));
            figures.Add(new FigureData($"{net}: cos(G, G′)", "Cosine between the gradient and the shifted gradient (1 = no shift); mean over seeds, the band spans the seeds.", "step", "cos(G, G′)", cosineSeries));
            tables.Add(new TableData($"{net}: ICS per layer (means over training, then over seeds; layer #1 is 0 by definition)",
                ["run", "layer", "probes per seed", "mean ‖G−G′‖₂", "mean ‖G−G′‖₂/‖G‖₂", "mean cos(G,G′)", "1 − cos per seed"], rows));
        }
        var verdict = Judge(accuracy[Norm.BatchNorm], accuracy[Norm.None],
            new BnVsStandard(judged[(ProbedNetwork.Vgg, Norm.BatchNorm)], judged[(ProbedNetwork.Vgg, Norm.None)]),
            new BnVsStandard(judged[(ProbedNetwork.IcsDln, Norm.BatchNorm)], judged[(ProbedNetwork.IcsDln, Norm.None)]));
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict, figures, tables, numbers, files, clock.Elapsed.TotalSeconds);
    }

    /// <summary>A run's ICS as judged: 1 − cos(G, G′), its mean over training per layer, the geometric mean over the layers after #1.</summary>
    public static double Shift(TrainedRun run) =>
        ProbedRuns.OverLayers(run.Probe<IcsProbe>().Measurements.Where(x => x.Layer != 1), x => x.Layer, x => 1 - x.Cosine);

    static string G(double v) => RunFigures.Cell(v, "G4");

    /// <summary>
    /// Both VGG networks train (preconditions); on VGG, BN's ICS (1 − cos) not below the standard network's by more than
    /// a factor 1.25; on the DLN, above it by more than that factor.
    /// </summary>
    public static Verdict Judge(SeedValues vggAccuracyBn, SeedValues vggAccuracyStandard, BnVsStandard vgg, BnVsStandard dln) => Verdict.Of(
    [
        SeededRuns.Trains(vggAccuracyBn),
        SeededRuns.Trains(vggAccuracyStandard),
        NotReduced.Judge("VGG: BN does not reduce ICS (1 − cos(G, G′))", vgg.Bn, vgg.Standard),
        Increases.Judge("DLN: BN increases ICS (1 − cos(G, G′))", dln.Bn, dln.Standard),
    ]);
}
