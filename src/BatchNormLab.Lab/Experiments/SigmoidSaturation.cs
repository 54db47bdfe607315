namespace BatchNormLab.Experiments;

/// <summary>
/// [IS15] §1 and §4.1: with a saturating nonlinearity, layer inputs drift into the sigmoid's flat tails
/// and training slows; BN keeps them in the linear middle. [IS15]'s own sigmoid experiment, a
/// 3×100 sigmoid MLP on MNIST (Fig. 1), with and without BN before each sigmoid, over the context's
/// seeds: the fraction of saturated units per layer over training, the distribution entering the most
/// saturated layer's sigmoids, and the training curves.
/// </summary>
public sealed class SigmoidSaturation : Experiment
{
    /// <inheritdoc/>
    public override string Name => "sigmoid";
    /// <inheritdoc/>
    public override string Figure => "Ioffe & Szegedy 2015 §1, §4.1, Fig. 1 (sigmoid MLP)";
    /// <inheritdoc/>
    public override string Source => "Ioffe & Szegedy 2015 §1 and §4.1, Fig. 1 (sigmoid MLP on MNIST); seed 001 and seed 003 (BN keeps sigmoid inputs out of saturation)";
    /// <inheritdoc/>
    public override string Claim => "With sigmoid activations and no BN, many units saturate (|pre-activation| beyond the threshold) and training is slow; with BN before each sigmoid few units saturate and the network trains faster.";

    /// <summary>A unit is saturated when its pre-activation's magnitude exceeds this (σ′(4) ≈ 0.018, 7% of the slope at 0).</summary>
    public double SaturationThreshold { get; init; } = 4;

    /// <summary>The SGD learning rate of both runs: the VGG experiments' 0.1 ([IS15] does not give its MNIST rate).</summary>
    public double LearningRate { get; init; } = 0.1;

    /// <summary>The saturation of the last fifth of the recordings is what the verdict compares.</summary>
    const double LateShare = 0.2;

    /// <summary>"Many more units saturate without BN": at least 5 percentage points more than with BN.</summary>
    public static readonly Rule MoreSaturated = new(Claimed.Greater, 0.05) { DisplayFactor = 100, Unit = "points" };

    /// <summary>"Few saturate with BN": at most 2% of the units (a unit Gaussian puts 0.006% beyond 4).</summary>
    public static readonly Rule FewSaturated = new(Claimed.NotGreater, 0.02) { DisplayFactor = 100, Unit = "points" };

    /// <summary>"Trains faster": BN's mean training loss over the run at least 10% lower (as lr-sweep's).</summary>
    public static readonly Rule Faster = Rule.Factor(Claimed.Less, 1.1);

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

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null)
    {
        var c = Config(preset, Norm.BatchNorm, 0, dataset);
        string hidden = string.Join("×", c.Model.Hidden!);
        return ($"MLP with hidden layers {hidden}, sigmoid activations, Glorot initialisation, with and without BN before each sigmoid; {c.Dataset}, plain SGD at LR {RunFigures.F(c.LearningRate)}, batch {c.BatchSize}, {c.Steps} steps, " +
                $"evaluated every {c.EvalEvery} steps on the whole test set, over the seeds. A unit is saturated when |pre-activation| > {RunFigures.F(SaturationThreshold)} (an option); the fraction is counted per layer on the training batch every {RecordEvery(c)} steps; " +
                $"saturation is the mean over layers of the last {RunFigures.Cell(LateShare, "P0")} of the recordings; training speed is the mean training loss over all steps (a diverged run's steps from divergence on at the chance loss). " +
                $"Rules, paired by seed: more saturated without BN: {MoreSaturated.Describe("saturated(without BN)", "saturated(BN)")}; few saturated with BN: {FewSaturated.Describe("saturated(BN)", "none")}; " +
                $"BN trains faster: {Faster.Describe("loss(BN)", "loss(without BN)")}. BN must train (precondition: above chance by 10 points).",
            (c.Dataset == "fashion-mnist" ? "Fashion-MNIST instead of MNIST. " : preset == Preset.Tiny ? "Not the paper's setting: a 3×32 MLP on a synthetic Gaussian mixture, so the code runs in seconds; its verdict says nothing about the paper. " : "") +
            (preset == Preset.Paper ? "" : $"{c.Steps} steps instead of 50,000. ") +
            "[IS15] does not give the learning rate or say how it initialised beyond small Gaussian weights; we use LR 0.1 (the VGG experiments' rate) and Glorot. " +
            "At LR 0.5 (tried once on quick) more units saturate without BN (19.5% late, 58% in the first layer) but its loss catches up with BN's (mean training loss 12% above BN's, final test accuracy 85.2% vs 84.5%). " +
            "An MLP, not the VGG: the quick VGG-11 with sigmoids and no BN does not train at all in 500 steps (11.0% test accuracy, chance, against 80.8% with BN, measured with `bnlab train --activation sigmoid`), so its saturation would measure nothing but a stuck network; the MLP is [IS15]'s own sigmoid experiment.");
    }

    /// <summary>One configuration's runs over the seeds, each with its saturation probe.</summary>
    sealed record Probed(SeededRuns Group)
    {
        /// <summary>Each seed's saturation probe (read when used, so a plan finds both configurations' runs first).</summary>
        public IReadOnlyList<SaturationProbe> Probes => [.. Group.Runs.Select(r => r.Probe<SaturationProbe>())];

        /// <summary>Per seed, the late saturated fraction averaged over layers.</summary>
        public SeedValues Saturation => new(Group.Label, Probes.Select(p => p.Late(LateShare).Values.Average()));
    }

    /// <summary>The key of layer <paramref name="layer"/>'s saturated fraction late in training of the runs <paramref name="run"/> (e.g. "sigmoid without BN"), mean over seeds: "sigmoid without BN: saturated fraction, layer 2 (late, mean over seeds)".</summary>
    public static ResultKey LayerSaturationKey(string run, int layer) => new(run, $"saturated fraction, layer {layer} (late, mean over seeds)");

    /// <summary>The key of the saturated fraction late in training of the runs <paramref name="run"/>, mean over layers and seeds: "sigmoid without BN: saturated fraction (late, mean over layers and seeds)".</summary>
    public static ResultKey SaturationKey(string run) => new(run, "saturated fraction (late, mean over layers and seeds)");

    /// <summary>The key of the mean training loss over all steps of the runs <paramref name="run"/>, mean over seeds: "sigmoid without BN: mean training loss over the run (mean over seeds)".</summary>
    public static ResultKey MeanTrainingLossKey(string run) => new(run, "mean training loss over the run (mean over seeds)");

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (plain, normalised) = (Train(context, Norm.None, "sigmoid without BN"), Train(context, Norm.BatchNorm, "sigmoid with BN"));
        Probed[] both = [plain, normalised];
        var groups = both.Select(p => p.Group).ToList();
        var runs = groups.SelectMany(g => g.Runs).ToList();
        var layers = plain.Probes[0].Layers;

        var numbers = new Dictionary<ResultKey, double>();
        foreach (var g in groups) g.AddNumbers(numbers);
        var rows = new List<IReadOnlyList<string>>();
        foreach (var p in both)
        {
            var late = p.Probes.Select(probe => probe.Late(LateShare)).ToList();
            foreach (int layer in layers)
            {
                double atStart = p.Probes.Average(probe => probe.Snapshots.Where(s => s.Step == 0 && s.Layer == layer).Select(s => s.Fraction).DefaultIfEmpty(double.NaN).First());
                double lateMean = late.Average(l => l[layer]);
                numbers[LayerSaturationKey(p.Group.Label, layer)] = lateMean;
                rows.Add([p.Group.Label, $"#{layer}", RunFigures.Cell(atStart, "P2"), RunFigures.Cell(lateMean, "P2"), string.Join(", ", late.Select(l => RunFigures.Cell(l[layer], "P2")))]);
            }
            numbers[SaturationKey(p.Group.Label)] = p.Saturation.Values.Average();
            numbers[MeanTrainingLossKey(p.Group.Label)] = p.Group.Values(LrSweep.MeanTrainingLoss).Values.Average();
        }

        static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var files = new List<string>
        {
            WriteCsv(context, "saturation.csv", both.SelectMany(p => p.Group.Runs.Zip(p.Probes).SelectMany(r => r.Second.Snapshots.Select(s => $"{p.Group.Label},{r.First.Config.Seed},{s.Step},{s.Layer},{R(s.Fraction)}")))
                .Prepend("run,seed,step,layer,saturated_fraction")),
        };
        files.AddRange(runs.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv"));
        var firstSeed = both.Select(p => (Run: p.Group.Runs[0], Probe: p.Probes[0])).ToList();
        int mostSaturated = plain.Probes[0].Late(LateShare).MaxBy(p => p.Value).Key;
        var saturationFigure = new FigureData("Saturated units per layer",
            $"Fraction of each hidden layer's units with |pre-activation| > {RunFigures.F(SaturationThreshold)} on the training batch, with and without BN (first seed).", "step", "saturated fraction",
            firstSeed.SelectMany(p => layers.Select(l => new Series($"{p.Run.Label}, layer #{l}",
                p.Probe.Snapshots.Where(s => s.Layer == l).Select(s => (double)s.Step).ToArray(), p.Probe.Snapshots.Where(s => s.Layer == l).Select(s => s.Fraction).ToArray()))).ToList());
        // The distribution of the layer that saturates most without BN: [IS15] Fig. 1 (b, c) draws one layer's percentiles over training.
        var figures = new List<FigureData> { SeededRuns.TrainingLoss(groups), RunFigures.TrainingAccuracy(firstSeed.Select(p => p.Run)), saturationFigure, RunFigures.ActivationBands(firstSeed.Select(p => p.Run), mostSaturated) };
        var tables = new List<TableData>
        {
            new($"Saturated fraction per layer (|pre-activation| > {RunFigures.F(SaturationThreshold)}): at step 0 and over the last {RunFigures.Cell(LateShare, "P0")} of training, mean over seeds", ["run", "layer", "at step 0", "late", "late, per seed"], rows),
            SeededRuns.Table(groups),
            RunFigures.Table(runs),
        };
        var verdict = Judge(normalised.Group.TestAccuracyPerSeed, plain.Saturation, normalised.Saturation,
            plain.Group.Values(LrSweep.MeanTrainingLoss), normalised.Group.Values(LrSweep.MeanTrainingLoss));
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict, figures, tables, numbers, files, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The MLP with <paramref name="norm"/> over the context's seeds, each run with its saturation probe and its distribution probe.</summary>
    Probed Train(ExperimentContext context, Norm norm, string label)
    {
        var runs = SeededRuns.Over(context, label, (runLabel, seed) =>
        {
            var config = Config(context.Preset, norm, seed, context.Dataset);
            return TrainedRun.Once(context, Name, runLabel, config, progress =>
            {
                SaturationProbe? probe = null;
                ActivationProbe? distribution = null;
                return TrainedRun.Train(context, Name, runLabel, config, t =>
                {
                    probe = new SaturationProbe(t.Model, SaturationThreshold, RecordEvery(config));
                    distribution = new ActivationProbe(t.Model, probe.Layers, RecordEvery(config));
                    return [probe, distribution];
                }, progress: progress) with { Activations = distribution, Probes = [probe!] };
            });
        });
        return new Probed(runs);
    }

    /// <summary>
    /// Per seed: BN trains (precondition); late in training, at least 5 points more units saturate without
    /// BN than with it; with BN at most 2% saturate; BN's mean training loss over the run is at least 10% lower.
    /// </summary>
    public static Verdict Judge(SeedValues accuracyBn, SeedValues saturatedPlain, SeedValues saturatedBn, SeedValues lossPlain, SeedValues lossBn) => Verdict.Of(
    [
        SeededRuns.Trains(accuracyBn),
        MoreSaturated.Judge("without BN many more units saturate than with BN", saturatedPlain, saturatedBn),
        FewSaturated.Judge("with BN few units saturate", saturatedBn, 0, "none"),
        Faster.Judge("with BN the network trains faster (mean training loss over the run)", lossBn, lossPlain),
    ]);
}
