namespace BatchNormLab.Experiments;

/// <summary>A measure of the BN network and of the standard network, one value per seed each (paired by seed).</summary>
public sealed record BnVsStandard(SeedValues Bn, SeedValues Standard);

/// <summary>The networks the Santurkar et al. probes (ics, landscape, theory) train, each with and without BN.</summary>
public enum ProbedNetwork
{
    /// <summary>VGG at LR 0.1 (Figs. 3 and 4, §4), with the ICS, landscape and theory probes.</summary>
    Vgg,
    /// <summary>The deep linear network at its training LR (Fig. 9), with the landscape probe.</summary>
    Dln,
    /// <summary>The deep linear network at a tenth of that LR, as Fig. 3 probes it (1e-7 against Fig. 9's 1e-6), with the ICS probe.</summary>
    IcsDln,
}

/// <summary>
/// The runs of ics, landscape and theory: each (network, norm, seed) is trained once per context with
/// every probe any of the three reads attached, and reused by the others. The probes restore the model
/// exactly after each measurement, so a probed run's trajectory is bitwise an unprobed run's; running
/// one of the three experiments alone pays for the others' probes on the same runs.
/// </summary>
public static class ProbedRuns
{
    /// <summary>The network's runs over the context's seeds; run labels end in ", seed k".</summary>
    public static SeededRuns Train(ExperimentContext context, string experiment, ProbedNetwork network, Norm norm)
    {
        string label = Label(network, norm);
        return SeededRuns.Over(context, label, (runLabel, seed) => Run(context, experiment, runLabel, network, Config(context, network, norm, seed)));
    }

    /// <summary>"VGG BN", "DLN standard", …</summary>
    public static string Label(ProbedNetwork network, Norm norm) => $"{(network == ProbedNetwork.Vgg ? "VGG" : "DLN")} {Presets.Label(norm)}";

    /// <summary>The training setting of <paramref name="network"/> with normalisation <paramref name="norm"/> and <paramref name="seed"/> on the context's preset (and dataset, for VGG).</summary>
    public static TrainConfig Config(ExperimentContext context, ProbedNetwork network, Norm norm, ulong seed) => network switch
    {
        ProbedNetwork.Vgg => Presets.Vgg(context.Preset, norm, 0.1, seed, context.Dataset),
        ProbedNetwork.Dln => Presets.Dln(context.Preset, norm, seed),
        _ => IcsDln(context.Preset, norm, seed),
    };

    /// <summary>The DLN as Fig. 3 trains it for ICS: <see cref="Presets.Dln"/> at a tenth of its learning rate.</summary>
    public static TrainConfig IcsDln(Preset preset, Norm norm, ulong seed)
    {
        var config = Presets.Dln(preset, norm, seed);
        return config with { LearningRate = config.LearningRate / 10 };
    }

    /// <summary>Steps between probes: VGG's cost a few forward-backward passes each (quick: about +80% on a run), the DLN's next to nothing.</summary>
    public static int Every(Preset preset, ProbedNetwork network) => (preset, network) switch
    {
        (Preset.Tiny, _) => 5,
        (Preset.Quick, ProbedNetwork.Vgg) => 25,
        (Preset.Quick, _) => 20,
        (_, ProbedNetwork.Vgg) => 250,
        _ => 100,
    };

    /// <summary>Every probe the three experiments read from <paramref name="network"/>'s runs, attached to <paramref name="trainer"/>.</summary>
    public static IReadOnlyList<ITrainingCallback> Attach(Trainer trainer, ProbedNetwork network, Preset preset)
    {
        var (model, config) = (trainer.Model, trainer.Config);
        int every = Every(preset, network);
        return network switch
        {
            ProbedNetwork.Vgg =>
            [
                new IcsProbe(model, Ics.VggLayers(model), every, config.Loss),
                new LandscapeProbe(model, Landscape.Grid(network, config.LearningRate), every, config.Loss),
                new TheoryProbe(model, Theory.Layers(model), every, config.Loss),
            ],
            ProbedNetwork.Dln => [new LandscapeProbe(model, Landscape.Grid(network, config.LearningRate), every, config.Loss)],
            _ => [new IcsProbe(model, Ics.DlnLayers, every, config.Loss)],
        };
    }

    /// <summary>The probe of type <typeparamref name="T"/> attached to a run of <see cref="Train"/>.</summary>
    public static T Probe<T>(this TrainedRun run) where T : ITrainingCallback => run.Probes.OfType<T>().Single();

    /// <summary>
    /// Per layer the mean of <paramref name="value"/> over the probes, then the geometric mean over the layers:
    /// the one number per run that is judged on the ratio scale (its log ratio between two runs is the mean of
    /// the layers' log ratios, so no layer outweighs another by its scale). NaN when a layer's mean is not finite and positive.
    /// </summary>
    public static double OverLayers<T>(IEnumerable<T> measurements, Func<T, int> layer, Func<T, double> value)
    {
        var means = measurements.GroupBy(layer).Select(g => g.Average(value)).ToList();
        return means.Count == 0 || means.Any(m => !(m > 0) || !double.IsFinite(m)) ? double.NaN : Math.Exp(means.Average(Math.Log));
    }

    /// <summary>Whether <paramref name="config"/> is one of the VGG runs probed here (BN or standard at LR 0.1): <see cref="TrainedRun.Shared"/> then attaches the probes.</summary>
    public static bool IsProbedVgg(ExperimentContext context, TrainConfig config) =>
        config.Model.Options.Norm is Norm.BatchNorm or Norm.None && config.ToJson() == Config(context, ProbedNetwork.Vgg, config.Model.Options.Norm, config.Seed).ToJson();

    /// <summary>The key a probed run is shared under (a DLN's differs from any unprobed run's).</summary>
    public static string Key(TrainConfig config) => "probed " + config.ToJson();

    static TrainedRun Run(ExperimentContext context, string experiment, string label, ProbedNetwork network, TrainConfig config)
    {
        // The VGG runs are the shared ones, which carry these probes (and the activation probe) whoever trains them first.
        if (network == ProbedNetwork.Vgg) return TrainedRun.Shared(context, experiment, label, config);
        var run = context.Shared(Key(config), experiment, label, config, progress =>
        {
            IReadOnlyList<ITrainingCallback> probes = [];
            return TrainedRun.Train(context, experiment, label, config, t => probes = Attach(t, network, context.Preset), progress: progress) with { Probes = probes };
        }, out bool own);
        if (own) return run;
        context.Progress.Message(experiment, $"{label}: the same run as {run.Experiment}'s, reused with its probes");
        return run with { Label = label };
    }
}
