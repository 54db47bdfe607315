namespace BatchNormLab.Experiments;

/// <summary>
/// The landscape along the gradient at one probed step (Santurkar et al., Figs. 4 and 9): the loss L(w),
/// and for each step size η of the grid, the loss L(w − η·g) and the gradient change ‖∇L(w) − ∇L(w − η·g)‖₂, where g = ∇L(w).
/// The three measures are NaN when any grid point overflowed (see <see cref="IsFinite"/>).
/// </summary>
public sealed record LandscapeMeasurement(int Step, double Loss, IReadOnlyList<double> Etas, double[] Losses, double[] GradientChanges, double GradientNorm)
{
    /// <summary>Whether every grid point's loss and gradient change, and the gradient norm, are finite (none overflowed).</summary>
    public bool IsFinite => Losses.All(double.IsFinite) && GradientChanges.All(double.IsFinite) && double.IsFinite(GradientNorm);

    /// <summary>max − min over the grid of L(w − η·g); L(w) itself is not a grid point.</summary>
    public double LossVariation => IsFinite ? Losses.Max() - Losses.Min() : double.NaN;

    /// <summary>
    /// Gradient predictiveness as judged: the level of the gradient change, its max over the grid of
    /// ‖∇L(w) − ∇L(w − η·g)‖₂ (the top of the band Fig. 4b draws; smaller: the gradient is more predictive).
    /// </summary>
    public double GradientPredictiveness => IsFinite ? GradientChanges.Max() : double.NaN;

    /// <summary>Effective β-smoothness: max over the grid of ‖∇L(w) − ∇L(w − η·g)‖₂ / ‖η·g‖₂.</summary>
    public double BetaSmoothness => IsFinite ? Etas.Select((eta, i) => GradientChanges[i] / (eta * GradientNorm)).Max() : double.NaN;
}

/// <summary>
/// Probes the loss landscape along the gradient every <paramref name="every"/> steps: on the step's batch,
/// in training mode (batch statistics), with g the gradient the optimizer is about to apply, it evaluates
/// the loss and gradient at w − η·g for each η of <paramref name="etas"/>. The evaluations restore the
/// model exactly (running statistics included), so the training trajectory is the one an unmeasured run takes.
/// </summary>
public sealed class LandscapeProbe(Module model, IReadOnlyList<double> etas, int every, LossKind loss) : ITrainingCallback
{
    Batch? batch;

    /// <summary>The measurements so far, one per probed step, in step order.</summary>
    public List<LandscapeMeasurement> Measurements { get; private init; } = [];

    // A probe read back with its run (RunArchive): its measurements only; it is never attached to a trainer again.
    internal static LandscapeProbe Restored(List<LandscapeMeasurement> measurements) =>
        new(null!, [], 1, LossKind.CrossEntropy) { Measurements = measurements };

    /// <summary>Keeps the batch of <paramref name="step"/> when the step is a multiple of the interval, to probe on it.</summary>
    public void OnBatch(Trainer trainer, int step, Batch b) => batch = step % every == 0 ? b : null;

    /// <summary>Probes the landscape along the gradient just computed, before the optimizer applies it (skipped when the gradient is not finite).</summary>
    public void OnGradient(Trainer trainer, StepMetrics m)
    {
        if (batch is null || !double.IsFinite(m.GradNorm)) return;
        Measurements.Add(Measure(model, Probes.LossOn(batch, loss), Probes.Weights(model), Probes.Gradients(model), etas, m.Step, m.Loss));
        batch = null;
    }

    /// <summary>
    /// The landscape of <paramref name="loss"/> from <paramref name="weights"/> (where the loss is
    /// <paramref name="lossThere"/> and the gradient <paramref name="gradient"/>) along −gradient; the model is left as it was.
    /// </summary>
    public static LandscapeMeasurement Measure(Module model, Func<Module, Tensor> loss, double[] weights, double[] gradient, IReadOnlyList<double> etas, int step, double lossThere)
    {
        var losses = new double[etas.Count];
        var changes = new double[etas.Count];
        for (int i = 0; i < etas.Count; i++)
        {
            var (value, movedGradient) = ParameterVector.LossAndGradientAt(model, Probes.Stepped(weights, gradient, etas[i]), loss);
            losses[i] = value;
            changes[i] = Probes.Distance(gradient, movedGradient.ToDoubleArray());
        }
        return new LandscapeMeasurement(step, lossThere, etas, losses, changes, Probes.Norm(gradient));
    }
}

/// <summary>The three landscape measures of the BN and the standard network, per seed.</summary>
public sealed record LandscapeMeasures(BnVsStandard LossVariation, BnVsStandard GradientPredictiveness, BnVsStandard BetaSmoothness);

/// <summary>
/// Santurkar et al. 2018, Fig. 4 (VGG) and Fig. 9 (deep linear network): how much the loss and the
/// gradient change along the gradient direction, with and without BN, over the context's seeds. The claim:
/// with BN the loss varies less, the gradient is more predictive and the effective β-smoothness is smaller.
/// </summary>
public sealed class Landscape : Experiment
{
    /// <inheritdoc/>
    public override string Name => "landscape";
    /// <inheritdoc/>
    public override string Figure => "Santurkar et al. 2018, Fig. 4 and Fig. 9";
    /// <inheritdoc/>
    public override string Source => "Santurkar et al. 2018 §3.1, Fig. 4 (VGG) and Fig. 9 (DLN); seed 000 (BN makes the loss smoother), seed 002 (loss, gradient and β-smoothness steadier with BN)";
    /// <inheritdoc/>
    public override string Claim => "BatchNorm makes the loss landscape smoother along the gradient: the loss varies much less over a range of step sizes, the gradient changes much less (more predictive), and the effective β-smoothness is much smaller, on VGG and on the deep linear network.";

    /// <summary>VGG's step sizes as multiples of its learning rate: ½× to 4× (η ∈ [0.05, 0.4] at LR 0.1, as the paper).</summary>
    public static readonly (double From, double To) VggRange = (0.5, 4);
    /// <summary>The DLN's step sizes as multiples of its learning rate: 1/100× to 30×, as the paper.</summary>
    public static readonly (double From, double To) DlnRange = (0.01, 30);
    /// <summary>Log-spaced step sizes per probe (the paper does not say its spacing).</summary>
    public const int GridPoints = 8;

    /// <summary>"Much smaller": BN's measure below half the standard network's.</summary>
    public static readonly Rule MuchSmaller = Rule.Factor(Claimed.Less, 2);

    /// <summary>The step sizes η a probe of <paramref name="network"/> trained at <paramref name="learningRate"/> evaluates.</summary>
    public static double[] Grid(ProbedNetwork network, double learningRate)
    {
        var (from, to) = network == ProbedNetwork.Vgg ? VggRange : DlnRange;
        return Enumerable.Range(0, GridPoints).Select(i => learningRate * from * Math.Pow(to / from, (double)i / (GridPoints - 1))).ToArray();
    }

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null)
    {
        string grid(string net, (double From, double To) range) =>
            $"{GridPoints} log-spaced step sizes η from {F(range.From)}× to {F(range.To)}× the {net} learning rate";
        return ($"VGG: {Presets.Describe(preset, dataset)}, LR 0.1; {grid("VGG", VggRange)}, every {ProbedRuns.Every(preset, ProbedNetwork.Vgg)} steps. " +
                $"DLN: {Presets.DescribeDln(preset)}; {grid("DLN", DlnRange)}, every {ProbedRuns.Every(preset, ProbedNetwork.Dln)} steps. " +
                "At each probe, on that step's batch in training mode, with g the gradient the optimizer applies: the loss and gradient at w − η·g for each η. " +
                "Loss variation = max − min of the loss over the grid (the loss at w itself excluded), the band of Fig. 4a; gradient predictiveness = the level of Fig. 4b's band, max over the grid of ‖∇L(w) − ∇L(w − η·g)‖₂ " +
                "(its max − min, the band's height, would call a gradient that changes a lot at every η predictive); β-smoothness = max over the grid of that norm over ‖η·g‖₂. " +
                "Per seed, each measure's mean over the run's probes. These are absolute sizes, as the paper measures them: a smaller gradient (BN's) counts as a smoother loss. " +
                $"Each of the three on each network: {MuchSmaller.Describe("measure(BN)", "measure(standard)")}. Precondition: both VGG networks train (test accuracy 10 points above chance). " +
                "\"More stable\" (the paper's figures also show BN's measures fluctuating less over training) is not judged.",
            Presets.Deviations(preset, dataset) + " " + Presets.DlnDeviations + " The η grid's spacing and size are our choice; \"much smaller\" is not quantified in the paper: the factor 2 is ours. " +
            "A probe where a grid point's loss or gradient is not finite is skipped in the means, and counted.");
    }

    static string F(double v) => v.ToString("G4", CultureInfo.InvariantCulture);

    static readonly (string Name, Func<LandscapeMeasurement, double> Value)[] Measures =
        [("loss variation", m => m.LossVariation), ("gradient predictiveness", m => m.GradientPredictiveness), ("β-smoothness", m => m.BetaSmoothness)];

    static readonly (string Name, ProbedNetwork Network)[] Networks = [("VGG", ProbedNetwork.Vgg), ("DLN", ProbedNetwork.Dln)];

    static List<LandscapeMeasurement> Probed(TrainedRun run) => run.Probe<LandscapeProbe>().Measurements;

    /// <summary>A run's mean of <paramref name="measure"/> over its probes with finite values (NaN when none).</summary>
    static double MeanOverProbes(TrainedRun run, Func<LandscapeMeasurement, double> measure) =>
        Probed(run).Where(x => x.IsFinite).Select(measure).DefaultIfEmpty(double.NaN).Average();

    /// <summary>The key of the number of probes per run of the runs <paramref name="run"/> (e.g. "VGG BN"), mean over seeds: "VGG BN: probes".</summary>
    public static ResultKey ProbesKey(string run) => new(run, "probes");

    /// <summary>The key of the number of probes with a non-finite grid point of the runs <paramref name="run"/>, summed over seeds: "VGG BN: non-finite probes".</summary>
    public static ResultKey NonFiniteProbesKey(string run) => new(run, "non-finite probes");

    /// <summary>The key of a landscape measure (e.g. "loss variation") of the runs <paramref name="run"/>, mean over finite probes and seeds: "VGG BN: mean loss variation".</summary>
    public static ResultKey MeanKey(string run, string measure) => new(run, $"mean {measure}");

    /// <summary>The key of a landscape measure's largest value over the finite probes of the runs <paramref name="run"/> and their seeds: "VGG BN: max loss variation".</summary>
    public static ResultKey MaxKey(string run, string measure) => new(run, $"max {measure}");

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var figures = new List<FigureData>();
        var rows = new List<IReadOnlyList<string>>();
        var numbers = new Dictionary<ResultKey, double>();
        var files = new List<string>();
        var perNetwork = new Dictionary<ProbedNetwork, LandscapeMeasures>();
        var accuracy = new Dictionary<Norm, SeedValues>();
        var skipped = new List<string>();
        // Every network's runs are asked for before any is used, so a plan finds them all (Experiment.Discover).
        var trained = Networks.SelectMany(n => (Norm[])[Norm.BatchNorm, Norm.None], (n, norm) => (n.Network, norm))
            .ToDictionary(k => k, k => ProbedRuns.Train(context, Name, k.Network, k.norm));
        foreach (var (net, network) in Networks)
        {
            var (lossSeries, gradientSeries, betaSeries) = (new List<Series>(), new List<Series>(), new List<Series>());
            var values = new Dictionary<Norm, SeedValues[]>();
            foreach (var norm in (Norm[])[Norm.BatchNorm, Norm.None])
            {
                var group = trained[(network, norm)];
                if (network == ProbedNetwork.Vgg) accuracy[norm] = group.TestAccuracyPerSeed;
                values[norm] = Measures.Select(m => group.Values(r => MeanOverProbes(r, m.Value)) with { Label = $"{m.Name}, {group.Label}" }).ToArray();
                files.Add(WriteCsv(context, TrainedRun.FileName(group.Label) + ".landscape.csv", group.Runs.SelectMany(r => Probed(r).SelectMany(m => m.Etas.Select((eta, i) =>
                    string.Create(CultureInfo.InvariantCulture, $"{r.Config.Seed},{m.Step},{eta:R},{m.Losses[i]:R},{m.GradientChanges[i]:R}")))).Prepend("seed,step,eta,loss,grad_difference")));

                var first = group.Runs[0];
                var finite = Probed(first).Where(x => x.IsFinite).ToList();
                var steps = finite.Select(x => (double)x.Step).ToArray();
                string firstLabel = $"{group.Label} (seed {first.Config.Seed})";
                lossSeries.Add(new Series(firstLabel, steps, finite.Select(x => x.Loss).ToArray())
                    { Lower = finite.Select(x => x.Losses.Min()).ToArray(), Upper = finite.Select(x => x.Losses.Max()).ToArray(), DivergedAt = first.Outcome.DivergedAtStep });
                gradientSeries.Add(new Series(firstLabel, steps, finite.Select(x => x.GradientChanges.Average()).ToArray())
                    { Lower = finite.Select(x => x.GradientChanges.Min()).ToArray(), Upper = finite.Select(x => x.GradientChanges.Max()).ToArray(), DivergedAt = first.Outcome.DivergedAtStep });
                betaSeries.Add(group.Mean(r => new Series(r.Label, Probed(r).Select(x => (double)x.Step).ToArray(), Probed(r).Select(x => x.BetaSmoothness).ToArray()) { DivergedAt = r.Outcome.DivergedAtStep }));

                foreach (var run in group.Runs)
                {
                    var probes = Probed(run);
                    int nonFinite = probes.Count(x => !x.IsFinite);
                    if (nonFinite > 0) skipped.Add($"{run.Label}: {nonFinite} of {probes.Count}");
                    rows.Add([run.Label, run.Outcome.DivergedAtStep is int at ? $"diverged at step {at}" : "done", probes.Count.ToString(CultureInfo.InvariantCulture), nonFinite.ToString(CultureInfo.InvariantCulture),
                        .. Measures.SelectMany(m => new[] { G(MeanOverProbes(run, m.Value)), G(probes.Where(x => x.IsFinite).Select(m.Value).DefaultIfEmpty(double.NaN).Max()) })]);
                }
                numbers[ProbesKey(group.Label)] = group.Runs.Average(r => Probed(r).Count);
                numbers[NonFiniteProbesKey(group.Label)] = group.Runs.Sum(r => Probed(r).Count(x => !x.IsFinite));
                for (int i = 0; i < Measures.Length; i++)
                {
                    numbers[MeanKey(group.Label, Measures[i].Name)] = values[norm][i].Values.Average();
                    numbers[MaxKey(group.Label, Measures[i].Name)] = group.Runs.Max(r => Probed(r).Where(x => x.IsFinite).Select(Measures[i].Value).DefaultIfEmpty(double.NaN).Max());
                }
            }
            perNetwork[network] = new LandscapeMeasures(
                new BnVsStandard(values[Norm.BatchNorm][0], values[Norm.None][0]),
                new BnVsStandard(values[Norm.BatchNorm][1], values[Norm.None][1]),
                new BnVsStandard(values[Norm.BatchNorm][2], values[Norm.None][2]));

            var (from, to) = network == ProbedNetwork.Vgg ? VggRange : DlnRange;
            string grid = $"η from {F(from)}× to {F(to)}× the learning rate";
            figures.Add(new FigureData($"{net}: loss along the gradient", $"First seed: training-batch loss at w (line) and the range of L(w − η·g) over the grid, {grid} (band): the band's height is the loss variation.",
                "step", "loss", lossSeries, LogY: SpansDecades(lossSeries)));
            figures.Add(new FigureData($"{net}: gradient predictiveness", $"First seed: ‖∇L(w) − ∇L(w − η·g)‖₂ over the grid ({grid}): the band spans its min to max, the line is its mean; the band's top is the level judged (smaller: the gradient is more predictive).",
                "step", "‖∇L(w) − ∇L(w − η·g)‖₂", gradientSeries, LogY: SpansDecades(gradientSeries)));
            figures.Add(new FigureData($"{net}: effective β-smoothness", $"Max over the grid ({grid}) of ‖∇L(w) − ∇L(w − η·g)‖₂ / ‖η·g‖₂; mean over seeds, the band spans the seeds.",
                "step", "β-smoothness", betaSeries, LogY: SpansDecades(betaSeries)));
        }
        var table = new TableData("Landscape measures per run (over the probes with finite values)",
            ["run", "outcome", "probes", "non-finite", .. Measures.SelectMany(x => new[] { $"mean {x.Name}", $"max {x.Name}" })], rows);
        var verdict = Judge(accuracy[Norm.BatchNorm], accuracy[Norm.None], perNetwork[ProbedNetwork.Vgg], perNetwork[ProbedNetwork.Dln],
            skipped.Count == 0 ? null : $"Probes with a non-finite grid point, left out of the means: {string.Join("; ", skipped)}");
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict, figures, [table], numbers, files, clock.Elapsed.TotalSeconds);
    }

    static string G(double v) => RunFigures.Cell(v, "G4");

    /// <summary>Whether the positive values of the series (bands included) span more than two decades, so a log axis shows them better.</summary>
    static bool SpansDecades(IEnumerable<Series> series) => RunFigures.SpansDecades(series.SelectMany(s => s.Y.Concat(s.Lower ?? []).Concat(s.Upper ?? [])));

    /// <summary>Both VGG networks train (preconditions); each of the three measures, on VGG and on the DLN, with BN below half the standard network's.</summary>
    public static Verdict Judge(SeedValues vggAccuracyBn, SeedValues vggAccuracyStandard, LandscapeMeasures vgg, LandscapeMeasures dln, string? note = null) => Verdict.Of(
    [
        SeededRuns.Trains(vggAccuracyBn),
        SeededRuns.Trains(vggAccuracyStandard),
        .. new[] { ("VGG", vgg), ("DLN", dln) }.SelectMany(n => new[]
        {
            MuchSmaller.Judge($"{n.Item1}: the loss varies much less along the gradient with BN", n.Item2.LossVariation.Bn, n.Item2.LossVariation.Standard),
            MuchSmaller.Judge($"{n.Item1}: the gradient changes much less along the gradient with BN (more predictive)", n.Item2.GradientPredictiveness.Bn, n.Item2.GradientPredictiveness.Standard),
            MuchSmaller.Judge($"{n.Item1}: the effective β-smoothness is much smaller with BN", n.Item2.BetaSmoothness.Bn, n.Item2.BetaSmoothness.Standard),
        }),
    ], note);
}
