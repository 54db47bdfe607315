using BatchNormLab.Analysis;
using BatchNormLab.Kernels;

namespace BatchNormLab.Experiments;

/// <summary>One Hessian spectrum: a network of one seed at a step, with batch or population statistics.</summary>
public sealed record SpectrumSummary(
    string Network, string Statistics, ulong Seed, int Step, double LambdaMax, double LambdaMin, double BulkEdge, int Outliers,
    double TopEnergy, int Products, double Seconds)
{
    /// <summary>λmax over the bulk edge: how far the top eigenvalue stands out of the bulk.</summary>
    public double Separation => LambdaMax / BulkEdge;

    /// <summary>λmax/|λmin|: seed 004's reading of Ghorbani et al.'s Fig. 6 (λmax/λmin over training).</summary>
    public double Asymmetry => LambdaMax / Math.Abs(LambdaMin);

    /// <summary>A spectrum that could not be taken (the run diverged before the step): every measure NaN.</summary>
    public static SpectrumSummary Missing(string network, string statistics, ulong seed, int step) =>
        new(network, statistics, seed, step, double.NaN, double.NaN, double.NaN, 0, double.NaN, 0, 0);
}

/// <summary>Per seed, one measure of the network without BN and with BN (batch statistics) at one step.</summary>
public sealed record SpectrumPair(SeedValues None, SeedValues Batch);

/// <summary>What is judged at one step of training: outlier separation, λmax/|λmin| and the gradient's share in the top eigenspace, without and with BN.</summary>
public sealed record SpectraAtStep(int Step, SpectrumPair Separation, SpectrumPair Asymmetry, SpectrumPair Energy);

/// <summary>One network's numbers for the verdict: early in training, at the end, the end's separation with population statistics, and each net's test accuracy.</summary>
public sealed record NetworkSpectra(string Network, SeedValues AccuracyNone, SeedValues AccuracyBatch, SpectraAtStep Early, SpectraAtStep End, SeedValues PopulationSeparation);

/// <summary>
/// Ghorbani et al. 2019: the Hessian's eigenvalue density (stochastic Lanczos
/// quadrature) early in training and at its end, over seeds, for the network without BN, with BN
/// (batch statistics: the loss SGD optimises) and with BN using [IS15]'s population statistics
/// (eval mode, statistics recomputed over training batches). Each sub-claim of Ghorbani's findings is
/// judged over the seeds by a rule fixed here: large isolated outliers without BN, nearly none with
/// BN, back with population statistics; the top eigenvalue's dominance over training (seed 004's
/// reading of Fig. 6); the gradient's concentration in the top eigenspace (Fig. 11).
/// </summary>
public sealed class HessianSpectrum : Experiment
{
    /// <inheritdoc/>
    public override string Name => "hessian";
    /// <inheritdoc/>
    public override string Figure => "Ghorbani et al. 2019, Figs. 2–6, 11 (Hessian spectra with and without BN)";
    /// <inheritdoc/>
    public override string Source => "Ghorbani et al. 2019 (abstract; §5 and its figures of spectra with and without BN, population statistics; Fig. 11, gradient energy in the outlier subspace); seed 004 (BN suppresses the outliers; Fig. 6 as λmax/λmin over training; Fig. 11)";
    /// <inheritdoc/>
    public override string Claim => "In non-batch-normalised networks large isolated eigenvalues (outliers) appear rapidly in the Hessian's spectrum, along with a concentration of the gradient in their eigenspace; in batch-normalised networks both effects are almost absent; with BN's population statistics instead of the mini-batch's the outliers come back.";

    /// <summary>
    /// "Large isolated outliers": λmax at least this many times the bulk edge (an order of magnitude
    /// beyond the value below which 99% of the spectrum lies). The same threshold decides "nearly
    /// vanish" (below it) and "come back" (above it again).
    /// </summary>
    public const double OutlierThreshold = 10;

    /// <summary>Separation above <see cref="OutlierThreshold"/> beyond the seeds' noise: d = ln(λmax/edge ÷ threshold) &gt; 0.</summary>
    public static readonly Rule AboveThreshold = Rule.Factor(Claimed.Greater, 1);

    /// <summary>Separation below <see cref="OutlierThreshold"/> beyond the seeds' noise.</summary>
    public static readonly Rule BelowThreshold = Rule.Factor(Claimed.Less, 1);

    /// <summary>"Nearly vanish", against the network without BN: BN's separation at least 10× smaller.</summary>
    public static readonly Rule NearlyVanish = Rule.Factor(Claimed.Less, 10);

    /// <summary>Over training (Fig. 6 as seed 004 reads it), λmax/|λmin| without BN at least twice BN's.</summary>
    public static readonly Rule Dominance = Rule.Factor(Claimed.Greater, 2);

    /// <summary>"The gradient concentrates in the outliers' eigenspace": its share of ‖g‖² there above <see cref="MostOfTheGradient"/>.</summary>
    public static readonly Rule Concentrated = new(Claimed.Greater, 0);

    /// <summary>"Mostly": more than half of ‖g‖².</summary>
    public const double MostOfTheGradient = 0.5;

    /// <summary>"Almost absent" with BN: the gradient's share in the top eigenspace at least 0.2 (of ‖g‖²) below no-BN's.</summary>
    public static readonly Rule LessConcentrated = new(Claimed.Less, 0.2);

    /// <summary>Outliers are the top Ritz values above the widest gap among the largest <see cref="OutlierSearch"/> (the largest ratio θᵢ/θᵢ₊₁), when that gap is at least this ratio; reported, not judged.</summary>
    public const double OutlierGap = 2;

    /// <summary>How many of the largest Ritz values the gap is looked for among.</summary>
    public const int OutlierSearch = 20;

    /// <summary>The bulk edge: the weighted 99th percentile of |λ| under the density (outliers together weigh ~k/n, far less than 1%).</summary>
    public const double BulkQuantile = 0.99;

    /// <summary>The top-eigenspace size for the gradient's energy: the number of classes, as Ghorbani et al. (outliers ≈ classes).</summary>
    public const int TopK = 10;

    /// <param name="LanczosSteps">Steps of each Lanczos process (its Ritz values are the density's nodes; the first draw's top Ritz vectors span the top eigenspace).</param>
    /// <param name="Draws">Random starting vectors the spectral density is averaged over (stochastic Lanczos quadrature), one Lanczos process each.</param>
    /// <param name="Examples">The Hessian's training examples (the first ones of the training set), in batches of the training batch size.</param>
    /// <param name="PopulationBatches">Training batches [IS15]'s population statistics are averaged over.</param>
    sealed record Setting(int LanczosSteps, int Draws, int Examples, int PopulationBatches);

    static Setting SettingOf(Preset preset) => preset switch
    {
        Preset.Tiny => new(12, 1, 128, 4),
        Preset.Quick => new(20, 1, 1024, 40),
        _ => new(90, 10, 4096, 200),
    };

    /// <summary>The networks analysed: on quick the VGG only (the ResNet's own training and products would take several times the budget).</summary>
    static string[] Networks(Preset preset) => preset == Preset.Quick ? ["VGG"] : ["VGG", "ResNet"];

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

    static TrainConfig Config(string network, Preset preset, Norm norm, ulong seed, string? dataset) =>
        network == "VGG" ? Presets.Vgg(preset, norm, 0.1, seed, dataset) : ResNet(preset, norm, seed, dataset);

    /// <summary>The steps analysed: a tenth of the way ("early", when Ghorbani's outliers have already appeared) and the end; on paper half-way too.</summary>
    static int[] Points(TrainConfig config, Preset preset) =>
        [.. TrainedRun.SnapshotSteps(config).Where(s => preset == Preset.Paper || s == config.Steps / 10), config.Steps];

    /// <summary>The Hessian of the network without BN (training mode).</summary>
    public const string NoBn = "no BN";
    /// <summary>The Hessian of the BN network with batch statistics (training mode).</summary>
    public const string BatchStatistics = "BN, batch statistics";
    /// <summary>The Hessian of the BN network with population statistics recomputed over training batches (eval mode), at the end of training.</summary>
    public const string PopulationStatistics = "BN, population statistics";

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null)
    {
        var s = SettingOf(preset);
        var vgg = Presets.Vgg(preset, Norm.BatchNorm, 0.1, 0, dataset);
        var resnet = ResNet(preset, Norm.BatchNorm, 0, dataset);
        string networks = preset == Preset.Quick
            ? $"VGG: {Presets.Describe(preset, dataset)}, LR 0.1 (the shared runs), at steps {string.Join(" and ", Points(vgg, preset))}"
            : $"VGG: {Presets.Describe(preset, dataset)}, LR 0.1 (the shared runs), at steps {string.Join(", ", Points(vgg, preset))}; ResNet: {resnet.Model.Name} on {resnet.Dataset}, Kaiming init, plain SGD at LR 0.01, batch {resnet.BatchSize}, {resnet.Steps} steps, at steps {string.Join(", ", Points(resnet, preset))}";
        string settings = $"{networks}; each over the context's seeds. The Hessian of the training loss on the first {s.Examples} training examples, in batches of the training batch: " +
            $"its density by stochastic Lanczos quadrature ({s.LanczosSteps} Lanczos steps, {s.Draws} draw{(s.Draws == 1 ? "" : "s")}, σ² = 1e-5); the top {TopK} Ritz pairs of the first draw's Lanczos process and the gradient's share ‖P₁₀g‖²/‖g‖² in their span; " +
            $"for the network without BN, with BN in training mode (batch statistics) and, at the end, with BN in eval mode using [IS15]'s population statistics recomputed over {s.PopulationBatches} training batches. " +
            $"Outlier separation S = λmax / bulk edge, the bulk edge the weighted {BulkQuantile:P0} quantile of |λ| under the density; large isolated outliers ⇔ S > {OutlierThreshold}. " +
            $"Rules, fixed before the run: outliers without BN at the end, and already early (\"rapid appearance\"): {AboveThreshold.Describe("S(no BN)", $"{OutlierThreshold}")}. " +
            $"They nearly vanish with BN: below the threshold, {BelowThreshold.Describe("S(BN)", $"{OutlierThreshold}")}; and at least 10× below no BN's, {NearlyVanish.Describe("S(BN)", "S(no BN)")}. " +
            $"They come back with population statistics: {AboveThreshold.Describe("S(BN, population)", $"{OutlierThreshold}")}. " +
            $"Over training (seed 004's reading of Fig. 6, λmax/λmin), early and at the end: {Dominance.Describe("λmax/|λmin| (no BN)", "λmax/|λmin| (BN)")}. " +
            $"Gradient in the top-{TopK} eigenspace (Fig. 11), early and at the end: without BN mostly there, {Concentrated.Describe("share(no BN)", $"{MostOfTheGradient}")}; with BN less so, {LessConcentrated.Describe("share(BN)", "share(no BN)")}. " +
            "Preconditions: both networks train (test accuracy 10 points above chance). Outliers counted by a gap rule " +
            $"(Ritz values above the widest ratio θᵢ/θᵢ₊₁ ≥ {OutlierGap} among the top {OutlierSearch}) are reported, not judged.";
        string deviations = Presets.Deviations(preset, dataset) +
            $" Ghorbani et al. use ResNet-32 and VGG on CIFAR-10 and ImageNet, the Hessian over the whole training set, 90 Lanczos steps and 10 draws; we use {s.Examples} examples, {s.LanczosSteps} steps and {s.Draws} draw{(s.Draws == 1 ? "" : "s")}" +
            (preset == Preset.Quick ? ", and the VGG only (the ResNet-8 would cost several times the budget)" : $", and {resnet.Model.Name}") +
            ". Their outliers are read off the plots; ours are the stated threshold on λmax/bulk edge. Fig. 6 is judged as seed 004 reads it (λmax/λmin over training; λmin is negative, so its magnitude). " +
            (s.LanczosSteps == TopK
                ? $"The top-{TopK} eigenspace is the whole {TopK}-dimensional Krylov space of a {s.LanczosSteps}-step Lanczos process (the budget's choice: each product runs over {s.Examples} examples), which holds the dominant eigendirections only approximately; its density has {s.LanczosSteps} nodes."
                : $"The top {TopK} eigenvectors are Ritz vectors of a {s.LanczosSteps}-step Lanczos process: the largest converge first, the lower ones only partly.");
        return (settings, deviations);
    }

    /// <summary>The subject of the numbers of one network, statistics and step, over seeds: "VGG BN, batch statistics, step 40 (mean over seeds)".</summary>
    static string Subject(string network, string statistics, int step) => $"{network} {statistics}, step {step} (mean over seeds)";

    /// <summary>The key of λmax at <paramref name="step"/>, mean over seeds: "VGG BN, batch statistics, step 40 (mean over seeds): λmax".</summary>
    /// <param name="network">The network, e.g. "VGG".</param>
    /// <param name="statistics">Which Hessian: <see cref="NoBn"/>, <see cref="BatchStatistics"/> or <see cref="PopulationStatistics"/>.</param>
    /// <param name="step">The training step the spectrum was taken at.</param>
    public static ResultKey LambdaMaxKey(string network, string statistics, int step) => new(Subject(network, statistics, step), "λmax");

    /// <summary>The key of the separation λmax/bulk edge, mean over seeds (arguments as <see cref="LambdaMaxKey"/>): "…: λmax/bulk edge".</summary>
    public static ResultKey SeparationKey(string network, string statistics, int step) => new(Subject(network, statistics, step), "λmax/bulk edge");

    /// <summary>The key of the asymmetry λmax/|λmin|, mean over seeds (arguments as <see cref="LambdaMaxKey"/>): "…: λmax/|λmin|".</summary>
    public static ResultKey AsymmetryKey(string network, string statistics, int step) => new(Subject(network, statistics, step), "λmax/|λmin|");

    /// <summary>The key of the gradient's share in the top-<see cref="TopK"/> eigenspace, mean over seeds (arguments as <see cref="LambdaMaxKey"/>): "…: gradient energy in top 10".</summary>
    public static ResultKey TopEnergyKey(string network, string statistics, int step) => new(Subject(network, statistics, step), $"gradient energy in top {TopK}");

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var setting = SettingOf(context.Preset);
        var summaries = new List<SpectrumSummary>();
        var figures = new List<FigureData>();
        var files = new List<string>();
        var networks = new List<NetworkSpectra>();
        // Every network's runs are asked for before any is used, so a plan finds them all (Experiment.Discover).
        var trained = Networks(context.Preset).SelectMany(n => (Norm[])[Norm.None, Norm.BatchNorm], (n, norm) => (n, norm))
            .ToDictionary(k => k, k => Runs(context, k.n, k.norm));
        foreach (var network in Networks(context.Preset))
        {
            var (none, bn) = (trained[(network, Norm.None)], trained[(network, Norm.BatchNorm)]);
            var config = bn.Runs[0].Config;
            var (train, _) = context.Data(config.Dataset);
            var examples = train.Take(setting.Examples);
            var points = Points(config, context.Preset);
            foreach (int step in points)
            {
                var series = new List<Series>();
                // Every (seed, statistics) spectrum is independent of the others (its own model copy and seeded draws): side by side.
                var spectra = Enumerable.Range(0, bn.Runs.Count).SelectMany(s =>
                {
                    var these = new List<(int Seed, TrainedRun Run, string Statistics, HessianMode Mode)> { (s, none.Runs[s], NoBn, HessianMode.Training), (s, bn.Runs[s], BatchStatistics, HessianMode.Training) };
                    if (step == config.Steps) these.Add((s, bn.Runs[s], PopulationStatistics, HessianMode.Eval));
                    return these;
                }).ToList();
                var results = Threading.Concurrently(spectra.Select(spectrum => (Func<(SpectrumSummary, SpectralDensity?)>)(() =>
                {
                    var (_, run, statistics, mode) = spectrum;
                    ulong seed = run.Config.Seed;
                    if (run.Outcome.Diverged && step > (run.Outcome.DivergedAtStep ?? 0))
                    {
                        context.Progress.Message(Name, $"{network} {statistics}, seed {seed}, at step {step}: skipped, the run diverged at step {run.Outcome.DivergedAtStep}");
                        return (SpectrumSummary.Missing(network, statistics, seed, step), null);
                    }
                    context.Progress.Message(Name, $"{network} {statistics}, seed {seed}, at step {step}: Hessian spectrum");
                    var model = run.ModelAt(step);
                    if (statistics == PopulationStatistics)
                    {
                        var loader = new DataLoader(train, run.Config.BatchSize, shuffle: true, dropLast: true, seed);
                        BatchNormStatistics.RecomputePopulation(model, loader.Epoch(0).Take(setting.PopulationBatches).Select(b => b.Inputs));
                    }
                    return Analyse(network, statistics, seed, step, model, examples, run.Config.BatchSize, mode, setting, new Rng(seed + (ulong)step));
                })).ToList());
                foreach (var ((s, _, statistics, _), (summary, density)) in spectra.Zip(results))
                {
                    summaries.Add(summary);
                    if (density is null) continue;
                    files.Add(WriteCsv(context, $"{TrainedRun.FileName($"{network} {statistics} seed {summary.Seed} step {step}")}.density.csv",
                        ["lambda,density", .. density.Grid.Zip(density.Density, (l, d) => string.Create(CultureInfo.InvariantCulture, $"{l:R},{d:R}"))]));
                    if (s == 0) series.Add(DensitySeries(statistics, density));
                }
                if (series.Count > 0)
                    figures.Add(new FigureData($"{network}, step {step}: Hessian eigenvalue density (seed {context.SeedList[0]})",
                        "Density of the Hessian's eigenvalues (stochastic Lanczos quadrature, smoothed), log scale; outliers are the isolated bumps far right of the bulk.",
                        "eigenvalue λ", "density", series, LogY: true));
            }
            networks.Add(Collect(network, none, bn, summaries, points[0], points[^1]));
        }
        var numbers = new Dictionary<ResultKey, double>();
        foreach (var group in summaries.GroupBy(s => (s.Network, s.Statistics, s.Step)))
        {
            var (network, statistics, step) = group.Key;
            numbers[LambdaMaxKey(network, statistics, step)] = group.Average(s => s.LambdaMax);
            numbers[SeparationKey(network, statistics, step)] = group.Average(s => s.Separation);
            numbers[AsymmetryKey(network, statistics, step)] = group.Average(s => s.Asymmetry);
            numbers[TopEnergyKey(network, statistics, step)] = group.Average(s => s.TopEnergy);
        }
        var table = new TableData($"Spectra per seed (bulk edge: weighted {BulkQuantile:P0} quantile of |λ|; outliers: Ritz values above the widest gap ≥ {OutlierGap}× among the top {OutlierSearch}; energy: share of ‖g‖² in the top-{TopK} eigenspace)",
            ["network", "statistics", "seed", "step", "λmax", "λmin", "λmax/|λmin|", "bulk edge", "λmax/edge", "outliers", $"energy in top {TopK}", "HVPs", "seconds"],
            summaries.Select(s => (IReadOnlyList<string>)[s.Network, s.Statistics, s.Seed.ToString(CultureInfo.InvariantCulture), s.Step.ToString(CultureInfo.InvariantCulture), G(s.LambdaMax), G(s.LambdaMin), G(s.Asymmetry),
                G(s.BulkEdge), G(s.Separation), s.Outliers.ToString(CultureInfo.InvariantCulture), RunFigures.Cell(s.TopEnergy, "P1"),
                s.Products.ToString(CultureInfo.InvariantCulture), s.Seconds.ToString("F1", CultureInfo.InvariantCulture)]).ToList());
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, Judge(networks), figures, [table], numbers, files, clock.Elapsed.TotalSeconds);
    }

    SeededRuns Runs(ExperimentContext context, string network, Norm norm)
    {
        string label = $"{network} {Presets.Label(norm)}";
        return network == "VGG"
            ? SeededRuns.Train(context, Name, label, seed => Config(network, context.Preset, norm, seed, context.Dataset))
            : SeededRuns.Over(context, label, (runLabel, seed) =>
            {
                var config = Config(network, context.Preset, norm, seed, context.Dataset);
                return TrainedRun.Once(context, Name, runLabel, config, progress => TrainedRun.Train(context, Name, runLabel, config, progress: progress));
            });
    }

    /// <summary>The verdict's numbers of one network, per seed in the order of its runs.</summary>
    static NetworkSpectra Collect(string network, SeededRuns none, SeededRuns bn, IReadOnlyList<SpectrumSummary> summaries, int early, int end)
    {
        SeedValues Values(string statistics, int step, Func<SpectrumSummary, double> measure) =>
            new($"{statistics}, step {step}", bn.Runs.Select(r => measure(summaries.Single(s => s.Network == network && s.Statistics == statistics && s.Seed == r.Config.Seed && s.Step == step))));
        SpectrumPair Pair(int step, Func<SpectrumSummary, double> measure) => new(Values(NoBn, step, measure), Values(BatchStatistics, step, measure));
        SpectraAtStep At(int step) => new(step, Pair(step, s => s.Separation), Pair(step, s => s.Asymmetry), Pair(step, s => s.TopEnergy));
        return new NetworkSpectra(network, none.TestAccuracyPerSeed, bn.TestAccuracyPerSeed, At(early), At(end), Values(PopulationStatistics, end, s => s.Separation));
    }

    static string G(double v) => RunFigures.Cell(v, "G3");

    static (SpectrumSummary, SpectralDensity) Analyse(string network, string statistics, ulong seed, int step, Module model, Dataset examples, int batchSize,
        HessianMode mode, Setting setting, Rng rng)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var op = HessianOperator.OnDataset(model, examples, LossKind.CrossEntropy, batchSize, mode);
        var (density, top) = SpectralDensity.EstimateWithTop(op, TopK, rng, setting.LanczosSteps, setting.Draws);
        var energy = GradientEnergy.Of(op, top);
        double lambdaMax = density.Nodes.Max(n => n[^1]), lambdaMin = density.Nodes.Min(n => n[0]);
        int outliers = (int)Math.Round(density.Nodes.Average(Outliers));
        return (new SpectrumSummary(network, statistics, seed, step, lambdaMax, lambdaMin, BulkEdge(density), outliers, energy.Shares[^1], op.Products, clock.Elapsed.TotalSeconds), density);
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
    /// Judged per network over the seeds, paired by seed (the verdict the conjunction): both networks
    /// train (preconditions); at the end, large isolated outliers without BN (S above
    /// <see cref="OutlierThreshold"/>), nearly none with BN's batch statistics (below it, and 10× below
    /// no BN's), back above it with population statistics; early in training the outliers already there
    /// without BN; early and at the end, λmax/|λmin| at least twice as large without BN (Fig. 6 as seed
    /// 004 reads it), and the gradient mostly in the top eigenspace without BN, 0.2 less with BN (Fig. 11).
    /// </summary>
    public static Verdict Judge(IReadOnlyList<NetworkSpectra> networks) => Verdict.Of([.. networks.SelectMany(Parts)],
        $"Measured: S = λmax / bulk edge (the weighted {BulkQuantile:P0} quantile of |λ| under each seed's density), λmax/|λmin| and the gradient's share in the top-{TopK} eigenspace, per seed; the spectra table lists λmax, λmin and the bulk edge of every seed and step, so a disagreement is a measurement on these networks");

    static IEnumerable<Judgement> Parts(NetworkSpectra n)
    {
        string threshold = $"threshold {OutlierThreshold}";
        string N = n.Network;
        yield return SeededRuns.Trains(n.AccuracyNone with { Label = $"{N} without BN" });
        yield return SeededRuns.Trains(n.AccuracyBatch with { Label = $"{N} with BN" });
        yield return AboveThreshold.Judge($"{N}: without BN, large isolated outliers at step {n.End.Step} (λmax/bulk edge > {OutlierThreshold})", n.End.Separation.None, OutlierThreshold, threshold);
        yield return AboveThreshold.Judge($"{N}: without BN, the outliers appear rapidly: already at step {n.Early.Step}", n.Early.Separation.None, OutlierThreshold, threshold);
        yield return BelowThreshold.Judge($"{N}: with BN (batch statistics) they nearly vanish: λmax/bulk edge below {OutlierThreshold} at step {n.End.Step}", n.End.Separation.Batch, OutlierThreshold, threshold);
        yield return NearlyVanish.Judge($"{N}: with BN (batch statistics) λmax/bulk edge at least 10× below no BN's at step {n.End.Step}", n.End.Separation.Batch, n.End.Separation.None);
        yield return AboveThreshold.Judge($"{N}: with BN's population statistics the outliers come back (λmax/bulk edge > {OutlierThreshold}) at step {n.End.Step}", n.PopulationSeparation, OutlierThreshold, threshold);
        foreach (var at in new[] { n.Early, n.End })
        {
            yield return Dominance.Judge($"{N}: λmax/|λmin| larger without BN at step {at.Step} (Fig. 6, over training)", at.Asymmetry.None, at.Asymmetry.Batch);
            yield return Concentrated.Judge($"{N}: without BN the gradient lies mostly in the top-{TopK} eigenspace at step {at.Step} (Fig. 11)", at.Energy.None, MostOfTheGradient, "half of ‖g‖²");
            yield return LessConcentrated.Judge($"{N}: with BN the gradient's share there is smaller at step {at.Step} (Fig. 11)", at.Energy.Batch, at.Energy.None);
        }
    }
}
