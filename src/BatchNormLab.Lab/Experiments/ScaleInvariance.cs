namespace BatchNormLab.Experiments;

/// <summary>
/// Seed 001's scale invariance of BN (Ioffe and Szegedy 2015 §3.3): BN(a·W·u) = BN(W·u), the gradient
/// with respect to the layer's input unchanged, the gradient with respect to the weights ×1/a. Checked
/// on the trained BN VGG of the shared runs, and followed into training: the invariance makes the
/// gradient orthogonal to W, so plain SGD can only grow ‖W‖, and the step on W's direction, η/‖W‖²,
/// shrinks (this project's extension).
/// </summary>
public sealed class ScaleInvariance : Experiment
{
    /// <inheritdoc/>
    public override string Name => "scale-invariance";
    /// <inheritdoc/>
    public override string Figure => "Ioffe & Szegedy 2015, §3.3 (no figure)";
    /// <inheritdoc/>
    public override string Source =>
        "Seed 001 (001_7a16e6217a95b5e5.txt, \"Batch Normalization enables higher learning rates\": BN(Wu) = BN((aW)u); ∂BN((aW)u)/∂u = ∂BN(Wu)/∂u; " +
        "∂BN((aW)u)/∂(aW) = (1/a)·∂BN(Wu)/∂W, so larger weights get smaller gradients; with BN, backpropagation is not affected by the parameters' scale, which allows larger learning rates), " +
        "after Ioffe & Szegedy 2015 §3.3 and its PyTorch semantics. This project's extension, derived from the identity and not stated by the seed: the gradient is orthogonal to W, " +
        "so plain SGD only grows ‖W‖ and the effective learning rate on W's direction, η/‖W‖², falls during training.";
    /// <inheritdoc/>
    public override string Claim =>
        "Scaling the weights W of a layer that feeds a BN by a > 0 leaves the network's outputs and loss unchanged (BN(aWu) = BN(Wu)), leaves the gradient with respect to the layer's input, " +
        "and so every other parameter's gradient, unchanged, and scales the weights' gradient by 1/a: larger weights get smaller gradients. " +
        "Extension (this project's): the weights' gradient is therefore orthogonal to W, and during training with plain SGD ‖W‖ grows, so the effective step on W's direction, η/‖W‖², falls.";

    /// <summary>The scale factors a of the check.</summary>
    public static readonly IReadOnlyList<double> Scales = [0.1, 10];

    /// <summary>BN's ε in every network here (PyTorch's); scaling by a is exactly dividing it by a².</summary>
    public const double Eps = 1e-5;

    /// <summary>
    /// Outputs and loss, scaled network against the reference, relative: float32 rounds to 6e-8, and the
    /// two networks differ only by rounding through a few sums of up to thousands of terms per layer.
    /// </summary>
    public const double ForwardTolerance = 1e-4;

    /// <summary>Gradients, relative in norm: backpropagation through BN subtracts nearly equal terms, so rounding weighs ten times more than forward.</summary>
    public const double GradientTolerance = 1e-3;

    /// <summary>|cos(W, ∇_W L)| of every BN-fed layer: zero up to rounding and ε/σ² (below 1e-3 for channel variances above 1e-2).</summary>
    public const double OrthogonalityTolerance = 1e-2;

    /// <summary>"η/‖W‖² falls": the effective learning rate at the end of training at least 1.25× lower than at initialisation (geometric mean over the BN-fed layers).</summary>
    public static readonly Rule EffectiveRateFalls = Rule.Factor(Claimed.Less, 1.25);

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; the shared runs at LR 0.1, with and without BN. " +
         $"(a) At the trained weights, on the first {Presets.Vgg(preset, Norm.BatchNorm, 0.1, 0, dataset).BatchSize} training examples in training mode (batch statistics): the weights of every layer that feeds a BN scaled by a ∈ {{{string.Join(", ", Scales.Select(F))}}}. " +
         $"BN computes √(σ² + ε) with ε = {F(Eps)}, so BN_ε(aWu) = BN_(ε/a²)(Wu) exactly: the scaled network is compared with the unscaled one whose BN ε is ε/a², which isolates the invariance from ε. " +
         $"Checks (max over seeds): outputs (max |Δ logit| / max |logit|) and loss within {F(ForwardTolerance)} relative; ‖a·∇_(aW) − ∇_W‖/‖∇_W‖ of the scaled layers and the relative change of every other parameter's gradient within {F(GradientTolerance)}; " +
         $"|cos(W, ∇_W L)| of every BN-fed layer within {F(OrthogonalityTolerance)}. Reported beside them: the changes with ε kept (what BN computes) and the same scaling in the standard network. " +
         $"(b) ‖W‖ of every BN-fed layer at initialisation, at the runs' snapshot steps and at the end; per seed, the effective learning rate ratio η_eff(T)/η_eff(0) = (‖W_0‖/‖W_T‖)², geometric mean over the layers; rule: {EffectiveRateFalls.Describe("η_eff(T)", "η_eff(0)")}. " +
         "Precondition: BN trains (test accuracy above chance by 10 points).",
         Presets.Deviations(preset, dataset) + " The seed states the identity for BN without ε; ours is checked against the network with ε/a², and ε's own effect is reported.");

    static string F(double v) => RunFigures.F(v);

    /// <summary>One scale factor's check: the largest relative deviation over seeds of the scaled network from the ε/a² reference.</summary>
    public sealed record InvarianceCheck(double Scale, double Outputs, double Loss, double ScaledGradient, double OtherGradients);

    /// <summary>One network's outputs, loss and per-parameter gradients on a batch, in training mode.</summary>
    sealed record Evaluation(double[] Outputs, double Loss, double[][] Gradients);

    /// <summary>One seed's measures at one scale factor (all relative).</summary>
    sealed record SeedCheck(ulong Seed, double Scale, double Outputs, double Loss, double ScaledGradient, double OtherGradients,
        double LossChangeEpsKept, double GradientLawEpsKept, double StandardLossChange);

    /// <summary>The subject of the numbers of the scale factor <paramref name="scale"/>: "a = 10".</summary>
    static string Scaled(double scale) => $"a = {F(scale)}";

    /// <summary>The key of the outputs' relative deviation from the ε/a² network when the BN-fed weights are scaled by <paramref name="scale"/>, max over seeds: "a = 10: outputs, relative deviation from the ε/a² network (max over seeds)".</summary>
    public static ResultKey OutputsKey(double scale) => new(Scaled(scale), "outputs, relative deviation from the ε/a² network (max over seeds)");

    /// <summary>The key of the loss's relative deviation from the ε/a² network at scale <paramref name="scale"/>, max over seeds: "a = 10: loss, relative deviation from the ε/a² network (max over seeds)".</summary>
    public static ResultKey LossKey(double scale) => new(Scaled(scale), "loss, relative deviation from the ε/a² network (max over seeds)");

    /// <summary>The key of the scaled layers' gradient × a, relative deviation from the unscaled gradient at scale <paramref name="scale"/>, max over seeds: "a = 10: scaled layers' gradient × a, relative deviation (max over seeds)".</summary>
    public static ResultKey ScaledGradientKey(double scale) => new(Scaled(scale), "scaled layers' gradient × a, relative deviation (max over seeds)");

    /// <summary>The key of the other parameters' gradients' relative deviation at scale <paramref name="scale"/>, max over seeds: "a = 10: other parameters' gradients, relative deviation (max over seeds)".</summary>
    public static ResultKey OtherGradientsKey(double scale) => new(Scaled(scale), "other parameters' gradients, relative deviation (max over seeds)");

    /// <summary>The key of the loss change at scale <paramref name="scale"/> with ε kept as it is, max over seeds: "a = 10: loss change with ε kept (max over seeds)".</summary>
    public static ResultKey LossChangeEpsKeptKey(double scale) => new(Scaled(scale), "loss change with ε kept (max over seeds)");

    /// <summary>The key of the scaled layers' gradient × a with ε kept, relative deviation at scale <paramref name="scale"/>, max over seeds: "a = 10: scaled layers' gradient × a with ε kept, relative deviation (max over seeds)".</summary>
    public static ResultKey ScaledGradientEpsKeptKey(double scale) => new(Scaled(scale), "scaled layers' gradient × a with ε kept, relative deviation (max over seeds)");

    /// <summary>The key of the standard network's loss change when the same layers are scaled by <paramref name="scale"/>, min over seeds: "a = 10: standard network's loss change (min over seeds)".</summary>
    public static ResultKey StandardLossChangeKey(double scale) => new(Scaled(scale), "standard network's loss change (min over seeds)");

    /// <summary>The key of the largest |cos(W, ∇W)| over the BN-fed layers and seeds: "BN: max |cos(W, ∇W)| over BN-fed layers and seeds".</summary>
    public static ResultKey OrthogonalityKey => new("BN", "max |cos(W, ∇W)| over BN-fed layers and seeds");

    /// <summary>The key of the standard network's median |cos(W, ∇W)| over the same layers and seeds: "standard: median |cos(W, ∇W)| over the same layers and seeds".</summary>
    public static ResultKey StandardCosineKey => new("standard", "median |cos(W, ∇W)| over the same layers and seeds");

    /// <summary>The key of the BN network's effective learning rate at the end over that at the start, geometric mean over layers, mean over seeds: "BN: η_eff(T)/η_eff(0), geometric mean over layers (mean over seeds)".</summary>
    public static ResultKey RateRatioKey => new("BN", "η_eff(T)/η_eff(0), geometric mean over layers (mean over seeds)");

    /// <summary>The key of the standard network's (‖W_0‖/‖W_T‖)² over the same layers, geometric mean over layers, mean over seeds: "standard: (‖W_0‖/‖W_T‖)², geometric mean over layers (mean over seeds)".</summary>
    public static ResultKey StandardRateRatioKey => new("standard", "(‖W_0‖/‖W_T‖)², geometric mean over layers (mean over seeds)");

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var groups = Presets.SharedRuns(context, Name, [Norm.BatchNorm, Norm.None]);
        var (bn, standard) = (groups[0], groups[1]);
        var config = bn.Runs[0].Config;
        var batch = context.Data(config.Dataset).Train.Take(config.BatchSize);
        var fed = FedLayers(bn.Runs[0].Model);
        var isScaled = ScaledParameters(bn.Runs[0].Model, fed);

        var checks = new List<SeedCheck>();
        var cosines = new List<(ulong Seed, int Layer, double Bn, double Standard)>();
        for (int i = 0; i < bn.Runs.Count; i++)
        {
            var (bnRun, standardRun) = (bn.Runs[i], standard.Runs[i]);
            context.Progress.Message(Name, $"seed {bnRun.Config.Seed}: scaling the BN-fed layers");
            var kept = Evaluate(Copy(bnRun), batch);
            var standardKept = Evaluate(Copy(standardRun), batch);
            var bnCos = Cosines(Copy(bnRun), kept, fed);
            var standardCos = Cosines(Copy(standardRun), standardKept, fed);
            cosines.AddRange(fed.Select(l => (bnRun.Config.Seed, l, bnCos[l], standardCos[l])));
            foreach (double a in Scales)
            {
                var scaled = Evaluate(Scaled(Copy(bnRun), fed, a), batch);
                var reference = Evaluate(Copy(bnRun, Eps / (a * a)), batch);
                var standardScaled = Evaluate(Scaled(Copy(standardRun), fed, a), batch);
                checks.Add(new SeedCheck(bnRun.Config.Seed, a,
                    RelativeMax(scaled.Outputs, reference.Outputs), Math.Abs(scaled.Loss - reference.Loss) / Math.Abs(reference.Loss),
                    GradientDeviation(scaled, reference, isScaled, a, scaledOnes: true), GradientDeviation(scaled, reference, isScaled, a, scaledOnes: false),
                    Math.Abs(scaled.Loss - kept.Loss) / Math.Abs(kept.Loss), GradientDeviation(scaled, kept, isScaled, a, scaledOnes: true),
                    Math.Abs(standardScaled.Loss - standardKept.Loss) / Math.Abs(standardKept.Loss)));
            }
        }

        var invariance = Scales.Select(a => checks.Where(c => c.Scale == a).ToList())
            .Select(c => new InvarianceCheck(c[0].Scale, Worst(c.Select(x => x.Outputs)), Worst(c.Select(x => x.Loss)), Worst(c.Select(x => x.ScaledGradient)), Worst(c.Select(x => x.OtherGradients)))).ToList();
        double orthogonality = Worst(cosines.Select(c => Math.Abs(c.Bn)));

        var norms = groups.ToDictionary(g => g, g => g.Runs.Select(r => WeightNorms(r, fed)).ToList());
        var rateRatio = new SeedValues("η_eff(T)/η_eff(0)", norms[bn].Select(n => EffectiveRateRatio(n, fed)));
        double standardRatio = norms[standard].Average(n => EffectiveRateRatio(n, fed));
        var verdict = Judge(bn.TestAccuracyPerSeed, invariance, orthogonality, rateRatio,
            $"Measured: ‖W‖ of the BN-fed layers grew by ×{G(Math.Pow(rateRatio.Values.Average(), -0.5))} over the run (geometric mean over layers, mean over seeds), so η/‖W‖² fell to ×{G(rateRatio.Values.Average())}; " +
            $"the same layers of the standard network grew by ×{G(Math.Pow(standardRatio, -0.5))}");

        var numbers = new Dictionary<ResultKey, double>();
        foreach (var c in invariance)
        {
            numbers[OutputsKey(c.Scale)] = c.Outputs;
            numbers[LossKey(c.Scale)] = c.Loss;
            numbers[ScaledGradientKey(c.Scale)] = c.ScaledGradient;
            numbers[OtherGradientsKey(c.Scale)] = c.OtherGradients;
            numbers[LossChangeEpsKeptKey(c.Scale)] = checks.Where(x => x.Scale == c.Scale).Max(x => x.LossChangeEpsKept);
            numbers[ScaledGradientEpsKeptKey(c.Scale)] = checks.Where(x => x.Scale == c.Scale).Max(x => x.GradientLawEpsKept);
            numbers[StandardLossChangeKey(c.Scale)] = checks.Where(x => x.Scale == c.Scale).Min(x => x.StandardLossChange);
        }
        numbers[OrthogonalityKey] = orthogonality;
        numbers[StandardCosineKey] = Median(cosines.Select(c => Math.Abs(c.Standard)));
        numbers[RateRatioKey] = rateRatio.Values.Average();
        numbers[StandardRateRatioKey] = standardRatio;

        string checkCsv = WriteCsv(context, "scale-invariance-checks.csv", checks.Select(c => string.Join(',',
                new[] { c.Scale, c.Outputs, c.Loss, c.ScaledGradient, c.OtherGradients, c.LossChangeEpsKept, c.GradientLawEpsKept, c.StandardLossChange }.Select(R).Prepend(c.Seed.ToString(CultureInfo.InvariantCulture))))
            .Prepend("seed,scale,outputs_vs_reference,loss_vs_reference,scaled_gradient_vs_reference,other_gradients_vs_reference,loss_change_eps_kept,scaled_gradient_eps_kept,standard_loss_change"));
        string cosCsv = WriteCsv(context, "scale-invariance-cosines.csv",
            cosines.Select(c => $"{c.Seed},{c.Layer},{R(c.Bn)},{R(c.Standard)}").Prepend("seed,layer,cos_w_grad_bn,cos_w_grad_standard"));
        string normCsv = WriteCsv(context, "scale-invariance-norms.csv", groups.SelectMany(g => g.Runs.Zip(norms[g], (r, n) =>
                n.SelectMany(s => s.Norms.Select(kv => $"{g.Label},{r.Config.Seed},{kv.Key},{s.Step},{R(kv.Value)}")))).SelectMany(x => x)
            .Prepend("network,seed,layer,step,weight_norm"));

        var figures = new List<FigureData> { EffectiveRateFigure(bn, norms[bn], fed), NormGrowthFigure(groups, norms, fed), CheckFigure(checks) };
        var tables = new List<TableData> { CheckTable(checks), NormTable(groups, norms, fed, cosines) };
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict, figures, tables, numbers,
            [checkCsv, cosCsv, normCsv, .. groups.SelectMany(g => g.Runs).Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv")], clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// BN trains (precondition); per scale factor, outputs and loss equal to the ε/a² network's within
    /// <see cref="ForwardTolerance"/>, and the scaled layers' gradients ×a and every other gradient equal within
    /// <see cref="GradientTolerance"/>; |cos(W, ∇W)| within <see cref="OrthogonalityTolerance"/>; the effective
    /// learning rate falls (<see cref="EffectiveRateFalls"/>, per seed against no change). <paramref name="note"/> says what the weight norms did.
    /// </summary>
    public static Verdict Judge(SeedValues bnAccuracy, IReadOnlyList<InvarianceCheck> checks, double orthogonality, SeedValues effectiveRateRatio, string? note = null) => Verdict.Of(
    [
        SeededRuns.Trains(bnAccuracy),
        .. checks.SelectMany(c => new[]
        {
            Judgement.Check($"a = {F(c.Scale)}: outputs and loss unchanged", $"relative deviation from the ε/a² network ≤ {F(ForwardTolerance)}",
                c.Outputs <= ForwardTolerance && c.Loss <= ForwardTolerance, $"outputs {G(c.Outputs)}, loss {G(c.Loss)}"),
            Judgement.Check($"a = {F(c.Scale)}: the scaled weights' gradient ×1/a, every other gradient unchanged", $"relative deviation ≤ {F(GradientTolerance)}",
                c.ScaledGradient <= GradientTolerance && c.OtherGradients <= GradientTolerance, $"scaled layers {G(c.ScaledGradient)}, other parameters {G(c.OtherGradients)}"),
        }),
        Judgement.Check("(extension) the weights' gradient is orthogonal to W", $"max |cos(W, ∇W)| over BN-fed layers and seeds ≤ {F(OrthogonalityTolerance)}",
            orthogonality <= OrthogonalityTolerance, $"max |cos| = {G(orthogonality)}"),
        EffectiveRateFalls.Judge("(extension) during training ‖W‖ grows and the effective learning rate η/‖W‖² falls", effectiveRateRatio, 1, "no change"),
    ], note);

    /// <summary>The numbers of the weight layers that feed a BatchNorm directly (conv → BN).</summary>
    public static IReadOnlyList<int> FedLayers(Module model)
    {
        var modules = model.NamedModules().Select(m => m.Module).ToList();
        var fed = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i + 1 < modules.Count; i++)
            if (modules[i + 1] is BatchNorm && modules[i] switch { Conv2d c => c.Weight, Linear l => l.Weight, _ => null } is Tensor w) fed.Add(w);
        return WeightLayer.Of(model).Where(l => fed.Contains(l.Weight)).Select(l => l.Number).ToList();
    }

    /// <summary>A fresh copy of the run's final network, optionally with another BN ε.</summary>
    static Module Copy(TrainedRun run, double? eps = null)
    {
        var spec = run.Config.Model with { Options = run.Config.Model.Options with { NormEps = eps } };
        var copy = spec.Build(run.InputShape, run.Outputs, new Rng(run.Config.Seed));
        copy.LoadStateDict(run.Model.StateDict());
        return copy;
    }

    static Module Scaled(Module model, IReadOnlyList<int> layers, double a)
    {
        foreach (var l in WeightLayer.Of(model).Where(l => layers.Contains(l.Number)))
            l.Weight.CopyFrom(Tensor.FromArray(l.Weight.ToDoubleArray().Select(w => a * w).ToArray(), l.Weight.Shape));
        return model;
    }

    static bool[] ScaledParameters(Module model, IReadOnlyList<int> layers)
    {
        var weights = WeightLayer.Of(model).Where(l => layers.Contains(l.Number)).Select(l => l.Weight).ToHashSet(ReferenceEqualityComparer.Instance);
        return model.Parameters().Select(p => weights.Contains(p)).ToArray();
    }

    static Evaluation Evaluate(Module model, Dataset batch)
    {
        model.Train();
        using (Autograd.EnableGrad())
        {
            var outputs = model.Forward(batch.Inputs);
            var loss = outputs.CrossEntropy(batch.Labels!);
            var gradients = Autograd.Grad(loss, model.Parameters());
            return new Evaluation(outputs.ToDoubleArray(), loss.Item(), gradients.Select(g => g.ToDoubleArray()).ToArray());
        }
    }

    /// <summary>cos(W, ∇_W L) of each of <paramref name="layers"/>, by layer number.</summary>
    static Dictionary<int, double> Cosines(Module model, Evaluation at, IReadOnlyList<int> layers)
    {
        var parameters = model.Parameters();
        return WeightLayer.Of(model).Where(l => layers.Contains(l.Number)).ToDictionary(l => l.Number,
            l => Probes.Cosine(l.Weight.ToDoubleArray(), at.Gradients[IndexOf(parameters, l.Weight)]));
    }

    static int IndexOf(IReadOnlyList<Tensor> parameters, Tensor t)
    {
        for (int i = 0; i < parameters.Count; i++) if (ReferenceEquals(parameters[i], t)) return i;
        throw new ArgumentException("not a parameter of the model");
    }

    /// <summary>max |a − b| / max |b|.</summary>
    static double RelativeMax(double[] a, double[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max() / b.Max(Math.Abs);

    /// <summary>‖f·g_scaled − g_ref‖ / ‖g_ref‖ over the scaled parameters (f = a) or over the others (f = 1).</summary>
    static double GradientDeviation(Evaluation scaled, Evaluation reference, bool[] isScaled, double a, bool scaledOnes)
    {
        double difference = 0, size = 0, f = scaledOnes ? a : 1;
        for (int p = 0; p < isScaled.Length; p++)
        {
            if (isScaled[p] != scaledOnes) continue;
            for (int j = 0; j < reference.Gradients[p].Length; j++)
            {
                double d = f * scaled.Gradients[p][j] - reference.Gradients[p][j];
                difference += d * d;
                size += reference.Gradients[p][j] * reference.Gradients[p][j];
            }
        }
        return Math.Sqrt(difference / size);
    }

    /// <summary>The weight norms of the scaled layers (by index) at one step.</summary>
    sealed record StepNorms(int Step, IReadOnlyDictionary<int, double> Norms);

    /// <summary>‖W‖ of each layer at initialisation, at the run's snapshot steps and at its end.</summary>
    static List<StepNorms> WeightNorms(TrainedRun run, IReadOnlyList<int> layers)
    {
        var initial = run.Config.Model.Build(run.InputShape, run.Outputs, new Rng(run.Config.Seed));
        var models = new List<(int Step, Module Model)> { (0, initial) };
        models.AddRange(run.Snapshots.Keys.Order().Where(s => s < run.Outcome.StepsDone).Select(s => (s, run.ModelAt(s))));
        models.Add((run.Outcome.StepsDone, run.ModelAt(run.Outcome.StepsDone)));
        return models.Select(m => new StepNorms(m.Step, WeightLayer.Of(m.Model).Where(l => layers.Contains(l.Number))
            .ToDictionary(l => l.Number, l => Probes.Norm(l.Weight.ToDoubleArray())))).ToList();
    }

    /// <summary>(‖W_0‖/‖W_t‖)² at the last recorded step, geometric mean over the layers.</summary>
    static double EffectiveRateRatio(List<StepNorms> norms, IReadOnlyList<int> layers) => RateRatioAt(norms[0], norms[^1], layers);

    static double RateRatioAt(StepNorms initial, StepNorms at, IReadOnlyList<int> layers) =>
        Math.Exp(layers.Average(l => 2 * Math.Log(initial.Norms[l] / at.Norms[l])));

    /// <summary>Per BN-fed layer, η_eff(t)/η_eff(0) = (‖W_0‖/‖W_t‖)² over the recorded steps, averaged over seeds (band: lowest to highest seed).</summary>
    static FigureData EffectiveRateFigure(SeededRuns bn, List<List<StepNorms>> norms, IReadOnlyList<int> layers) =>
        new("BN: effective learning rate on W's direction",
            "η/‖W‖² relative to its value at initialisation, (‖W_0‖/‖W_t‖)², per BN-fed layer, averaged over the seeds (band: lowest to highest seed). Under plain SGD the gradient is orthogonal to W, so ‖W‖ can only grow.",
            "step", "η_eff(t) / η_eff(0)", layers.Select(l => Band($"layer {l}", norms, n => RatioSeries(n, s => Math.Pow(n[0].Norms[l] / s.Norms[l], 2)))).ToList(), LogY: true);

    /// <summary>‖W_t‖/‖W_0‖, geometric mean over the BN-fed layers (the same layers in the standard network), BN against standard.</summary>
    static FigureData NormGrowthFigure(List<SeededRuns> groups, Dictionary<SeededRuns, List<List<StepNorms>>> norms, IReadOnlyList<int> layers) =>
        new("Weight norm over training",
            "‖W_t‖/‖W_0‖ of the layers that feed a BN in the BN network (the same layers in the standard network), geometric mean over the layers, averaged over the seeds (band: lowest to highest seed).",
            "step", "‖W_t‖ / ‖W_0‖", groups.Select(g => Band(g.Label, norms[g], n => RatioSeries(n, s => Math.Exp(layers.Average(l => Math.Log(s.Norms[l] / n[0].Norms[l])))))).ToList());

    static (double[] X, double[] Y) RatioSeries(List<StepNorms> norms, Func<StepNorms, double> value) =>
        (norms.Select(s => (double)s.Step).ToArray(), norms.Select(value).ToArray());

    /// <summary>The mean over seeds of per-seed curves (up to the shortest), with the seeds' range as a band.</summary>
    static Series Band(string label, List<List<StepNorms>> perSeed, Func<List<StepNorms>, (double[] X, double[] Y)> curve)
    {
        var curves = perSeed.Select(curve).ToList();
        int length = curves.Min(c => c.X.Length);
        double[] At(Func<IEnumerable<double>, double> over) => Enumerable.Range(0, length).Select(i => over(curves.Select(c => c.Y[i]))).ToArray();
        return new Series(label, curves[0].X[..length], At(Enumerable.Average)) { Lower = At(Enumerable.Min), Upper = At(Enumerable.Max), Markers = true };
    }

    static FigureData CheckFigure(List<SeedCheck> checks)
    {
        Series Line(string label, Func<SeedCheck, double> value) =>
            new(label, Scales.ToArray(), Scales.Select(a => checks.Where(c => c.Scale == a).Max(value)).ToArray()) { Markers = true };
        return new FigureData("Loss change when every BN-fed layer's weights are scaled by a",
            "Relative change of the training-mode loss on the fixed batch, largest over seeds: BN against the network with BN ε/a² (the identity, rounding only); BN with ε kept (what BN computes: ε's own effect); the standard network (no invariance).",
            "scale factor a", "relative loss change", [Line("BN vs ε/a² network", c => c.Loss), Line("BN, ε kept", c => c.LossChangeEpsKept), Line("standard", c => c.StandardLossChange)], LogX: true, LogY: true)
        {
            References = [new ReferenceLine(ForwardTolerance, "tolerance", Horizontal: true)],
        };
    }

    static TableData CheckTable(List<SeedCheck> checks) =>
        new("Per seed and scale factor a: relative deviations of the scaled BN network from the ε/a² network (judged), and with ε kept and in the standard network (reported)",
            ["seed", "a", "outputs", "loss", "a·∇ scaled layers", "other gradients", "loss, ε kept", "a·∇ scaled layers, ε kept", "standard: loss change"],
            checks.Select(c => (IReadOnlyList<string>)[c.Seed.ToString(CultureInfo.InvariantCulture), F(c.Scale), G(c.Outputs), G(c.Loss), G(c.ScaledGradient), G(c.OtherGradients),
                G(c.LossChangeEpsKept), G(c.GradientLawEpsKept), G(c.StandardLossChange)]).ToList());

    static TableData NormTable(List<SeededRuns> groups, Dictionary<SeededRuns, List<List<StepNorms>>> norms, IReadOnlyList<int> layers,
        List<(ulong Seed, int Layer, double Bn, double Standard)> cosines) =>
        new("Per layer that feeds a BN (the same layers in the standard network), mean over seeds: ‖W‖ at initialisation and at the end, (‖W_0‖/‖W_T‖)² (BN: the effective learning rate ratio), and |cos(W, ∇W)| at the end",
            ["network", "layer", "‖W_0‖", "‖W_T‖", "(‖W_0‖/‖W_T‖)²", "|cos(W, ∇W)|"],
            groups.SelectMany(g => layers.Select(l => (IReadOnlyList<string>)[g.Label, l.ToString(CultureInfo.InvariantCulture),
                G(norms[g].Average(n => n[0].Norms[l])), G(norms[g].Average(n => n[^1].Norms[l])), G(norms[g].Average(n => Math.Pow(n[0].Norms[l] / n[^1].Norms[l], 2))),
                G(cosines.Where(c => c.Layer == l).Average(c => Math.Abs(g.Label == Presets.Label(Norm.BatchNorm) ? c.Bn : c.Standard)))])).ToList());

    /// <summary>The largest value, NaN when any is (LINQ's Max skips NaN, which would let a diverged seed pass a check).</summary>
    static double Worst(IEnumerable<double> values) => values.Any(double.IsNaN) ? double.NaN : values.Max();

    static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    static string G(double v) => RunFigures.Cell(v, "G3");
    static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
