using System.Globalization;
using BatchNormLab.Data;
using BatchNormLab.Models;
using BatchNormLab.Nn;
using BatchNormLab.Training;

namespace BatchNormLab.Experiments;

/// <summary>One ICS measurement (Santurkar et al., Definition 2.1) of one layer at one step.</summary>
public sealed record IcsMeasurement(int Step, int Layer, double Distance, double Cosine);

/// <summary>
/// Measures internal covariate shift in the optimisation sense (Definition 2.1): at step t, on the
/// batch of that step, G = ∇_{W_i} L(W₁ᵗ, …, W_kᵗ) is the gradient the optimizer uses, and
/// G′ = ∇_{W_i} L(W₁ᵗ⁺¹, …, W_{i−1}ᵗ⁺¹, W_iᵗ, …, W_kᵗ) the gradient after only the parameters before
/// layer i took this step's update (the real update, momentum included). It records ‖G − G′‖₂ and
/// cos(G, G′). The extra evaluations restore the model exactly (running statistics included), so the
/// training trajectory is the one an unmeasured run takes.
/// </summary>
public sealed class IcsProbe(Module model, IReadOnlyList<int> layers, int every, LossKind loss) : ITrainingCallback
{
    public IReadOnlyList<int> Layers => layers;

    readonly IReadOnlyList<WeightLayer> weights = WeightLayer.Of(model);
    Batch? batch;
    double[]? before, gradient;

    public List<IcsMeasurement> Measurements { get; } = [];

    public void OnBatch(Trainer trainer, int step, Batch b) => batch = step % every == 0 ? b : null;

    public void OnGradient(Trainer trainer, StepMetrics m)
    {
        if (batch is null || !double.IsFinite(m.GradNorm)) return;
        before = Probes.Weights(model);
        gradient = Probes.Gradients(model);
    }

    public void OnStep(Trainer trainer, StepMetrics m)
    {
        if (batch is null || before is null || gradient is null) return;
        var after = Probes.Weights(model);
        foreach (int number in layers)
        {
            var layer = weights[number - 1];
            // Parameters before layer i at Wᵗ⁺¹, layer i and after at Wᵗ.
            var mixed = (double[])before.Clone();
            Array.Copy(after, mixed, layer.Offset);
            var (_, shifted) = ParameterVector.LossAndGradientAt(model, Tensor.FromArray(mixed, mixed.Length), Probes.LossOn(batch, loss));
            var g = Probes.Slice(gradient, layer);
            var gPrime = Probes.Slice(shifted.ToDoubleArray(), layer);
            Measurements.Add(new IcsMeasurement(m.Step, number, Probes.Distance(g, gPrime), Probes.Cosine(g, gPrime)));
        }
        (before, gradient, batch) = (null, null, null);
    }
}

/// <summary>
/// Santurkar et al. 2018, Fig. 3: ICS per layer over training for VGG (LR 0.1) and the 25-layer deep
/// linear network, each with and without BN. The claim: BN does not reduce this ICS; on the DLN it increases it.
/// </summary>
public sealed class Ics : Experiment
{
    public override string Name => "ics";
    public override string Figure => "Santurkar et al. 2018, Fig. 3";
    public override string Source => "Santurkar et al. 2018 §2.2, Definition 2.1, Fig. 3; seed 000 and seed 002 (BN does not reduce ICS; on the DLN it even increases it)";
    public override string Claim => "BatchNorm does not reduce internal covariate shift measured as the change of a layer's gradient when the layers before it update (‖G−G′‖₂, cos(G, G′)); on the deep linear network it even increases it.";

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"VGG: {Presets.Describe(preset, dataset)}, LR 0.1, ICS every {VggEvery(preset)} steps at the conv layers of the same relative depth as the paper's #5 and #10 of 13. " +
         $"DLN: {Presets.DescribeDln(preset)}, ICS every {DlnEvery} steps at layers 9 and 17.",
            Presets.Deviations(preset, dataset) + " " + Presets.DlnDeviations);

    static int VggEvery(Preset p) => p == Preset.Paper ? 250 : p == Preset.Quick ? 25 : 10;
    const int DlnEvery = 20;

    /// <summary>Layer 1 (a check: nothing moves before it, so its ICS is 0) and the paper's #5 and #10 of VGG-16's 13 convs, scaled to this model's convs (all weight layers but the head).</summary>
    static int[] VggLayers(Module model) => [1, .. WeightLayer.Scaled([5, 10], 13, WeightLayer.Of(model).Count - 1)];

    static readonly int[] DlnLayers = [1, 9, 17];

    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var figures = new List<FigureData>();
        var tables = new List<TableData>();
        var numbers = new Dictionary<string, double>();
        var files = new List<string>();
        var summary = new Dictionary<(string Net, Norm Norm), (double Distance, double OneMinusCos)>();
        foreach (var (net, every) in new[] { ("VGG", VggEvery(context.Preset)), ("DLN", DlnEvery) })
        {
            var rows = new List<IReadOnlyList<string>>();
            var distanceSeries = new List<Series>();
            var cosineSeries = new List<Series>();
            foreach (var norm in (Norm[])[Norm.BatchNorm, Norm.None])
            {
                var config = net == "VGG" ? Presets.Vgg(context.Preset, norm, 0.1, context.Seed, context.Dataset) : Presets.Dln(context.Preset, norm, context.Seed);
                string label = $"{net} {(norm == Norm.BatchNorm ? "BN" : "standard")}";
                IcsProbe? probe = null;
                TrainedRun.Train(context, Name, label, config, t => [probe = new IcsProbe(t.Model, net == "VGG" ? VggLayers(t.Model) : DlnLayers, every, config.Loss)]);
                var m = probe!.Measurements;
                var layers = probe.Layers;
                string file = TrainedRun.FileName(label) + ".ics.csv";
                IO.AtomicFile.WriteAllText(Path.Combine(context.DirectoryOf(Name), file), "step,layer,l2_difference,cosine\n" +
                    string.Concat(m.Select(x => string.Create(CultureInfo.InvariantCulture, $"{x.Step},{x.Layer},{x.Distance:R},{x.Cosine:R}\n"))));
                files.Add(file);
                foreach (int layer in layers)
                {
                    var at = m.Where(x => x.Layer == layer).ToList();
                    string name = $"{label}, layer #{layer}";
                    distanceSeries.Add(new Series(name, at.Select(x => (double)x.Step).ToArray(), at.Select(x => x.Distance).ToArray()));
                    cosineSeries.Add(new Series(name, at.Select(x => (double)x.Step).ToArray(), at.Select(x => x.Cosine).ToArray()));
                    double meanDistance = at.Count == 0 ? double.NaN : at.Average(x => x.Distance);
                    double meanCosine = at.Count == 0 ? double.NaN : at.Average(x => x.Cosine);
                    numbers[$"{name}: mean ‖G−G′‖"] = meanDistance;
                    numbers[$"{name}: mean cos(G,G′)"] = meanCosine;
                    rows.Add([label, $"#{layer}", at.Count.ToString(), meanDistance.ToString("G4", CultureInfo.InvariantCulture), meanCosine.ToString("F4", CultureInfo.InvariantCulture)]);
                }
                var deep = m.Where(x => x.Layer != 1).ToList();
                summary[(net, norm)] = deep.Count == 0 ? (double.NaN, double.NaN) : (deep.Average(x => x.Distance), deep.Average(x => 1 - x.Cosine));
            }
            figures.Add(new FigureData($"{net}: ‖G − G′‖₂", "ℓ2 change of a layer's gradient when the layers before it take their update (0 = no shift).", "step", "‖G − G′‖₂",
                distanceSeries.Where(s => !s.Label.EndsWith("#1", StringComparison.Ordinal)).ToList(), LogY: true));
            figures.Add(new FigureData($"{net}: cos(G, G′)", "Cosine between the gradient and the shifted gradient (1 = no shift).", "step", "cos(G, G′)",
                cosineSeries.Where(s => !s.Label.EndsWith("#1", StringComparison.Ordinal)).ToList()));
            tables.Add(new TableData($"{net}: ICS per layer (means over training; layer #1 is 0 by definition)", ["run", "layer", "measurements", "mean ‖G−G′‖₂", "mean cos(G,G′)"], rows));
        }
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, Judge(summary), figures, tables, numbers, files, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Judged on 1 − cos(G, G′), which does not depend on the gradient's scale (BN rescales gradients):
    /// agrees when BN's shift is not clearly lower on VGG (at least 0.8× the standard network's) and higher on the DLN.
    /// </summary>
    static Verdict Judge(Dictionary<(string Net, Norm Norm), (double Distance, double OneMinusCos)> s)
    {
        var (vggBn, vggStd, dlnBn, dlnStd) = (s[("VGG", Norm.BatchNorm)], s[("VGG", Norm.None)], s[("DLN", Norm.BatchNorm)], s[("DLN", Norm.None)]);
        string n(double v) => v.ToString("G3", CultureInfo.InvariantCulture);
        string numbers = $"mean 1−cos(G,G′): VGG BN {n(vggBn.OneMinusCos)} vs standard {n(vggStd.OneMinusCos)}; DLN BN {n(dlnBn.OneMinusCos)} vs standard {n(dlnStd.OneMinusCos)}. " +
                         $"Mean ‖G−G′‖₂: VGG BN {n(vggBn.Distance)} vs {n(vggStd.Distance)}; DLN BN {n(dlnBn.Distance)} vs {n(dlnStd.Distance)}";
        if (new[] { vggBn, vggStd, dlnBn, dlnStd }.Any(x => double.IsNaN(x.OneMinusCos))) return new(VerdictKind.Inconclusive, $"a run had no measurements ({numbers})");
        bool vggNotLower = vggBn.OneMinusCos >= 0.8 * vggStd.OneMinusCos;
        bool dlnHigher = dlnBn.OneMinusCos > dlnStd.OneMinusCos;
        if (vggNotLower && dlnHigher) return new(VerdictKind.Agrees, $"BN does not reduce ICS, and raises it on the DLN ({numbers})");
        if (!vggNotLower && !dlnHigher) return new(VerdictKind.DoesNotAgree, $"BN lowers ICS on both networks ({numbers})");
        return new(VerdictKind.Inconclusive, $"{(vggNotLower ? "VGG agrees, the DLN does not" : "the DLN agrees, VGG does not")} ({numbers})");
    }
}
