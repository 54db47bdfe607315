using System.Globalization;
using BatchNormLab.Models;
using BatchNormLab.Training;

namespace BatchNormLab.Experiments;

/// <summary>
/// [IS15] §1 and §4.1: with a saturating nonlinearity, layer inputs drift into the sigmoid's flat tails
/// and training slows; BN keeps them in the linear middle. [IS15]'s own sigmoid experiment, a
/// 3×100 sigmoid MLP on MNIST (Fig. 1), with and without BN before each sigmoid: the fraction of
/// saturated units per layer over training, the distribution entering the most saturated layer's sigmoids, and
/// the training curves.
/// </summary>
public sealed class SigmoidSaturation : Experiment
{
    public override string Name => "sigmoid";
    public override string Figure => "Ioffe & Szegedy 2015 §1, §4.1, Fig. 1 (sigmoid MLP)";
    public override string Source => "Ioffe & Szegedy 2015 §1 and §4.1, Fig. 1 (sigmoid MLP on MNIST); seed 001 and seed 003 (BN keeps sigmoid inputs out of saturation)";
    public override string Claim => "With sigmoid activations and no BN, many units saturate (|pre-activation| beyond the threshold) and training is slow; with BN before each sigmoid few units saturate and the network trains faster.";

    /// <summary>A unit is saturated when its pre-activation's magnitude exceeds this (σ′(4) ≈ 0.018, 7% of the slope at 0).</summary>
    public double SaturationThreshold { get; init; } = 4;

    /// <summary>The SGD learning rate of both runs: the VGG experiments' 0.1 ([IS15] does not give its MNIST rate).</summary>
    public double LearningRate { get; init; } = 0.1;

    /// <summary>The saturation of the last fifth of the recordings is what the verdict compares.</summary>
    const double LateShare = 0.2;

    /// <summary>The MLP of [IS15] §4.1 (3 hidden layers of 100 sigmoid units, batch 60) per preset; tiny: 3×32 on the Gaussian mixture.</summary>
    public TrainConfig Config(Preset preset, Norm norm, ulong seed, string? dataset = null)
    {
        var options = new ModelOptions(norm, Activation: Activation.Sigmoid, Init: InitScheme.Glorot);
        var config = preset switch
        {
            Preset.Tiny => new TrainConfig
            {
                Model = new ModelSpec("mlp", options, [32, 32, 32]), Dataset = "gaussian-mixture", Steps = 60, BatchSize = 60, EvalEvery = 20,
            },
            Preset.Quick => new TrainConfig
            {
                Model = new ModelSpec("mlp", options, [100, 100, 100]), Dataset = "fashion-mnist", Steps = 3000, BatchSize = 60, EvalEvery = 300,
            },
            _ => new TrainConfig
            {
                Model = new ModelSpec("mlp", options, [100, 100, 100]), Dataset = "fashion-mnist", Steps = 50_000, BatchSize = 60, EvalEvery = 2500,
            },
        };
        return config with { LearningRate = LearningRate, Seed = seed, Dataset = dataset ?? config.Dataset };
    }

    static int RecordEvery(TrainConfig config) => Math.Max(1, config.Steps / 60);

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null)
    {
        var c = Config(preset, Norm.BatchNorm, 0, dataset);
        string hidden = string.Join("×", c.Model.Hidden!);
        return ($"MLP with hidden layers {hidden}, sigmoid activations, Glorot initialisation, with and without BN before each sigmoid; {c.Dataset}, plain SGD at LR {RunFigures.F(c.LearningRate)}, batch {c.BatchSize}, {c.Steps} steps, " +
                $"evaluated every {c.EvalEvery} steps on the whole test set. A unit is saturated when |pre-activation| > {RunFigures.F(SaturationThreshold)} (an option); the fraction is counted per layer on the training batch every {RecordEvery(c)} steps; " +
                $"the verdict compares the mean over layers of the last {RunFigures.Cell(LateShare, "P0")} of the recordings.",
            (c.Dataset == "fashion-mnist" ? "Fashion-MNIST instead of MNIST. " : preset == Preset.Tiny ? "Not the paper's setting: a 3×32 MLP on a synthetic Gaussian mixture, so the code runs in seconds; its verdict says nothing about the paper. " : "") +
            (preset == Preset.Paper ? "" : $"{c.Steps} steps instead of 50,000. ") +
            "[IS15] does not give the learning rate or say how it initialised beyond small Gaussian weights; we use LR 0.1 (the VGG experiments' rate) and Glorot. " +
            "At LR 0.5 (tried once on quick) more units saturate without BN (19.5% late, 58% in the first layer) but its loss catches up with BN's (mean training loss 12% above BN's, final test accuracy 85.2% vs 84.5%). " +
            "An MLP, not the VGG: the quick VGG-11 with sigmoids and no BN does not train at all in 500 steps (11.0% test accuracy, chance, against 80.8% with BN, measured with `bnlab train --activation sigmoid`), so its saturation would measure nothing but a stuck network; the MLP is [IS15]'s own sigmoid experiment.");
    }

    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var runs = new List<TrainedRun>();
        var saturation = new List<SaturationProbe>();
        foreach (var norm in (Norm[])[Norm.None, Norm.BatchNorm])
        {
            var config = Config(context.Preset, norm, context.Seed, context.Dataset);
            SaturationProbe? probe = null;
            ActivationProbe? distribution = null;
            var run = TrainedRun.Train(context, Name, norm == Norm.None ? "sigmoid without BN" : "sigmoid with BN", config, t =>
            {
                probe = new SaturationProbe(t.Model, SaturationThreshold, RecordEvery(config));
                distribution = new ActivationProbe(t.Model, probe.Layers, RecordEvery(config));
                return [probe, distribution];
            });
            runs.Add(run with { Activations = distribution });
            saturation.Add(probe!);
        }
        var (plain, normalised) = (runs[0], runs[1]);
        var layers = saturation[0].Layers;

        var numbers = new Dictionary<string, double>();
        RunFigures.AddNumbers(numbers, runs);
        var late = saturation.Select(p => p.Late(LateShare)).ToList();
        var rows = new List<IReadOnlyList<string>>();
        for (int i = 0; i < runs.Count; i++)
        {
            var first = saturation[i].Snapshots.Where(s => s.Step == 0).ToDictionary(s => s.Layer, s => s.Fraction);
            foreach (int layer in layers)
            {
                numbers[$"{runs[i].Label}: saturated fraction, layer {layer} (late)"] = late[i][layer];
                rows.Add([runs[i].Label, $"#{layer}", RunFigures.Cell(first.GetValueOrDefault(layer, double.NaN), "P2"), RunFigures.Cell(late[i][layer], "P2")]);
            }
            numbers[$"{runs[i].Label}: saturated fraction (late, mean over layers)"] = late[i].Values.Average();
            numbers[$"{runs[i].Label}: mean training loss over the run"] = MeanLoss(runs[i]);
        }
        double target = TargetAccuracy(runs);
        foreach (var r in runs) numbers[$"{r.Label}: steps to {RunFigures.Cell(target, "P0")} training accuracy"] = StepsTo(r, target);

        static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var files = new List<string>
        {
            WriteCsv(context, "saturation.csv", runs.Zip(saturation).SelectMany(p => p.Second.Snapshots.Select(s => $"{p.First.Label},{s.Step},{s.Layer},{R(s.Fraction)}"))
                .Prepend("run,step,layer,saturated_fraction")),
        };
        files.AddRange(runs.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv"));
        var mostSaturated = late[0].MaxBy(p => p.Value);
        var saturationFigure = new FigureData("Saturated units per layer",
            $"Fraction of each hidden layer's units with |pre-activation| > {RunFigures.F(SaturationThreshold)} on the training batch, with and without BN.", "step", "saturated fraction",
            runs.Zip(saturation).SelectMany(p => layers.Select(l => new Series($"{p.First.Label}, layer #{l}",
                p.Second.Snapshots.Where(s => s.Layer == l).Select(s => (double)s.Step).ToArray(), p.Second.Snapshots.Where(s => s.Layer == l).Select(s => s.Fraction).ToArray()))).ToList());
        // The distribution of the layer that saturates most without BN: [IS15] Fig. 1 (b, c) draws one layer's percentiles over training.
        var figures = new List<FigureData> { RunFigures.TrainingLoss(runs), RunFigures.TrainingAccuracy(runs), saturationFigure, RunFigures.ActivationBands(runs, mostSaturated.Key) };
        var tables = new List<TableData>
        {
            new($"Saturated fraction per layer (|pre-activation| > {RunFigures.F(SaturationThreshold)}): at step 0 and over the last {RunFigures.Cell(LateShare, "P0")} of training", ["run", "layer", "at step 0", "late"], rows),
            RunFigures.Table(runs),
        };
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, Judge(plain, normalised, late[0].Values.Average(), late[1].Values.Average(), mostSaturated, target),
            figures, tables, numbers, files, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The training loss averaged over every step: lower means the run got down faster (the area under its curve).</summary>
    static double MeanLoss(TrainedRun r) => r.Outcome.Diverged ? double.PositiveInfinity : r.Steps.Average(s => s.Loss);

    /// <summary>90% of the better final training accuracy of the runs: a level both could reach, so "steps to reach it" compares speed.</summary>
    static double TargetAccuracy(IEnumerable<TrainedRun> runs) => 0.9 * runs.Max(r => double.IsNaN(r.FinalTrainAccuracy()) ? 0 : r.FinalTrainAccuracy());

    /// <summary>The first step at which the 20-step mean training accuracy reaches <paramref name="target"/>; NaN when it never does.</summary>
    static double StepsTo(TrainedRun r, double target)
    {
        var smoothed = RunFigures.Smoothed(r, s => s.Accuracy);
        int i = Array.FindIndex(smoothed.Y, y => y >= target);
        return i < 0 ? double.NaN : smoothed.X[i];
    }

    /// <summary>
    /// Agrees when, late in training, the network without BN has at least 5 points more saturated units
    /// than with BN and at least twice as many, and BN's mean training loss over the run is at least 10%
    /// lower (single seed: these margins are far above the step-to-step noise of a fraction over
    /// thousands of units, and of a loss averaged over thousands of steps). Does not agree when the
    /// network without BN saturates no more than with BN (within 1 point) or BN trains no faster;
    /// inconclusive in between.
    /// </summary>
    Verdict Judge(TrainedRun plain, TrainedRun normalised, double saturatedPlain, double saturatedBn, KeyValuePair<int, double> mostSaturated, double target)
    {
        double lossPlain = MeanLoss(plain), lossBn = MeanLoss(normalised);
        string P(double v) => RunFigures.Cell(v, "P1");
        string steps(TrainedRun r) => StepsTo(r, target) is double s && !double.IsNaN(s) ? $"{RunFigures.F(s)} steps" : "never";
        string reason = $"saturated units (|x| > {RunFigures.F(SaturationThreshold)}, last {RunFigures.Cell(LateShare, "P0")} of training, mean over layers): {P(saturatedPlain)} without BN (most in layer #{mostSaturated.Key}: {P(mostSaturated.Value)}), {P(saturatedBn)} with BN; " +
                        $"mean training loss over the run {RunFigures.F(lossPlain)} without BN, {RunFigures.F(lossBn)} with BN; to {RunFigures.Cell(target, "P0")} training accuracy: {steps(plain)} without BN, {steps(normalised)} with BN; " +
                        $"{RunFigures.Summary(plain)} without BN, {RunFigures.Summary(normalised)} with BN";
        bool moreSaturated = saturatedPlain - saturatedBn >= 0.05 && saturatedPlain >= 2 * saturatedBn, faster = lossBn <= 0.9 * lossPlain;
        if (moreSaturated && faster) return new(VerdictKind.Agrees, $"without BN many more units saturate and training is slower ({reason})");
        if (!(saturatedPlain > saturatedBn + 0.01) || !(lossBn < lossPlain))
            return new(VerdictKind.DoesNotAgree, $"{(!(saturatedPlain > saturatedBn + 0.01) ? "without BN no more units saturate than with BN" : "BN does not train faster")} ({reason})");
        return new(VerdictKind.Inconclusive, $"{(moreSaturated ? "more units saturate without BN, but BN trains less than 10% faster" : "without BN somewhat more units saturate, but fewer than 5 points or twice BN's more")} ({reason})");
    }
}
