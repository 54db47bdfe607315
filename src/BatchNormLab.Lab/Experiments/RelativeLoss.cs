using System.Globalization;
using BatchNormLab.Data;
using BatchNormLab.Models;
using BatchNormLab.Nn;
using BatchNormLab.Training;

namespace BatchNormLab.Experiments;

/// <summary>
/// Bjorck et al. 2018, Fig. 3: the relative loss L(w − η·g)/L(w) on one mini-batch, g its gradient,
/// for log-spaced η, on several mini-batches at initialisation, with and without BN. The claim:
/// without BN one step of η ≈ 1e-3 already diverges (relative loss above 1e3); with BN it does not over the range.
/// </summary>
public sealed class RelativeLoss : Experiment
{
    public override string Name => "relative-loss";
    public override string Figure => "Bjorck et al. 2018, Fig. 3";
    public override string Source => "Bjorck et al. 2018 §3, Fig. 3 (relative loss of one step on mini-batches 1, 4, 7); seed 003 (Understanding BN)";
    public override string Claim => "At initialisation, without BN one gradient step on a mini-batch makes that mini-batch's loss explode (relative loss L(w − ηg)/L(w) above 1e3) from small step sizes (η ≈ 1e-3) on; with BN the relative loss stays small over η up to 1e-1.";

    /// <summary>The mini-batches measured, numbered from 1 in the first epoch (the paper's 1, 4 and 7).</summary>
    public IReadOnlyList<int> MiniBatches { get; init; } = [1, 4, 7];

    /// <summary>Step sizes: three per decade from 1e-5 to 1e-1, as the paper's range.</summary>
    public IReadOnlyList<double> Etas { get; init; } = Enumerable.Range(0, 13).Select(i => Math.Pow(10, -5 + i / 3.0)).ToArray();

    /// <summary>The paper's divergence threshold on the relative loss.</summary>
    public const double Divergence = 1e3;

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{InitialResNet.Describe(preset, dataset)}. For mini-batches {string.Join(", ", MiniBatches)}: g = ∇L(w) on the mini-batch, then L(w − η·g)/L(w) on the same mini-batch for {Etas.Count} log-spaced η from {F(Etas[0])} to {F(Etas[^1])}. Divergence: relative loss above {F(Divergence)} (or not finite).",
            InitialResNet.Deviations(preset, dataset) + " The paper measures at the start of training; we measure all mini-batches at the initial weights.");

    static string F(double v) => RunFigures.F(v);

    /// <summary>L(w − η·g)/L(w) for each η on <paramref name="batch"/>, with g = ∇L(w) there, in the model's mode; the model is left as it was.</summary>
    public static double[] Measure(Module model, Batch batch, IReadOnlyList<double> etas)
    {
        var loss = Probes.LossOn(batch, LossKind.CrossEntropy);
        var weights = ParameterVector.Flatten(model.Parameters());
        var (here, gradient) = ParameterVector.LossAndGradientAt(model, weights, loss);
        var (w, g) = (weights.ToDoubleArray(), gradient.ToDoubleArray());
        return etas.Select(eta => ParameterVector.LossAt(model, Probes.Stepped(w, g, eta), m => loss(m).Item()) / here).ToArray();
    }

    /// <summary>The smallest η whose relative loss diverges, or +∞ when none does.</summary>
    double FirstDivergence(double[] relative) =>
        Etas.Where((_, i) => !(relative[i] <= Divergence)).DefaultIfEmpty(double.PositiveInfinity).Min();

    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var figures = new List<FigureData>();
        var rows = new List<IReadOnlyList<string>>();
        var numbers = new Dictionary<string, double>();
        var csv = new List<string> { "network,mini_batch,eta,relative_loss" };
        var first = new Dictionary<Norm, double>();
        foreach (var norm in (Norm[])[Norm.BatchNorm, Norm.None])
        {
            string net = Presets.Label(norm);
            var (model, batches) = InitialResNet.Build(context, norm, MiniBatches);
            var series = new List<Series>();
            first[norm] = double.PositiveInfinity;
            foreach (var batch in batches)
            {
                int number = batch.Index + 1;
                context.Progress.Message(Name, $"{net}: mini-batch {number}");
                var relative = Measure(model, batch, Etas);
                double diverges = FirstDivergence(relative);
                first[norm] = Math.Min(first[norm], diverges);
                series.Add(new Series($"mini-batch {number}", Etas.ToArray(), relative));
                csv.AddRange(Etas.Select((eta, i) => string.Create(CultureInfo.InvariantCulture, $"{net},{number},{eta:R},{relative[i]:R}")));
                numbers[$"{net}, mini-batch {number}: first diverging η"] = diverges;
                numbers[$"{net}, mini-batch {number}: relative loss at the largest η (NaN: overflow)"] = relative[^1];
                rows.Add([net, number.ToString(CultureInfo.InvariantCulture), double.IsFinite(diverges) ? F(diverges) : "none",
                    .. Decades().Select(i => double.IsFinite(relative[i]) ? RunFigures.F(relative[i]) : "overflow")]);
            }
            numbers[$"{net}: first diverging η"] = first[norm];
            figures.Add(new FigureData($"{net}: relative loss", $"L(w − η·g)/L(w) on the mini-batch whose gradient g is; above {F(Divergence)} counts as divergence; a line ends where the loss overflowed.",
                "step size η", "relative loss", series, LogX: true, LogY: true));
        }
        string file = WriteCsv(context, "relative-loss.csv", csv);
        var table = new TableData("Relative loss per mini-batch (first diverging η: the smallest with relative loss above 1e3)",
            ["network", "mini-batch", "first diverging η", .. Decades().Select(i => $"η = {F(Etas[i])}")], rows);
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, Judge(first[Norm.BatchNorm], first[Norm.None]), figures, [table], numbers, [file], clock.Elapsed.TotalSeconds);
    }

    /// <summary>Grid indices of whole decades of η, the table's columns.</summary>
    IEnumerable<int> Decades() => Enumerable.Range(0, Etas.Count).Where(i => Math.Abs(Math.Log10(Etas[i]) - Math.Round(Math.Log10(Etas[i]))) < 1e-9);

    /// <summary>
    /// From the smallest diverging η over the mini-batches: agrees when the standard net diverges at
    /// η ≤ 1e-2 and BN either never does or only at a 100× larger η; does not agree when the standard
    /// net never diverges or BN diverges no later than it; inconclusive otherwise.
    /// </summary>
    static Verdict Judge(double bn, double standard)
    {
        static string At(double eta) => double.IsFinite(eta) ? $"at η = {F(eta)}" : "nowhere in the range";
        string numbers = $"relative loss first above {F(Divergence)}: standard {At(standard)}, BN {At(bn)}";
        if (double.IsPositiveInfinity(standard)) return new(VerdictKind.DoesNotAgree, $"the standard net does not diverge ({numbers})");
        if (bn <= standard) return new(VerdictKind.DoesNotAgree, $"BN diverges no later than the standard net ({numbers})");
        if (standard <= 1e-2 && bn >= 100 * standard) return new(VerdictKind.Agrees, $"without BN small steps diverge, with BN they do not ({numbers})");
        return new(VerdictKind.Inconclusive, $"BN diverges later, but not by the margin the paper shows ({numbers})");
    }
}
