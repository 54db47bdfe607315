using System.Globalization;
using BatchNormLab.Analysis;
using BatchNormLab.Data;
using BatchNormLab.Models;
using BatchNormLab.Nn;
using BatchNormLab.Training;

namespace BatchNormLab.Experiments;

/// <summary>One Hessian spectrum: a network at a step, with batch or population statistics.</summary>
public sealed record SpectrumSummary(
    string Network, string Statistics, int Step, double LambdaMax, double LambdaMin, double BulkEdge, int Outliers,
    double TopEnergy, int Products, double Seconds)
{
    /// <summary>λmax over the bulk edge: how far the top eigenvalue stands out of the bulk.</summary>
    public double Separation => LambdaMax / BulkEdge;

    /// <summary>λmax/|λmin|, Ghorbani et al.'s measure of how one-sided the spectrum is.</summary>
    public double Asymmetry => LambdaMax / Math.Abs(LambdaMin);
}

/// <summary>
/// Ghorbani et al. 2019 (PAPERS.md §4): the Hessian's eigenvalue density (stochastic Lanczos
/// quadrature) at points of training, for a VGG and a ResNet without BN, with BN (batch statistics:
/// the loss SGD optimises) and with BN using population statistics (eval mode, what PyHessian
/// computes). The claim: without BN, a few large isolated eigenvalues (outliers) stand out of the
/// bulk and the gradient concentrates in their eigenspace; with BN nearly none; they come back
/// when BN uses population statistics.
/// </summary>
public sealed class HessianSpectrum : Experiment
{
    public override string Name => "hessian";
    public override string Figure => "Ghorbani et al. 2019, Figs. 2–5 (Hessian spectra with and without BN)";
    public override string Source => "Ghorbani et al. 2019 §4 and §5, Figs. 2–5 and 11 (outliers, gradient in their span, population statistics); seed 004 (BN suppresses the outliers)";
    public override string Claim => "Without BN the Hessian has large outlier eigenvalues, isolated from the bulk, and the gradient lies mostly in their eigenspace; with BN (batch statistics) they nearly vanish; with BN's population statistics they come back.";

    /// <summary>
    /// Outliers are the top Ritz values above the widest gap among the largest <see cref="OutlierSearch"/>
    /// (the largest ratio θᵢ/θᵢ₊₁), when that gap is at least this ratio; else there are none.
    /// </summary>
    public const double OutlierGap = 2;

    /// <summary>How many of the largest Ritz values the gap is looked for among.</summary>
    public const int OutlierSearch = 20;

    /// <summary>The bulk edge: the weighted 99th percentile of |λ| under the density (outliers together weigh ~k/n, far less than 1%).</summary>
    public const double BulkQuantile = 0.99;

    /// <summary>The top-eigenspace size for the gradient's energy: the number of classes, as Ghorbani et al. (outliers ≈ classes).</summary>
    const int TopK = 10;

    sealed record Setting(int LanczosSteps, int Draws, int TopSteps, int Examples);

    static Setting SettingOf(Preset preset) => preset switch
    {
        Preset.Tiny => new(20, 1, 20, 64),
        Preset.Quick => new(90, 2, 30, 64),
        _ => new(90, 10, 90, 2048),
    };

    /// <summary>
    /// The ResNet run (trained here; the VGG runs are the shared ones at LR 0.1), at LR 0.01: at 0.1 the
    /// ResNet without BN diverges within a few steps (Bjorck et al.'s point), leaving nothing to compare.
    /// </summary>
    static TrainConfig ResNet(Preset preset, Norm norm, ulong seed, string? dataset) => new()
    {
        Model = new ModelSpec(preset == Preset.Paper ? "resnet32" : "resnet8", new ModelOptions(norm, Init: InitScheme.Kaiming)),
        Dataset = dataset ?? preset switch { Preset.Tiny => "gaussian-images", Preset.Quick => "fashion-mnist", _ => "cifar10" },
        Steps = preset switch { Preset.Tiny => 40, Preset.Quick => 300, _ => 15_000 },
        BatchSize = preset == Preset.Tiny ? 64 : 128,
        LearningRate = 0.01,
        Seed = seed,
        EvalEvery = preset switch { Preset.Tiny => 20, Preset.Quick => 100, _ => 1000 },
        TestLimit = preset == Preset.Quick ? 2000 : 0,
    };

    /// <summary>
    /// The steps whose models are analysed: a tenth of the way and the end (paper: half-way too). On
    /// quick the ResNet only at the end: its products cost several times the narrow VGG's.
    /// </summary>
    static int[] Points(TrainConfig config, Preset preset, bool resNet) =>
        preset == Preset.Quick && resNet ? [config.Steps]
        : [.. TrainedRun.SnapshotSteps(config).Where(s => preset == Preset.Paper || s == config.Steps / 10), config.Steps];

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null)
    {
        var s = SettingOf(preset);
        var vgg = Presets.Vgg(preset, Norm.BatchNorm, 0.1, 0, dataset);
        var resnet = ResNet(preset, Norm.BatchNorm, 0, dataset);
        return ($"VGG: {Presets.Describe(preset, dataset)}, LR 0.1. ResNet: {resnet.Model.Name} on {resnet.Dataset}, Kaiming init, plain SGD at LR 0.01, batch {resnet.BatchSize}, {resnet.Steps} steps. " +
                $"At steps {string.Join(", ", Points(vgg, preset, resNet: false))} (VGG) and {string.Join(", ", Points(resnet, preset, resNet: true))} (ResNet), the Hessian of the training loss on the first {s.Examples} training examples: " +
                $"its density by stochastic Lanczos quadrature ({s.LanczosSteps} Lanczos steps, {s.Draws} draw{(s.Draws == 1 ? "" : "s")}, σ² = 1e-5), the top {TopK} eigenpairs ({s.TopSteps} Lanczos steps) and the gradient's share in their span, " +
                $"for the network without BN, with BN in training mode (batch statistics) and with BN in eval mode (population statistics). " +
                $"Bulk edge = weighted {BulkQuantile:P0} quantile of |λ|; outliers are the Ritz values above the widest gap (largest ratio θᵢ/θᵢ₊₁) among the top {OutlierSearch}, when that ratio is at least {OutlierGap}, counted per draw and averaged.",
            Presets.Deviations(preset, dataset) + $" Ghorbani et al. use ResNet-32 and VGG on CIFAR-10 and ImageNet and the Hessian over the whole training set; we use {resnet.Model.Name} and {s.Examples} examples. " +
            "Their outlier count is read off the plots; ours is the stated threshold rule.");
    }

    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var setting = SettingOf(context.Preset);
        var summaries = new List<SpectrumSummary>();
        var figures = new List<FigureData>();
        var files = new List<string>();
        foreach (var network in new[] { "VGG", "ResNet" })
        {
            var runs = new Dictionary<Norm, TrainedRun>();
            foreach (var norm in (Norm[])[Norm.None, Norm.BatchNorm])
            {
                string label = $"{network} {Presets.Label(norm)}";
                runs[norm] = network == "VGG"
                    ? TrainedRun.Shared(context, Name, label, Presets.Vgg(context.Preset, norm, 0.1, context.Seed, context.Dataset))
                    : TrainedRun.Train(context, Name, label, ResNet(context.Preset, norm, context.Seed, context.Dataset));
            }
            var config = runs[Norm.BatchNorm].Config;
            var examples = context.Data(config.Dataset).Train.Take(setting.Examples);
            foreach (int step in Points(config, context.Preset, resNet: network == "ResNet"))
            {
                var series = new List<Series>();
                foreach (var (norm, mode, statistics) in new[] { (Norm.None, HessianMode.Training, "no BN"), (Norm.BatchNorm, HessianMode.Training, "BN, batch statistics"), (Norm.BatchNorm, HessianMode.Eval, "BN, population statistics") })
                {
                    var run = runs[norm];
                    if (run.Outcome.Diverged && step > (run.Outcome.DivergedAtStep ?? 0))
                    {
                        context.Progress.Message(Name, $"{network} {statistics} at step {step}: skipped, the run diverged at step {run.Outcome.DivergedAtStep}");
                        continue;
                    }
                    context.Progress.Message(Name, $"{network} {statistics} at step {step}: Hessian spectrum");
                    var (summary, density) = Analyse(network, statistics, step, run.ModelAt(step), examples, config.BatchSize, mode, setting, new Rng(context.Seed + (ulong)step));
                    summaries.Add(summary);
                    files.Add(WriteCsv(context, $"{TrainedRun.FileName($"{network} {statistics} step {step}")}.density.csv",
                        ["lambda,density", .. density.Grid.Zip(density.Density, (l, d) => string.Create(CultureInfo.InvariantCulture, $"{l:R},{d:R}"))]));
                    series.Add(DensitySeries(statistics, density));
                }
                figures.Add(new FigureData($"{network}, step {step}: Hessian eigenvalue density",
                    $"Density of the Hessian's eigenvalues (stochastic Lanczos quadrature, smoothed), log scale; outliers are the isolated bumps far right of the bulk.",
                    "eigenvalue λ", "density", series, LogY: true));
            }
        }
        var numbers = new Dictionary<string, double>();
        foreach (var s in summaries)
        {
            string key = $"{s.Network} {s.Statistics}, step {s.Step}";
            numbers[$"{key}: λmax"] = s.LambdaMax;
            numbers[$"{key}: λmax/bulk edge"] = s.Separation;
            numbers[$"{key}: outliers"] = s.Outliers;
            numbers[$"{key}: gradient energy in top {TopK}"] = s.TopEnergy;
        }
        var table = new TableData($"Spectra (bulk edge: weighted {BulkQuantile:P0} quantile of |λ|; outliers: Ritz values above the widest gap ≥ {OutlierGap}× among the top {OutlierSearch}; energy: share of ‖g‖² in the top-{TopK} eigenspace)",
            ["network", "statistics", "step", "λmax", "λmin", "λmax/|λmin|", "bulk edge", "λmax/edge", "outliers", $"energy in top {TopK}", "HVPs", "seconds"],
            summaries.Select(s => (IReadOnlyList<string>)[s.Network, s.Statistics, s.Step.ToString(CultureInfo.InvariantCulture), G(s.LambdaMax), G(s.LambdaMin), G(s.Asymmetry),
                G(s.BulkEdge), G(s.Separation), s.Outliers.ToString(CultureInfo.InvariantCulture), s.TopEnergy.ToString("P1", CultureInfo.InvariantCulture),
                s.Products.ToString(CultureInfo.InvariantCulture), s.Seconds.ToString("F1", CultureInfo.InvariantCulture)]).ToList());
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, Judge(summaries), figures, [table], numbers, files, clock.Elapsed.TotalSeconds);
    }

    static string G(double v) => v.ToString("G3", CultureInfo.InvariantCulture);

    static (SpectrumSummary, SpectralDensity) Analyse(string network, string statistics, int step, Module model, Dataset examples, int batchSize,
        HessianMode mode, Setting setting, Rng rng)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var op = HessianOperator.OnDataset(model, examples, LossKind.CrossEntropy, batchSize, mode);
        var density = SpectralDensity.Estimate(op, rng, setting.LanczosSteps, setting.Draws);
        var top = Lanczos.Top(op, TopK, setting.TopSteps, rng);
        var energy = GradientEnergy.Of(op, top);
        double edge = BulkEdge(density);
        double lambdaMax = density.Nodes.Max(n => n[^1]), lambdaMin = density.Nodes.Min(n => n[0]);
        int outliers = (int)Math.Round(density.Nodes.Average(Outliers));
        return (new SpectrumSummary(network, statistics, step, lambdaMax, lambdaMin, edge, outliers, energy.Shares[^1], op.Products, clock.Elapsed.TotalSeconds), density);
    }

    /// <summary>How many of one draw's Ritz values stand above the widest gap at the top of the spectrum (see <see cref="OutlierGap"/>).</summary>
    public static int Outliers(double[] ascendingRitzValues)
    {
        var top = ascendingRitzValues.Reverse().Take(OutlierSearch + 1).TakeWhile(theta => theta > 0).ToArray();
        int count = 0;
        double widest = OutlierGap;
        for (int i = 0; i + 1 < top.Length; i++)
            if (top[i] / top[i + 1] >= widest) (widest, count) = (top[i] / top[i + 1], i + 1);
        return count;
    }

    /// <summary>The weighted <see cref="BulkQuantile"/> quantile of |θ| over every draw's nodes (each draw weighing 1).</summary>
    public static double BulkEdge(SpectralDensity density)
    {
        var weighted = density.Nodes.SelectMany((n, d) => n.Select((theta, j) => (Magnitude: Math.Abs(theta), Weight: density.Weights[d][j] / density.Nodes.Length)))
            .OrderBy(x => x.Magnitude).ToList();
        double cumulative = 0;
        foreach (var (magnitude, weight) in weighted)
        {
            cumulative += weight;
            if (cumulative >= BulkQuantile) return magnitude;
        }
        return weighted[^1].Magnitude;
    }

    /// <summary>The density on at most 400 points (each the maximum of its stretch of the grid, so narrow outlier bumps survive), zeros dropped for the log scale.</summary>
    static Series DensitySeries(string label, SpectralDensity density)
    {
        int stride = Math.Max(1, density.Grid.Length / 400);
        var x = new List<double>();
        var y = new List<double>();
        for (int start = 0; start < density.Grid.Length; start += stride)
        {
            int end = Math.Min(start + stride, density.Grid.Length);
            int peak = start;
            for (int i = start; i < end; i++) if (density.Density[i] > density.Density[peak]) peak = i;
            x.Add(density.Grid[peak]);
            y.Add(density.Density[peak] > 1e-12 ? density.Density[peak] : double.NaN);
        }
        return new Series(label, [.. x], [.. y]);
    }

    /// <summary>
    /// Judged at the last step of each network, on λmax/bulk edge: agrees when, for both networks, the
    /// net without BN stands out more than BN with batch statistics, and BN with population statistics
    /// more than with batch statistics; does not agree when neither holds on either network.
    /// </summary>
    static Verdict Judge(IReadOnlyList<SpectrumSummary> summaries)
    {
        var parts = new List<string>();
        int agree = 0, disagree = 0, networks = 0;
        foreach (var network in summaries.Select(s => s.Network).Distinct())
        {
            int last = summaries.Where(s => s.Network == network).Max(s => s.Step);
            var at = summaries.Where(s => s.Network == network && s.Step == last).ToDictionary(s => s.Statistics);
            if (!at.TryGetValue("no BN", out var none) || !at.TryGetValue("BN, batch statistics", out var batch) || !at.TryGetValue("BN, population statistics", out var population))
            {
                parts.Add($"{network}: a run diverged before step {last}, not judged");
                continue;
            }
            networks++;
            bool withoutStandsOut = none.Separation > batch.Separation, populationStandsOut = population.Separation > batch.Separation;
            if (withoutStandsOut && populationStandsOut) agree++;
            if (!withoutStandsOut && !populationStandsOut) disagree++;
            parts.Add($"{network} at step {last}: λmax/bulk edge no BN {G(none.Separation)} ({none.Outliers} outliers, {none.TopEnergy:P0} of the gradient in the top {TopK}), " +
                      $"BN batch statistics {G(batch.Separation)} ({batch.Outliers}, {batch.TopEnergy:P0}), BN population statistics {G(population.Separation)} ({population.Outliers}, {population.TopEnergy:P0})");
        }
        string numbers = string.Join("; ", parts);
        if (networks == 0) return new(VerdictKind.Inconclusive, $"no network could be judged ({numbers})");
        if (agree == networks) return new(VerdictKind.Agrees, $"the top eigenvalue stands out of the bulk more without BN and with population statistics than with batch statistics ({numbers})");
        if (disagree == networks) return new(VerdictKind.DoesNotAgree, $"with batch statistics the top eigenvalue stands out at least as much as without BN and with population statistics ({numbers})");
        return new(VerdictKind.Inconclusive, $"the networks or the two comparisons disagree ({numbers})");
    }
}
