using BatchNormLab.Analysis;

namespace BatchNormLab.Experiments;

/// <summary>
/// Li et al. 2018's loss-surface reading (filter-normalised 1-D and 2-D surfaces, the convexity map
/// |λmin/λmax|) applied to three versions of one deep network: plain, with BN, with skip connections
/// (no BN). Li et al. find that skip connections make a deep net's surface smooth and convex; seed 000
/// reports Santurkar et al.'s appendix remark that BN works like residual connections. Whether BN does
/// to the surface what skips do is this project's own extension, judged over seeds at matched training loss.
/// </summary>
public sealed class LossSurfacePlots : Experiment
{
    /// <inheritdoc/>
    public override string Name => "loss-surface";
    /// <inheritdoc/>
    public override string Figure => "Li et al. 2018 §6–7 (surfaces with and without skip connections; the convexity map), extended to BN";
    /// <inheritdoc/>
    public override string Source => "This project's own extension. Li et al. 2018 §6–7: without skip connections deep nets have chaotic, non-convex surfaces, which skip connections make smooth and convex (their filter-normalised plots and convexity map |λmin/λmax|); Li et al. never compare BN. " +
        "Seed 000 (000_96459f3425dd6a72.txt) cites Li et al. for “a smoother loss is easier to train” and reports Santurkar et al.'s appendix remark that BN works like ResNet (“附录中提到BN的作用与ResNet类似”)";
    /// <inheritdoc/>
    public override string Claim => "A deep network's loss surface is smoother and more convex with skip connections than without (Li et al.); BN (with the batch statistics SGD trains with) makes it smoother and more convex too, about as much as skip connections do (this project's reading of seed 000's “BN works like ResNet”).";

    /// <summary>"More convex" and "smoother": the measure lower than the plain net's by more than a factor 1.5 (Li et al.'s contrast is between chaotic and convex surfaces, not a few percent).</summary>
    public static readonly Rule Better = Rule.Factor(Claimed.Less, 1.5);

    /// <summary>"Works like skip connections": BN's measure within a factor 2 of the skip net's, either way.</summary>
    public static readonly Rule Alike = Rule.Factor(Claimed.Same, 2);

    /// <summary>The plain network (no BN, no skip connections), labelled as the report names it.</summary>
    public const string Plain = "plain";
    /// <summary>The network with BN (no skip connections), labelled as the report names it.</summary>
    public const string Bn = "BN";
    /// <summary>The network with skip connections (no BN), labelled as the report names it.</summary>
    public const string Skip = "skip connections";

    /// <summary>One preset's networks and surfaces.</summary>
    /// <param name="Model">The ResNet-style model with skips; its "-noshort" form is the plain and the BN net.</param>
    /// <param name="Width">The model's width: the residual MLP's in units, ResNet-CIFAR's as a multiplier.</param>
    /// <param name="Dataset">The training data of every net.</param>
    /// <param name="Steps">Training steps of each run.</param>
    /// <param name="BatchSize">The SGD batch size, also the batch size the loss is evaluated in.</param>
    /// <param name="LearningRate">The constant SGD learning rate after the warm-up.</param>
    /// <param name="Examples">Training examples the loss and Hessians are taken over (0: the whole training set).</param>
    /// <param name="Checkpoints">Copies of each run kept over training (evenly spaced), where the matched-loss copy is looked for.</param>
    /// <param name="Directions">Filter-normalised directions of the 1-D curves and curvatures; the 2-D pairs are directions (1, 2), (3, 4), ….</param>
    /// <param name="Pairs">Direction pairs of the 2-D surfaces.</param>
    /// <param name="MapPairs">Direction pairs (the first ones) of the convexity maps: each point costs a Lanczos run.</param>
    /// <param name="CurvePoints">Points of α ∈ [−1, 1] on each 1-D curve.</param>
    /// <param name="GridPoints">Points per side of each 2-D surface's grid over [−1, 1]².</param>
    /// <param name="MapPoints">Points per side of each convexity map's grid over [−1, 1]².</param>
    /// <param name="LanczosSteps">Lanczos steps per point of a convexity map.</param>
    sealed record Setting(string Model, double Width, string Dataset, int Steps, int BatchSize, double LearningRate, int Examples, int Checkpoints,
        int Directions, int Pairs, int MapPairs, int CurvePoints, int GridPoints, int MapPoints, int LanczosSteps);

    static Setting SettingOf(Preset preset) => preset switch
    {
        Preset.Tiny => new("resmlp6", 16, "gaussian-mixture", 40, 64, 0.1, 128, 10, 2, 1, 1, 7, 5, 3, 4),
        Preset.Quick => new("resmlp20", 32, "fashion-mnist", 400, 128, 0.1, 256, 20, 4, 2, 1, 15, 7, 3, 10),
        _ => new("resnet56", 1, "cifar10", 15_000, 128, 0.1, 0, 50, 8, 3, 3, 51, 51, 51, 20),
    };

    static TrainConfig Config(Setting s, string network, ulong seed) => new()
    {
        Model = new ModelSpec(network == Skip ? s.Model : s.Model + "-noshort", new ModelOptions(network == Bn ? Norm.BatchNorm : Norm.None, Init: InitScheme.Glorot), Width: s.Width),
        Dataset = s.Dataset, Steps = s.Steps, BatchSize = s.BatchSize, LearningRate = s.LearningRate, WarmupSteps = WarmupSteps(s), Seed = seed, EvalEvery = s.Steps, TestLimit = 2000,
    };

    /// <summary>
    /// The first 5% of the steps ramp the rate up linearly: the skip net without BN, whose activations grow block by
    /// block at initialisation, can otherwise diverge in its first steps. Every net gets the same schedule.
    /// </summary>
    static int WarmupSteps(Setting s) => s.Steps / 20;

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null)
    {
        var s = SettingOf(preset);
        string net = s.Model.StartsWith("resnet", StringComparison.Ordinal) ? $"{s.Model} (ResNet-CIFAR)" : $"{s.Model}: a fully connected ResNet of {s.Model[6..]} weight layers at width {s.Width} (stem, blocks of two Linear layers, head)";
        string examples = s.Examples == 0 ? "the whole training set" : $"the first {s.Examples} training examples";
        return ($"Three networks, each trained with the context's seeds: {net} without skip connections and without BN (plain), the same with BN after every weight layer but the head (BN), and the same with skip connections and no BN (skip connections); " +
                $"the same initial weights per seed where the layers are the same. {s.Dataset}, plain SGD, batch {s.BatchSize}, LR {F(s.LearningRate)} after a linear warm-up over the first {WarmupSteps(s)} steps (without it the skip net, which has no BN, can diverge in its first steps), Glorot initialisation, {s.Steps} steps, a copy kept every {s.Steps / s.Checkpoints} steps. " +
                $"Loss: the cross-entropy over {examples} in batches of {s.BatchSize}. Matched training loss: per seed, the level L* = the highest of the three nets' final losses; each net is read at its first kept copy whose loss is ≤ L* (the least-trained net at its end). " +
                $"At that copy and at the trained weights: {s.Directions} filter-normalised Gaussian directions (Li et al.: each filter/row rescaled to its weights' norm, biases and BN parameters 0); the curvature dᵀHd along each (exact Hessian-vector products), averaged over the directions; the 1-D curves L(w + α·d) at {s.CurvePoints} points of α ∈ [−1, 1]; " +
                $"for {s.Pairs} pairs (d₁, d₂), (d₃, d₄), … the 2-D surface L(w + α·dᵢ + β·dⱼ) on a {s.GridPoints}×{s.GridPoints} grid over [−1, 1]² and for the first {s.MapPairs} of them Li et al.'s convexity map |λmin/λmax| on a {s.MapPoints}×{s.MapPoints} grid over the same square " +
                $"(λmin, λmax: extreme Ritz values of {s.LanczosSteps} Lanczos steps with full re-orthogonalisation, which approach both ends from inside), averaged over the grid and the pairs. " +
                $"BN is measured with batch statistics (training mode: the function SGD optimises, whose normalisation follows a perturbation of the weights) and with running statistics (eval mode, Li et al.'s and PyHessian's setting, where the frozen statistics do not follow it); the judged one is training mode, eval mode is shown beside. " +
                $"Judged at matched training loss (at the trained weights each net sits at its own loss, and a cross-entropy's curvature shrinks with its loss, so a comparison there measures how far training went as much as the surface; those values are shown beside). " +
                $"Rules, paired by seed: each net trains (test accuracy above chance by more than 10 points, a precondition); more convex: {Better.Describe("ratio(net)", "ratio(plain)")}; smoother: {Better.Describe("curvature(net)", "curvature(plain)")} (for net = skip connections, Li et al.'s finding and a check of the method, and net = BN); " +
                $"BN works like skip connections: {Alike.Describe("ratio(BN)", "ratio(skip connections)")}, and the same for the curvature.",
            (preset switch
            {
                Preset.Tiny => "Not a setting of the papers: a residual MLP of 6 layers on a synthetic Gaussian mixture, 40 steps, so that the code runs in seconds. Its verdict says nothing about the claim. ",
                Preset.Quick => $"A fully connected ResNet analogue (resmlp20, width 32) on Fashion-MNIST for {s.Steps} steps instead of Li et al.'s ResNet-56 on CIFAR-10 (a convolutional net's Hessian-vector products at every grid point would not fit the quick budget); {s.Examples} training examples instead of the whole set; grids of {s.GridPoints}×{s.GridPoints} (surface) and {s.MapPoints}×{s.MapPoints} (convexity map, on {s.MapPairs} of the {s.Pairs} direction pairs) instead of 51×51; {s.CurvePoints} points on the 1-D curves instead of 51. ",
                _ => "",
            }) + "Li et al. train with SGD with momentum, weight decay and augmentation, and keep BN in both their nets with and without skips; here plain SGD with a short warm-up and without augmentation, and the skip net has no BN, so that BN and skips are compared each on its own. The convexity map from a fixed number of Lanczos steps instead of ARPACK to convergence. " +
                 (dataset is null ? "" : $"The dataset is the preset's ({s.Dataset}); --dataset does not apply."));
    }

    static string F(double v) => RunFigures.F(v);
    static string G(double v) => RunFigures.Cell(v, "G4");

    /// <summary>Which statistics a measurement uses: batch (training mode) or running (eval mode, BN only).</summary>
    static string ModeName(BnMode mode) => mode == BnMode.Train ? "batch statistics" : "running statistics";

    /// <summary>One net in one BN mode at one kept copy: its step and loss, the mean convexity ratio and curvature, and the curves and grids behind them.</summary>
    sealed record Reading(int Step, double Loss, double Ratio, double Curvature, double[] Curvatures, double[][] Curves, double[][,] Surfaces, double[][,] Maps);

    /// <summary>Keeps a copy of the model every <c>every</c> steps.</summary>
    internal sealed class Checkpoints(int every) : ITrainingCallback
    {
        public SortedDictionary<int, IReadOnlyList<StateEntry>> States { get; private init; } = [];

        // Read back with its run (RunArchive): the kept copies only; it is never attached to a trainer again.
        internal static Checkpoints Restored(IDictionary<int, IReadOnlyList<StateEntry>> states) => new(1) { States = new(states) };

        public void OnStep(Trainer trainer, StepMetrics m)
        {
            if ((m.Step + 1) % every == 0) States[m.Step + 1] = ModelState.CopyOfStateDict(trainer.Model);
        }
    }

    /// <summary>One reading's name, the subject of its numbers: "BN, running statistics at matched loss" (the statistics named for the BN net only).</summary>
    static string ReadingName(string network, BnMode mode, bool matched) =>
        $"{network}{(network == Bn ? ", " + ModeName(mode) : "")} at {(matched ? "matched loss" : "the trained weights")}";

    /// <summary>The key of the convexity ratio |λmin/λmax| of a reading, mean over seeds: "plain at matched loss: convexity ratio (mean over seeds)".</summary>
    /// <param name="network"><see cref="Plain"/>, <see cref="Bn"/> or <see cref="Skip"/>.</param>
    /// <param name="mode">The BN net's statistics (batch: <see cref="BnMode.Train"/>, running: <see cref="BnMode.Eval"/>); <see cref="BnMode.Train"/> for the others.</param>
    /// <param name="matched">Read at matched loss (true) or at the trained weights (false).</param>
    public static ResultKey ConvexityRatioKey(string network, BnMode mode, bool matched) => new(ReadingName(network, mode, matched), "convexity ratio (mean over seeds)");

    /// <summary>The key of the mean curvature dᵀHd of a reading over the directions, mean over seeds (arguments as <see cref="ConvexityRatioKey"/>): "…: curvature (mean over seeds)".</summary>
    public static ResultKey CurvatureKey(string network, BnMode mode, bool matched) => new(ReadingName(network, mode, matched), "curvature (mean over seeds)");

    /// <summary>The key of a reading's loss, mean over seeds (arguments as <see cref="ConvexityRatioKey"/>): "…: loss (mean over seeds)".</summary>
    public static ResultKey LossKey(string network, BnMode mode, bool matched) => new(ReadingName(network, mode, matched), "loss (mean over seeds)");

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var s = SettingOf(context.Preset);
        var networks = new[] { Plain, Bn, Skip };
        var groups = SeededRuns.Over(context, networks, n => n, (network, label, seed) =>
        {
            var config = Config(s, network, seed);
            return TrainedRun.Once(context, Name, label, config, progress =>
            {
                Checkpoints? checkpoints = null;
                return TrainedRun.Train(context, Name, label, config, _ => [checkpoints = new Checkpoints(Math.Max(1, s.Steps / s.Checkpoints))], progress: progress) with { Probes = [checkpoints!] };
            });
        });
        // The runs are asked for first, the data after, so a plan finds them all (Experiment.Discover).
        var train = context.Data(s.Dataset).Train;
        if (s.Examples > 0) train = train.Take(Math.Min(s.Examples, train.Count));
        var batches = new DataLoader(train, s.BatchSize, shuffle: false, dropLast: false, seed: 0).Epoch(0).ToList();
        var loss = LossSurface.MeanLoss(batches, LossKind.CrossEntropy);
        var terms = batches.Select(b => LossTerm.On(b, LossKind.CrossEntropy)).ToList();
        var (curveX, gridX, mapX) = (Span(s.CurvePoints), Span(s.GridPoints), Span(s.MapPoints));
        var kept = groups.Values.SelectMany(g => g.Runs).ToDictionary(r => r.Label, r => r.Probe<Checkpoints>().States);

        // (network, mode, "matched" or "trained") → per seed.
        var readings = new Dictionary<(string Network, BnMode Mode, bool Matched), List<Reading>>();
        var csv = new List<string> { "network,statistics,weights,seed,step,kind,index,alpha,beta,value" };
        for (int k = 0; k < context.Seeds; k++)
        {
            ulong seed = context.SeedList[k];
            var states = networks.ToDictionary(n => n, n => groups[n].Runs[k]);
            // Every kept copy's loss with batch statistics; the level every net reaches is the worst net's final loss.
            var losses = networks.ToDictionary(n => n, n => Copies(states[n], kept[states[n].Label]).Select(c => (c.Step, Loss: LossOf(Rebuild(states[n], c.State), loss))).ToList());
            foreach (var n in networks)
                csv.AddRange(losses[n].Select(c => Csv(n, ModeName(BnMode.Train), "kept", seed, c.Step, "loss", 0, double.NaN, double.NaN, c.Loss)));
            double level = networks.Max(n => losses[n][^1].Loss);
            foreach (string network in networks)
            {
                var run = states[network];
                int matchedStep = losses[network].FirstOrDefault(c => c.Loss <= level, losses[network][^1]).Step;
                foreach (bool matched in new[] { true, false })
                {
                    int step = matched ? matchedStep : losses[network][^1].Step;
                    var state = Copies(run, kept[run.Label]).First(c => c.Step == step).State;
                    foreach (var mode in network == Bn ? new[] { BnMode.Train, BnMode.Eval } : [BnMode.Train])
                    {
                        context.Progress.Message(Name, $"{run.Label}: surfaces at step {step} ({ModeName(mode)})");
                        var key = (network, mode, matched);
                        if (!readings.TryGetValue(key, out var list)) readings[key] = list = [];
                        // The least-trained net's matched copy is its final one: read once.
                        var reading = !matched && readings[(network, mode, true)][k].Step == step ? readings[(network, mode, true)][k]
                            : Read(Rebuild(run, state), step, s, loss, terms, mode, seed, curveX, gridX, mapX);
                        list.Add(reading);
                        csv.AddRange(CsvOf(network, mode, matched, seed, reading, curveX, gridX, mapX));
                    }
                }
            }
        }

        var (settings, deviations) = Describe(context.Preset);
        SeedValues Values(string network, Func<Reading, double> measure, bool matched = true, BnMode mode = BnMode.Train) =>
            new(network == Bn && mode == BnMode.Eval ? "BN, running statistics" : network, readings[(network, mode, matched)].Select(measure));
        Measures MeasuresOf(string network) => new(Values(network, r => r.Ratio), Values(network, r => r.Curvature));
        var verdict = Judge(groups[Plain].TestAccuracyPerSeed, groups[Bn].TestAccuracyPerSeed, groups[Skip].TestAccuracyPerSeed, MeasuresOf(Plain), MeasuresOf(Bn), MeasuresOf(Skip));

        var numbers = new Dictionary<ResultKey, double>();
        foreach (var g in groups.Values) g.AddNumbers(numbers);
        var rows = new List<IReadOnlyList<string>>();
        foreach (var ((network, mode, matched), list) in readings.OrderBy(r => r.Key.Matched ? 0 : 1).ThenBy(r => Array.IndexOf(networks, r.Key.Network)).ThenBy(r => r.Key.Mode))
        {
            string name = ReadingName(network, mode, matched);
            numbers[ConvexityRatioKey(network, mode, matched)] = list.Average(r => r.Ratio);
            numbers[CurvatureKey(network, mode, matched)] = list.Average(r => r.Curvature);
            numbers[LossKey(network, mode, matched)] = list.Average(r => r.Loss);
            rows.Add([name, string.Join(", ", list.Select(r => r.Step)), string.Join(", ", list.Select(r => G(r.Loss))), string.Join(", ", list.Select(r => G(r.Ratio))), string.Join(", ", list.Select(r => G(r.Curvature)))]);
        }
        var table = new TableData("Per net, per seed: the kept copy read, its loss (with the statistics named), the mean convexity ratio |λmin/λmax| over the map(s), and the mean curvature dᵀHd over the directions",
            ["network and weights", "step", "loss", "convexity ratio", "curvature"], rows);

        var figures = new List<FigureData> { SeededRuns.TrainingLoss(groups.Values) };
        ulong first = context.SeedList[0];
        var judged = new[] { (Plain, BnMode.Train), (Bn, BnMode.Train), (Bn, BnMode.Eval), (Skip, BnMode.Train) };
        foreach (bool matched in new[] { true, false })
            figures.Add(new FigureData($"1-D curves at {(matched ? "matched training loss" : "the trained weights")} (seed {first})",
                $"L(w + α·d) along {s.Directions} filter-normalised directions d: the mean over the directions, the band their lowest to highest; BN with batch and with running statistics.", "α", "training loss",
                judged.Select(j => CurveSeries(j.Item1 == Bn ? $"BN, {ModeName(j.Item2)}" : j.Item1, readings[(j.Item1, j.Item2, matched)][0].Curves, curveX)).ToList(),
                LogY: RunFigures.SpansDecades(judged.SelectMany(j => readings[(j.Item1, j.Item2, matched)][0].Curves.SelectMany(c => c)))));
        foreach (string network in networks)
        {
            var r = readings[(network, BnMode.Train, true)][0];
            figures.Add(Slices($"{network}: 2-D surface at matched training loss (seed {first}, step {r.Step})", "L(w + α·d₁ + β·d₂) against α, one line per β: slices of the grid" + (network == Bn ? " (batch statistics)" : "") + ".", "training loss", r.Surfaces[0], gridX));
            figures.Add(Slices($"{network}: convexity map at matched training loss (seed {first}, step {r.Step})", "|λmin/λmax| of the Hessian at w + α·d₁ + β·d₂ against α, one line per β (near 0: locally convex; Li et al.'s map)" + (network == Bn ? " (batch statistics)" : "") + ".", "|λmin/λmax|", r.Maps[0], mapX));
        }
        string file = WriteCsv(context, "loss-surface.csv", csv);
        var runs = groups.Values.SelectMany(g => g.Runs).ToList();
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict, figures, [SeededRuns.Table(groups.Values), table], numbers,
            [file, .. runs.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv")], clock.Elapsed.TotalSeconds);
    }

    static double[] Span(int points) => Enumerable.Range(0, points).Select(i => points == 1 ? 0 : -1 + 2.0 * i / (points - 1)).ToArray();

    /// <summary>The kept copies and the final weights, by step.</summary>
    static IEnumerable<(int Step, IReadOnlyList<StateEntry> State)> Copies(TrainedRun run, SortedDictionary<int, IReadOnlyList<StateEntry>> kept) =>
        kept.Where(c => c.Key < run.Outcome.StepsDone).Select(c => (c.Key, c.Value)).Append((run.Outcome.StepsDone, (IReadOnlyList<StateEntry>)run.Model.StateDict()));

    /// <summary>A fresh model of <paramref name="run"/>'s config holding <paramref name="state"/>.</summary>
    static Module Rebuild(TrainedRun run, IReadOnlyList<StateEntry> state)
    {
        var model = run.Config.Model.Build(run.InputShape, run.Outputs, new Rng(run.Config.Seed));
        model.LoadStateDict(state);
        return model;
    }

    /// <summary>The loss with batch statistics (what SGD sees), the model left as it was.</summary>
    static double LossOf(Module model, Func<Module, double> loss)
    {
        int n = model.Parameters().Sum(p => p.Length);
        return LossSurface.Curve(model, Tensor.FromArray(new double[n], n), [0.0], loss, BnMode.Train)[0];
    }

    /// <summary>Every measurement of one net at one copy in one mode, each draw seeded by the run's seed (the same draws for every net and copy).</summary>
    static Reading Read(Module model, int step, Setting s, Func<Module, double> loss, IReadOnlyList<LossTerm> terms, BnMode mode, ulong seed,
        double[] curveX, double[] gridX, double[] mapX)
    {
        var rng = new Rng(seed * 7919 + 101);
        var directions = Enumerable.Range(0, Math.Max(s.Directions, 2 * s.Pairs)).Select(_ => LossSurface.FilterNormalisedDirection(model, rng)).ToList();
        var hessian = new HessianOperator(model, terms, mode == BnMode.Train ? HessianMode.Training : HessianMode.Eval);
        var curvatures = directions.Take(s.Directions).Select(d => LossSurfaceCurvature.Curvature(hessian, d)).ToArray();
        var curves = directions.Take(s.Directions).Select(d => LossSurface.Curve(model, d, curveX, loss, mode)).ToArray();
        var surfaces = new double[s.Pairs][,];
        var maps = new double[s.MapPairs][,];
        var lanczos = new Rng(seed * 7919 + 202);
        for (int p = 0; p < s.Pairs; p++)
        {
            surfaces[p] = LossSurface.Grid(model, directions[2 * p], directions[2 * p + 1], gridX, gridX, loss, mode);
            if (p < s.MapPairs) maps[p] = LossSurfaceCurvature.ConvexityMap(hessian, directions[2 * p], directions[2 * p + 1], mapX, mapX, s.LanczosSteps, lanczos);
        }
        double here = LossSurface.Curve(model, directions[0], [0.0], loss, mode)[0];
        return new Reading(step, here, maps.SelectMany(m => m.Cast<double>()).Average(), curvatures.Average(), curvatures, curves, surfaces, maps);
    }

    static Series CurveSeries(string label, double[][] curves, double[] x) =>
        new(label, x, x.Select((_, i) => curves.Average(c => c[i])).ToArray())
        {
            Lower = x.Select((_, i) => curves.Min(c => c[i])).ToArray(),
            Upper = x.Select((_, i) => curves.Max(c => c[i])).ToArray(),
        };

    /// <summary>A grid drawn as lines in α at up to five values of β (the report draws line series).</summary>
    static FigureData Slices(string title, string caption, string yLabel, double[,] grid, double[] x)
    {
        var columns = Enumerable.Range(0, 5).Select(k => k * (x.Length - 1) / 4).Distinct();
        var values = grid.Cast<double>().ToList();
        return new FigureData(title, caption, "α (along d₁)", yLabel,
            columns.Select(j => new Series($"β = {F(x[j])}", x, x.Select((_, i) => grid[i, j]).ToArray())).ToList(), LogY: RunFigures.SpansDecades(values));
    }

    static IEnumerable<string> CsvOf(string network, BnMode mode, bool matched, ulong seed, Reading r, double[] curveX, double[] gridX, double[] mapX)
    {
        var (weights, statistics) = (matched ? "matched" : "trained", ModeName(mode));
        for (int d = 0; d < r.Curves.Length; d++)
        {
            yield return Csv(network, statistics, weights, seed, r.Step, "curvature", d, double.NaN, double.NaN, r.Curvatures[d]);
            for (int i = 0; i < curveX.Length; i++) yield return Csv(network, statistics, weights, seed, r.Step, "curve", d, curveX[i], double.NaN, r.Curves[d][i]);
        }
        for (int p = 0; p < r.Surfaces.Length; p++)
            for (int i = 0; i < gridX.Length; i++)
                for (int j = 0; j < gridX.Length; j++) yield return Csv(network, statistics, weights, seed, r.Step, "surface", p, gridX[i], gridX[j], r.Surfaces[p][i, j]);
        for (int p = 0; p < r.Maps.Length; p++)
            for (int i = 0; i < mapX.Length; i++)
                for (int j = 0; j < mapX.Length; j++) yield return Csv(network, statistics, weights, seed, r.Step, "convexity", p, mapX[i], mapX[j], r.Maps[p][i, j]);
    }

    static string Csv(string network, string statistics, string weights, ulong seed, int step, string kind, int index, double alpha, double beta, double value)
    {
        static string R(double v) => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);
        return $"{network},{statistics},{weights},{seed},{step},{kind},{index},{R(alpha)},{R(beta)},{R(value)}";
    }

    /// <summary>One net's measures at matched training loss, per seed: the mean convexity ratio |λmin/λmax| over the map(s), and the mean curvature dᵀHd over the directions.</summary>
    public sealed record Measures(SeedValues Ratio, SeedValues Curvature);

    /// <summary>
    /// Each net trains (preconditions); skip connections (Li et al.'s finding, a check of the method) and BN each
    /// make the surface more convex and smoother than the plain net's; BN's measures are those of the skip net
    /// within <see cref="Alike"/>.
    /// </summary>
    public static Verdict Judge(SeedValues accPlain, SeedValues accBn, SeedValues accSkip, Measures plain, Measures bn, Measures skip) => Verdict.Of(
    [
        SeededRuns.Trains(accPlain),
        SeededRuns.Trains(accBn),
        SeededRuns.Trains(accSkip),
        Better.Judge("with skip connections the surface is more convex than the plain net's (Li et al.)", skip.Ratio, plain.Ratio),
        Better.Judge("with skip connections the surface is smoother (lower curvature) than the plain net's", skip.Curvature, plain.Curvature),
        Better.Judge("with BN the surface is more convex than the plain net's", bn.Ratio, plain.Ratio),
        Better.Judge("with BN the surface is smoother (lower curvature) than the plain net's", bn.Curvature, plain.Curvature),
        Alike.Judge("BN's convexity is that of skip connections", bn.Ratio, skip.Ratio),
        Alike.Judge("BN's curvature is that of skip connections", bn.Curvature, skip.Curvature),
    ], "Measured at matched training loss (each net at its first kept copy at or below the least-trained net's final loss), BN with batch statistics: " +
       "convexity = the mean of |λmin/λmax| over Li et al.'s map, curvature = the mean of dᵀHd along filter-normalised directions (invariant to BN's rescaling of the weights); eval-mode BN and the trained weights are in the table, not judged");
}
