namespace BatchNormLab.Experiments;

/// <summary>
/// Seeds 001 and 004: with BN the network depends less on its initialisation. The VGG setting at LR 0.1
/// is trained with and without BN from three initialisation schemes (PyTorch's default, Glorot, Kaiming),
/// each over the context's seeds; per seed, the spread of the final test accuracy across the schemes is
/// compared between the two networks.
/// </summary>
public sealed class InitSensitivity : Experiment
{
    /// <inheritdoc/>
    public override string Name => "init-sensitivity";
    /// <inheritdoc/>
    public override string Figure => "Seeds 001 and 004 (no paper figure)";
    /// <inheritdoc/>
    public override string Source =>
        "Seed 001 (001_7a16e6217a95b5e5.txt, introduction: with BN one need not pay attention to parameter initialisation, \"不需要可以关注param initialization\"; " +
        "and: BN reduces the gradient's dependence on the parameters' initialisation, \"减少gradient对参数初始化…的依赖\"), seed 004 (004_eb43482638c20060.txt, closing points: without outlier eigenvalues, " +
        "a learning rate tuned to λmax makes the network insensitive to initialisation, \"使得网络对于初始化不变\"), after Ioffe & Szegedy 2015 (abstract: BN lets us be less careful about initialisation). " +
        "The seeds name no setting or measure: the schemes, the measure (spread of test accuracy across schemes) and the margin are this project's.";
    /// <inheritdoc/>
    public override string Claim =>
        "With BN the network is less sensitive to its initialisation: trained from different initialisation schemes, its final test accuracy varies less across the schemes than the standard network's.";

    /// <summary>The initialisation schemes compared; Glorot is the preset's own (its runs are the shared ones).</summary>
    public static readonly IReadOnlyList<InitScheme> Schemes = [InitScheme.PyTorch, InitScheme.Glorot, InitScheme.Kaiming];

    /// <summary>"Varies less": BN's spread of test accuracy across the schemes more than 2 points below the standard network's, per seed.</summary>
    public static readonly Rule LessSpread = Rule.Accuracy(Claimed.Less, 2);

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset).Replace("Glorot initialisation", "initialisation per scheme")}; LR 0.1; with and without BN, each from {string.Join(", ", Schemes.Select(SchemeName))}: " +
         "PyTorch's default (weights and biases U(±1/√fan_in)), Glorot uniform and Kaiming normal (fan_in; biases zero), on every Linear and conv layer. " +
         "Per seed, the spread of final test accuracy across the schemes, max − min (a diverged run counts as chance). " +
         $"Rule: {LessSpread.Describe("spread(BN)", "spread(standard)")}. Preconditions: BN trains from the preset's Glorot initialisation, and the standard network trains from its best scheme (its maximum over the schemes), each above chance by 10 points, " +
         "so that neither spread is that of a network which never trains.",
         Presets.Deviations(preset, dataset) + " The seeds give no setting; this is the VGG setting of Santurkar et al. with three common schemes.");

    static string SchemeName(InitScheme scheme) => scheme switch
    {
        InitScheme.PyTorch => "pytorch",
        InitScheme.Glorot => "glorot",
        _ => "kaiming",
    };

    static string Label(Norm norm, InitScheme scheme) => $"{Presets.Label(norm)}, {SchemeName(scheme)} init";

    /// <summary>The key of <paramref name="network"/>'s spread of test accuracy across the initialisation schemes (best minus worst), mean over seeds: "BN: spread of test accuracy across schemes (mean over seeds)".</summary>
    public static ResultKey SpreadKey(Norm network) => new(Presets.Label(network), "spread of test accuracy across schemes (mean over seeds)");

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var groups = SeededRuns.TrainAll(context, Name, ((Norm[])[Norm.BatchNorm, Norm.None]).SelectMany(norm => Schemes.Select(scheme => (norm, scheme))),
            k => Label(k.norm, k.scheme), (k, seed) => Config(context, k.norm, k.scheme, seed));
        var ordered = groups.Values.ToList();
        var runs = ordered.SelectMany(g => g.Runs).ToList();

        SeededRuns[] Of(Norm norm) => Schemes.Select(s => groups[(norm, s)]).ToArray();
        var (bnSpread, standardSpread) = (Spread(Norm.BatchNorm, Of(Norm.BatchNorm)), Spread(Norm.None, Of(Norm.None)));
        var standardBest = new SeedValues("standard, best scheme", Transpose(Of(Norm.None)).Select(a => a.Max()));
        var verdict = Judge(groups[(Norm.BatchNorm, InitScheme.Glorot)].TestAccuracyPerSeed, standardBest, bnSpread, standardSpread);

        var numbers = new Dictionary<ResultKey, double>();
        foreach (var g in ordered) g.AddNumbers(numbers);
        numbers[SpreadKey(Norm.BatchNorm)] = bnSpread.Values.Average();
        numbers[SpreadKey(Norm.None)] = standardSpread.Values.Average();

        string csv = WriteCsv(context, "init-sensitivity.csv", ordered.SelectMany(g =>
                g.CsvLines($"{(g.Runs[0].Config.Model.Options.Norm == Norm.BatchNorm ? "bn" : "standard")},{SchemeName(g.Runs[0].Config.Model.Options.Init)}"))
            .Prepend("network,init," + SeededRuns.CsvColumns));
        var spreadTable = new TableData("Per seed: final test accuracy per scheme and its spread (max − min) across the schemes",
            ["network", "seed", .. Schemes.Select(SchemeName), "spread"],
            [.. SpreadRows(context, Norm.BatchNorm, Of(Norm.BatchNorm), bnSpread), .. SpreadRows(context, Norm.None, Of(Norm.None), standardSpread)]);
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict,
            [SeededRuns.TestAccuracy(ordered), SeededRuns.TrainingLoss(ordered)], [spreadTable, SeededRuns.Table(ordered), RunFigures.Table(runs)], numbers,
            [csv, .. runs.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv")], clock.Elapsed.TotalSeconds);
    }

    static IEnumerable<IReadOnlyList<string>> SpreadRows(ExperimentContext context, Norm norm, SeededRuns[] schemes, SeedValues spread) =>
        context.SeedList.Select((seed, i) => (IReadOnlyList<string>)[Presets.Label(norm), seed.ToString(CultureInfo.InvariantCulture),
            .. schemes.Select(g => RunFigures.Cell(g.TestAccuracies[i], "P1")), RunFigures.Cell(spread.Values[i] * 100, "0.0") + " points"]);

    /// <summary>The preset's VGG setting at LR 0.1 with <paramref name="scheme"/> in place of its Glorot initialisation (Glorot: the shared runs' config).</summary>
    static TrainConfig Config(ExperimentContext context, Norm norm, InitScheme scheme, ulong seed)
    {
        var config = Presets.Vgg(context.Preset, norm, 0.1, seed, context.Dataset);
        return config with { Model = config.Model with { Options = config.Model.Options with { Init = scheme } } };
    }

    /// <summary>Per seed, the test accuracies of the schemes (chance when diverged).</summary>
    static IEnumerable<double[]> Transpose(SeededRuns[] schemes) =>
        Enumerable.Range(0, schemes[0].Runs.Count).Select(i => schemes.Select(g => g.TestAccuracies[i]).ToArray());

    /// <summary>Per seed, max − min of the test accuracy across the schemes.</summary>
    static SeedValues Spread(Norm norm, SeededRuns[] schemes) => new($"spread({Presets.Label(norm)})", Transpose(schemes).Select(a => a.Max() - a.Min()));

    /// <summary>
    /// BN trains from the preset's initialisation and the standard network from its best scheme
    /// (preconditions); BN's spread across the schemes is more than 2 points below the standard network's.
    /// </summary>
    public static Verdict Judge(SeedValues bnAccuracy, SeedValues standardBestAccuracy, SeedValues bnSpread, SeedValues standardSpread) => Verdict.Of(
    [
        SeededRuns.Trains(bnAccuracy),
        SeededRuns.Trains(standardBestAccuracy),
        LessSpread.Judge("with BN the test accuracy varies less across initialisation schemes", bnSpread, standardSpread),
    ]);
}
