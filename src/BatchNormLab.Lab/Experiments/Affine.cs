namespace BatchNormLab.Experiments;

/// <summary>
/// BN's own scale γ and shift β ([IS15] §3; seed 003's Q&amp;A): they let a layer undo the normalisation,
/// γ = √(σ²_B + ε), β = μ_B giving back the input exactly, checked here on every BN layer's input in the
/// trained network. Training with γ, β learned is compared with γ = 1, β = 0 fixed, BN before and after
/// ReLU (the runs placement trains), over the context's seeds.
/// </summary>
public sealed class Affine : Experiment
{
    /// <inheritdoc/>
    public override string Name => "affine";
    /// <inheritdoc/>
    public override string Figure => "Ioffe & Szegedy 2015 §3 (γ, β restore the identity); seed 003 Q&A";
    /// <inheritdoc/>
    public override string Source => "Ioffe & Szegedy 2015 §3 (γ, β can represent the identity); seed 001 (γ = √Var, β = E recover the input), seed 003 Q&A (γ, β balance standardisation against the data's own distribution; caffenet table: before ReLU 47.8% with scale & bias vs 47.4% without, after ReLU 49.3% vs 49.9%)";
    /// <inheritdoc/>
    public override string Claim => "With γ = √(σ²_B + ε) and β = μ_B, BN returns its input unchanged, so γ, β let training choose anything between standardised and untouched activations; learning them does not cost accuracy against γ = 1, β = 0 fixed (caffenet on ImageNet: 47.8% vs 47.4% with BN before ReLU, 49.3% vs 49.9% after).";

    /// <summary>The identity holds when max |BN(x) − x| is at most this fraction of max |x| (float32 arithmetic: a few rounding errors).</summary>
    public const double IdentityTolerance = 1e-5;

    static readonly string ToleranceText = IdentityTolerance.ToString("0e0", CultureInfo.InvariantCulture);

    /// <summary>"Does not cost accuracy": learned γ, β not more than 1 point of test accuracy behind fixed ones (the caffenet table's largest change is 0.6 points).</summary>
    public static readonly Rule NoCost = Rule.Accuracy(Claimed.NotLess, 1);

    /// <inheritdoc/>
    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; LR 0.1; BN before and after each ReLU, with γ, β learned and with γ = 1, β = 0 fixed (PyTorch's affine = False), over the seeds (the runs placement trains). " +
         $"Identity check: on one training batch of the trained BN network (BN before ReLU, first seed), each BN layer's input x; a fresh BN layer with γ = √(σ²_B + ε), β = μ_B from x's own batch statistics (float64, rounded to float32) must return x within {ToleranceText} of max |x|. " +
         $"Rule on test accuracy, paired by seed, before and after ReLU: {NoCost.Describe("acc(learned)", "acc(fixed)")}. Every configuration must train (precondition: above chance by 10 points).",
         "The claim's caffenet numbers are seed 003's ImageNet table; [IS15] argues for γ, β from representational power, not accuracy. These are the VGG runs of the Santurkar et al. experiments, whose setting differs from that paper's thus: " + Presets.Deviations(preset, dataset));

    /// <summary>The key of the identity check's largest error over the BN layers: "identity check: max |BN(x) − x|".</summary>
    public static ResultKey IdentityErrorKey => new("identity check", "max |BN(x) − x|");

    /// <summary>The key of the identity check's largest error relative to the input's size (<see cref="IdentityCheck.RelativeError"/>): "identity check: max |BN(x) − x| / max |x|".</summary>
    public static ResultKey RelativeIdentityErrorKey => new("identity check", "max |BN(x) − x| / max |x|");

    /// <inheritdoc/>
    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var configurations = Placement.Train(context, Name);
        var groups = configurations.Values.ToList();
        var runs = groups.SelectMany(g => g.Runs).ToList();
        var identity = IdentityChecks(context, configurations[(NormPlacement.BeforeActivation, true)].Runs[0]);

        var numbers = new Dictionary<ResultKey, double>();
        foreach (var g in groups) g.AddNumbers(numbers);
        double worstRelative = identity.Max(c => c.RelativeError);
        numbers[IdentityErrorKey] = identity.Max(c => c.MaxError);
        numbers[RelativeIdentityErrorKey] = worstRelative;

        static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var files = new List<string>
        {
            WriteCsv(context, "identity.csv", identity.Select(c => $"{c.Layer},{c.Channels},{c.PerChannel},{R(c.MaxInput)},{R(c.MaxError)},{R(c.RelativeError)}")
                .Prepend("layer,channels,values_per_channel,max_abs_input,max_abs_error,relative_error")),
            WriteCsv(context, "affine.csv", configurations.SelectMany(g => g.Value.CsvLines(
                    $"{(g.Key.Placement == NormPlacement.BeforeActivation ? "before" : "after")},{g.Key.Affine.ToString().ToLowerInvariant()}"))
                .Prepend("placement,affine," + SeededRuns.CsvColumns)),
        };
        files.AddRange(runs.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv"));
        var identityTable = new TableData("Identity check: BN with γ = √(σ²_B + ε), β = μ_B on each BN layer's input x (one training batch, trained network)",
            ["BN layer", "channels", "values per channel", "max |x|", "max |BN(x) − x|", "relative to max |x|"],
            identity.Select(c => (IReadOnlyList<string>)[c.Layer, c.Channels.ToString(CultureInfo.InvariantCulture), c.PerChannel.ToString(CultureInfo.InvariantCulture),
                RunFigures.F(c.MaxInput), c.MaxError.ToString("G3", CultureInfo.InvariantCulture), c.RelativeError.ToString("G3", CultureInfo.InvariantCulture)]).ToList());
        SeedValues Accuracy(NormPlacement placement, bool affine) => configurations[(placement, affine)].TestAccuracyPerSeed;
        var verdict = Judge(worstRelative, Accuracy(NormPlacement.BeforeActivation, true), Accuracy(NormPlacement.BeforeActivation, false),
            Accuracy(NormPlacement.AfterActivation, true), Accuracy(NormPlacement.AfterActivation, false));
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, verdict,
            [SeededRuns.TrainingLoss(groups), SeededRuns.TestAccuracy(groups)], [identityTable, SeededRuns.Table(groups), RunFigures.Table(runs)], numbers,
            files, clock.Elapsed.TotalSeconds);
    }

    /// <summary>One BN layer's identity check: its input's size and the error of BN(x) with γ, β set to undo the normalisation.</summary>
    public sealed record IdentityCheck(string Layer, int Channels, long PerChannel, double MaxInput, double MaxError)
    {
        /// <summary>The identity error relative to the input's size: max |BN(x) − x| / max |x|.</summary>
        public double RelativeError => MaxError / MaxInput;
    }

    /// <summary>Every BN layer's identity check on its input in <paramref name="run"/>'s final network, on the first training batch of the run's data order.</summary>
    static List<IdentityCheck> IdentityChecks(ExperimentContext context, TrainedRun run)
    {
        var model = run.ModelAt(run.Outcome.StepsDone);
        var inputs = new List<(string Layer, Tensor Input)>();
        var hooks = model.NamedModules().Where(m => m.Module is BatchNorm)
            .Select(m => m.Module.RegisterForwardHook((_, input, _) =>
            {
                inputs.Add((m.Name, input.Clone()));
                return null;
            })).ToList();
        var batch = new DataLoader(context.Data(run.Config.Dataset).Train, run.Config.BatchSize, shuffle: true, dropLast: true, run.Config.Seed).Epoch(0).First();
        using (Autograd.NoGrad()) model.Forward(batch.Inputs);
        foreach (var hook in hooks) hook.Dispose();
        return inputs.Select(i => new IdentityCheck(i.Layer, i.Input.Size(1), i.Input.Length / i.Input.Size(1),
            i.Input.ToDoubleArray().Max(Math.Abs), IdentityError(i.Input))).ToList();
    }

    /// <summary>
    /// max |BN(x) − x| for a fresh BN layer (1d for [N, C] or [N, C, L], 2d for [N, C, H, W]) in training
    /// mode whose γ = √(σ²_B + ε) and β = μ_B are x's own per-channel batch statistics, computed in float64.
    /// </summary>
    public static double IdentityError(Tensor x)
    {
        int channels = x.Size(1);
        BatchNorm bn = x.Rank == 4 ? new BatchNorm2d(channels) : new BatchNorm1d(channels);
        if (x.DType == DType.Float64) bn.To(DType.Float64);
        var (mean, variance) = ChannelMoments(x);
        bn.Weight!.CopyFrom(Tensor.FromArray(variance.Select(v => Math.Sqrt(v + bn.Eps)).ToArray(), channels));
        bn.Bias!.CopyFrom(Tensor.FromArray(mean, channels));
        Tensor y;
        using (Autograd.NoGrad()) y = bn.Forward(x);
        var (input, output) = (x.ToDoubleArray(), y.ToDoubleArray());
        double error = 0;
        for (int i = 0; i < input.Length; i++) error = Math.Max(error, Math.Abs(output[i] - input[i]));
        return error;
    }

    /// <summary>Per channel (dimension 1), the mean and biased variance over every other dimension, two passes in float64.</summary>
    public static (double[] Mean, double[] Variance) ChannelMoments(Tensor x)
    {
        int n = x.Size(0), channels = x.Size(1), inner = x.Length / (n * channels);
        var values = x.ToDoubleArray();
        var (mean, variance) = (new double[channels], new double[channels]);
        double count = (double)n * inner;
        for (int c = 0; c < channels; c++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < inner; j++) sum += values[(i * channels + c) * inner + j];
            mean[c] = sum / count;
            double squares = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < inner; j++)
                {
                    double d = values[(i * channels + c) * inner + j] - mean[c];
                    squares += d * d;
                }
            variance[c] = squares / count;
        }
        return (mean, variance);
    }

    /// <summary>
    /// Every configuration trains (preconditions); the identity holds (an exact check: error at most
    /// <see cref="IdentityTolerance"/> of max |x|); with BN before ReLU and after it, learned γ, β are not
    /// more than 1 point of test accuracy behind fixed ones.
    /// </summary>
    public static Verdict Judge(double identityError, SeedValues learnedBefore, SeedValues fixedBefore, SeedValues learnedAfter, SeedValues fixedAfter) => Verdict.Of(
    [
        SeededRuns.Trains(learnedBefore),
        SeededRuns.Trains(fixedBefore),
        SeededRuns.Trains(learnedAfter),
        SeededRuns.Trains(fixedAfter),
        Judgement.Check("BN with γ = √(σ²_B + ε), β = μ_B returns its input", $"max over BN layers of max |BN(x) − x| / max |x| ≤ {ToleranceText}",
            identityError <= IdentityTolerance, $"largest relative error {RunFigures.Cell(identityError, "G2")}"),
        NoCost.Judge("BN before ReLU: learned γ, β do not cost accuracy", learnedBefore, fixedBefore),
        NoCost.Judge("BN after ReLU: learned γ, β do not cost accuracy", learnedAfter, fixedAfter),
    ]);
}
