using System.Globalization;
using BatchNormLab.Data;
using BatchNormLab.Models;
using BatchNormLab.Nn;
using BatchNormLab.Training;

namespace BatchNormLab.Experiments;

/// <summary>
/// The landscape along the gradient at one probed step (Santurkar et al., Figs. 4 and 9): the loss L(w),
/// and for each step size η of the grid, the loss L(w − η·g) and the gradient change ‖∇L(w) − ∇L(w − η·g)‖₂, where g = ∇L(w).
/// The three measures are NaN when any grid point overflowed (see <see cref="IsFinite"/>).
/// </summary>
public sealed record LandscapeMeasurement(int Step, double Loss, IReadOnlyList<double> Etas, double[] Losses, double[] GradientChanges, double GradientNorm)
{
    public bool IsFinite => Losses.All(double.IsFinite) && GradientChanges.All(double.IsFinite) && double.IsFinite(GradientNorm);

    /// <summary>max − min over the grid of L(w − η·g); L(w) itself is not a grid point.</summary>
    public double LossVariation => IsFinite ? Losses.Max() - Losses.Min() : double.NaN;

    /// <summary>max − min over the grid of ‖∇L(w) − ∇L(w − η·g)‖₂.</summary>
    public double GradientPredictiveness => IsFinite ? GradientChanges.Max() - GradientChanges.Min() : double.NaN;

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

    public List<LandscapeMeasurement> Measurements { get; } = [];

    public void OnBatch(Trainer trainer, int step, Batch b) => batch = step % every == 0 ? b : null;

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

/// <summary>
/// Santurkar et al. 2018, Fig. 4 (VGG) and Fig. 9 (deep linear network): how much the loss and the
/// gradient change along the gradient direction, with and without BN. The claim: with BN the loss
/// varies less, the gradient is more predictive and the effective β-smoothness is smaller.
/// </summary>
public sealed class Landscape : Experiment
{
    public override string Name => "landscape";
    public override string Figure => "Santurkar et al. 2018, Fig. 4 and Fig. 9";
    public override string Source => "Santurkar et al. 2018 §3.1, Fig. 4 (VGG) and Fig. 9 (DLN); seed 000 (BN makes the loss smoother), seed 002 (loss, gradient and β-smoothness steadier with BN)";
    public override string Claim => "BatchNorm makes the loss landscape smoother along the gradient: the loss varies less over a range of step sizes, the gradient changes less (more predictive), and the effective β-smoothness is smaller, on VGG and on the deep linear network.";

    /// <summary>VGG's step sizes as multiples of its learning rate: ½× to 4× (η ∈ [0.05, 0.4] at LR 0.1, as the paper).</summary>
    public (double From, double To) VggRange { get; init; } = (0.5, 4);
    /// <summary>The DLN's step sizes as multiples of its learning rate: 1/100× to 30×, as the paper.</summary>
    public (double From, double To) DlnRange { get; init; } = (0.01, 30);
    /// <summary>Log-spaced step sizes per probe (the paper does not say its spacing).</summary>
    public int GridPoints { get; init; } = 8;

    /// <summary>Steps between probes: each costs <see cref="GridPoints"/> forward-backward passes, so quick adds about 40% to a run.</summary>
    static int Every(Preset p) => p switch { Preset.Tiny => 5, Preset.Quick => 20, _ => 100 };

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null)
    {
        string grid(string net, (double From, double To) range) =>
            $"{GridPoints} log-spaced step sizes η from {F(range.From)}× to {F(range.To)}× the {net} learning rate";
        return ($"VGG: {Presets.Describe(preset, dataset)}, LR 0.1; {grid("VGG", VggRange)}. DLN: {Presets.DescribeDln(preset)}; {grid("DLN", DlnRange)}. " +
                $"Every {Every(preset)} steps, on that step's batch in training mode, with g the gradient the optimizer applies: the loss and gradient at w − η·g for each η. " +
                "Loss variation = max − min of the loss over the grid (the loss at w itself excluded); gradient predictiveness = max − min of ‖∇L(w) − ∇L(w − η·g)‖₂; β-smoothness = max of that norm over ‖η·g‖₂.",
            Presets.Deviations(preset, dataset) + " " + Presets.DlnDeviations + " The η grid's spacing and size are our choice. A probe where a grid point's loss or gradient is not finite is skipped in the means, and counted.");
    }

    static string F(double v) => v.ToString("G4", CultureInfo.InvariantCulture);

    static double[] LogSpaced(double from, double to, int count) =>
        Enumerable.Range(0, count).Select(i => from * Math.Pow(to / from, count == 1 ? 0 : (double)i / (count - 1))).ToArray();

    static readonly (string Name, Func<LandscapeMeasurement, double> Value)[] Measures =
        [("loss variation", m => m.LossVariation), ("gradient predictiveness", m => m.GradientPredictiveness), ("β-smoothness", m => m.BetaSmoothness)];

    static readonly string[] Networks = ["VGG", "DLN"];

    /// <summary>Per run: probes done, probes skipped as non-finite, the step it diverged at (if it did), and per measure (in <see cref="Measures"/> order) its mean and max over the finite probes.</summary>
    sealed record RunSummary(int Probes, int Skipped, int? DivergedAt, (double Mean, double Max)[] PerMeasure)
    {
        public double Mean(string measure) => PerMeasure[Array.FindIndex(Measures, x => x.Name == measure)].Mean;

        public string Outcome => DivergedAt is int step ? $"diverged at step {step}" : "done";
    }

    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var figures = new List<FigureData>();
        var rows = new List<IReadOnlyList<string>>();
        var numbers = new Dictionary<string, double>();
        var files = new List<string>();
        var summary = new Dictionary<(string Net, Norm Norm), RunSummary>();
        foreach (string net in Networks)
        {
            var range = net == "VGG" ? VggRange : DlnRange;
            var (lossSeries, predictivenessSeries, betaSeries) = (new List<Series>(), new List<Series>(), new List<Series>());
            foreach (var norm in (Norm[])[Norm.BatchNorm, Norm.None])
            {
                var config = net == "VGG" ? Presets.Vgg(context.Preset, norm, 0.1, context.Seed, context.Dataset) : Presets.Dln(context.Preset, norm, context.Seed);
                string label = $"{net} {(norm == Norm.BatchNorm ? "BN" : "standard")}";
                var etas = LogSpaced(range.From * config.LearningRate, range.To * config.LearningRate, GridPoints);
                LandscapeProbe? probe = null;
                var run = TrainedRun.Train(context, Name, label, config, t => [probe = new LandscapeProbe(t.Model, etas, Every(context.Preset), config.Loss)]);
                var m = probe!.Measurements;
                files.Add(WriteCsv(context, label, m));

                var finite = m.Where(x => x.IsFinite).ToList();
                var steps = finite.Select(x => (double)x.Step).ToArray();
                Series curve(Func<LandscapeMeasurement, double> value) =>
                    new(label, steps, finite.Select(value).ToArray()) { DivergedAt = run.Outcome.DivergedAtStep };
                lossSeries.Add(curve(x => x.Loss) with { Lower = finite.Select(x => x.Losses.Min()).ToArray(), Upper = finite.Select(x => x.Losses.Max()).ToArray() });
                predictivenessSeries.Add(curve(x => x.GradientPredictiveness));
                betaSeries.Add(curve(x => x.BetaSmoothness));

                var s = new RunSummary(m.Count, m.Count - finite.Count, run.Outcome.DivergedAtStep, Measures.Select(measure =>
                    finite.Count == 0 ? (double.NaN, double.NaN) : (finite.Average(measure.Value), finite.Max(measure.Value))).ToArray());
                summary[(net, norm)] = s;
                numbers[$"{label}: probes"] = s.Probes;
                numbers[$"{label}: non-finite probes"] = s.Skipped;
                for (int i = 0; i < Measures.Length; i++)
                {
                    numbers[$"{label}: mean {Measures[i].Name}"] = s.PerMeasure[i].Mean;
                    numbers[$"{label}: max {Measures[i].Name}"] = s.PerMeasure[i].Max;
                }
                rows.Add([label, s.Outcome, s.Probes.ToString(CultureInfo.InvariantCulture), s.Skipped.ToString(CultureInfo.InvariantCulture), .. s.PerMeasure.SelectMany(x => new[] { G(x.Mean), G(x.Max) })]);
            }
            string grid = $"η from {F(range.From)}× to {F(range.To)}× the learning rate";
            figures.Add(new FigureData($"{net}: loss along the gradient", $"Training-batch loss at w (line) and the range of L(w − η·g) over the grid, {grid} (band): the band's height is the loss variation.",
                "step", "loss", lossSeries, LogY: SpansDecades(lossSeries)));
            figures.Add(new FigureData($"{net}: gradient predictiveness", $"Range over the grid ({grid}) of ‖∇L(w) − ∇L(w − η·g)‖₂; smaller: the gradient is more predictive.",
                "step", "range of ‖∇L(w) − ∇L(w − η·g)‖₂", predictivenessSeries, LogY: SpansDecades(predictivenessSeries)));
            figures.Add(new FigureData($"{net}: effective β-smoothness", $"Max over the grid ({grid}) of ‖∇L(w) − ∇L(w − η·g)‖₂ / ‖η·g‖₂.",
                "step", "β-smoothness", betaSeries, LogY: SpansDecades(betaSeries)));
        }
        var table = new TableData("Landscape measures per run (over the probes with finite values)",
            ["run", "outcome", "probes", "non-finite", .. Measures.SelectMany(x => new[] { $"mean {x.Name}", $"max {x.Name}" })], rows);
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, Judge(summary), figures, [table], numbers, files, clock.Elapsed.TotalSeconds);
    }

    static string G(double v) => double.IsNaN(v) ? "-" : v.ToString("G4", CultureInfo.InvariantCulture);

    /// <summary>Whether the positive values of the series (bands included) span more than two decades, so a log axis shows them better.</summary>
    static bool SpansDecades(IEnumerable<Series> series) => RunFigures.SpansDecades(series.SelectMany(s => s.Y.Concat(s.Lower ?? []).Concat(s.Upper ?? [])));

    /// <summary>Writes the raw grid of every probe: step, η, L(w − η·g), ‖∇L(w) − ∇L(w − η·g)‖₂; returns the file name.</summary>
    string WriteCsv(ExperimentContext context, string label, IEnumerable<LandscapeMeasurement> measurements)
    {
        string file = TrainedRun.FileName(label) + ".landscape.csv";
        IO.AtomicFile.WriteAllText(Path.Combine(context.DirectoryOf(Name), file), "step,eta,loss,grad_difference\n" +
            string.Concat(measurements.SelectMany(m => m.Etas.Select((eta, i) =>
                string.Create(CultureInfo.InvariantCulture, $"{m.Step},{eta:R},{m.Losses[i]:R},{m.GradientChanges[i]:R}\n")))));
        return file;
    }

    /// <summary>
    /// Agrees when, on both VGG and the DLN, BN's mean loss variation and mean β-smoothness are below the
    /// standard network's; does not agree when both are above on both networks; inconclusive otherwise.
    /// </summary>
    static Verdict Judge(Dictionary<(string Net, Norm Norm), RunSummary> s)
    {
        string[] judged = ["loss variation", "β-smoothness"];
        string numbers = string.Join("; ", Networks.Select(net =>
        {
            var (bn, std) = (s[(net, Norm.BatchNorm)], s[(net, Norm.None)]);
            string skipped = bn.Skipped + std.Skipped == 0 ? "" : $", non-finite probes skipped: BN {bn.Skipped} of {bn.Probes}, standard {std.Skipped} of {std.Probes}";
            string diverged = bn.DivergedAt is null && std.DivergedAt is null ? "" : $", BN {bn.Outcome}, standard {std.Outcome}";
            return $"{net}: " + string.Join(", ", judged.Select(measure => $"mean {measure} BN {G(bn.Mean(measure))} vs standard {G(std.Mean(measure))}")) + skipped + diverged;
        }));
        if (s.Values.Any(x => x.Probes == x.Skipped)) return new(VerdictKind.Inconclusive, $"a run had no finite measurements ({numbers})");
        var comparisons = Networks.SelectMany(net => judged.Select(measure => s[(net, Norm.BatchNorm)].Mean(measure).CompareTo(s[(net, Norm.None)].Mean(measure)))).ToList();
        if (comparisons.All(c => c < 0)) return new(VerdictKind.Agrees, $"BN's landscape is smoother on both networks ({numbers})");
        if (comparisons.All(c => c > 0)) return new(VerdictKind.DoesNotAgree, $"BN's landscape is rougher on both networks ({numbers})");
        return new(VerdictKind.Inconclusive, $"BN is smoother on some of these only ({numbers})");
    }
}
