using System.Globalization;
using BatchNormLab.Data;
using BatchNormLab.Models;
using BatchNormLab.Nn;

namespace BatchNormLab.Experiments;

/// <summary>
/// BN's own scale γ and shift β ([IS15] §3; seed 003's Q&amp;A): they let a layer undo the normalisation,
/// γ = √(σ²_B + ε), β = μ_B giving back the input exactly, checked here on every BN layer's input in the
/// trained network. Training with γ, β learned is compared with γ = 1, β = 0 fixed (BN before ReLU, the
/// runs placement shares), over several seeds.
/// </summary>
public sealed class Affine : Experiment
{
    public override string Name => "affine";
    public override string Figure => "Ioffe & Szegedy 2015 §3 (γ, β restore the identity); seed 003 Q&A";
    public override string Source => "Ioffe & Szegedy 2015 §3 (γ, β can represent the identity); seed 001 (γ = √Var, β = E recover the input), seed 003 Q&A (caffenet table: with scale & bias 47.8% vs 47.4%)";
    public override string Claim => "With γ = √(σ²_B + ε) and β = μ_B, BN returns its input unchanged, so the learned γ, β restore what normalising removed; with them learned, BN before ReLU trains faster or reaches a higher accuracy than with γ = 1, β = 0 fixed (caffenet on ImageNet: 47.8% vs 47.4%).";

    /// <summary>Seeds per configuration (context.Seed, +1, …), as in <see cref="Placement"/> so the runs are shared.</summary>
    public int Seeds { get; init; } = 3;

    /// <summary>The identity holds when max |BN(x) − x| is at most this fraction of max |x| (float32 arithmetic: a few rounding errors).</summary>
    public const double IdentityTolerance = 1e-5;

    /// <summary>A training-loss difference below this fraction of the learned runs' loss counts as noise even when the seeds agree closely.</summary>
    public const double LossFloor = 0.05;

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null) =>
        ($"{Presets.Describe(preset, dataset)}; LR 0.1; BN before each ReLU with γ, β learned and with γ = 1, β = 0 fixed (PyTorch's affine = False), {Seeds} seeds each (the runs placement trains). " +
         "Identity check: on one training batch of the trained BN network (first seed), each BN layer's input x; a fresh BN layer with γ = √(σ²_B + ε), β = μ_B from x's own batch statistics (float64, rounded to float32) must return x.",
         "The claim's caffenet numbers are seed 003's ImageNet table, and [IS15] argues for γ, β from representational power, not speed; these are the VGG runs of the Santurkar et al. experiments, whose setting differs from that paper's thus: " + Presets.Deviations(preset, dataset));

    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var learned = SeededRuns.Train(context, Name, "γ, β learned", seed => Placement.BnVgg(context, NormPlacement.BeforeActivation, true, seed));
        var fixedAffine = SeededRuns.Train(context, Name, "γ = 1, β = 0 fixed", seed => Placement.BnVgg(context, NormPlacement.BeforeActivation, false, seed));
        SeededRuns[] groups = [learned, fixedAffine];
        var runs = groups.SelectMany(g => g.Runs).ToList();
        var identity = IdentityChecks(context, learned.Runs[0]);

        var numbers = new Dictionary<string, double>();
        foreach (var g in groups) g.AddNumbers(numbers);
        double worstRelative = identity.Max(c => c.RelativeError);
        numbers["identity check: max |BN(x) − x|"] = identity.Max(c => c.MaxError);
        numbers["identity check: max |BN(x) − x| / max |x|"] = worstRelative;

        static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var files = new List<string>
        {
            WriteCsv(context, "identity.csv", identity.Select(c => $"{c.Layer},{c.Channels},{c.PerChannel},{R(c.MaxInput)},{R(c.MaxError)},{R(c.RelativeError)}")
                .Prepend("layer,channels,values_per_channel,max_abs_input,max_abs_error,relative_error")),
            WriteCsv(context, "affine.csv", learned.CsvLines("true").Concat(fixedAffine.CsvLines("false")).Prepend("affine," + SeededRuns.CsvColumns)),
        };
        files.AddRange(runs.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv"));
        var identityTable = new TableData("Identity check: BN with γ = √(σ²_B + ε), β = μ_B on each BN layer's input x (one training batch, trained network)",
            ["BN layer", "channels", "values per channel", "max |x|", "max |BN(x) − x|", "relative to max |x|"],
            identity.Select(c => (IReadOnlyList<string>)[c.Layer, c.Channels.ToString(CultureInfo.InvariantCulture), c.PerChannel.ToString(CultureInfo.InvariantCulture),
                RunFigures.F(c.MaxInput), c.MaxError.ToString("G3", CultureInfo.InvariantCulture), c.RelativeError.ToString("G3", CultureInfo.InvariantCulture)]).ToList());
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, Judge(learned, fixedAffine, worstRelative, numbers),
            [SeededRuns.TrainingLoss(groups), SeededRuns.TestAccuracy(groups)], [identityTable, SeededRuns.Table(groups), RunFigures.Table(runs)], numbers,
            files, clock.Elapsed.TotalSeconds);
    }

    /// <summary>One BN layer's identity check: its input's size and the error of BN(x) with γ, β set to undo the normalisation.</summary>
    public sealed record IdentityCheck(string Layer, int Channels, long PerChannel, double MaxInput, double MaxError)
    {
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
    /// Does not agree when the identity fails (error above <see cref="IdentityTolerance"/> of max |x|).
    /// Otherwise compares learned with fixed γ, β over seeds on final training loss (margin two standard
    /// errors, at least 5% of the loss) and test accuracy (two standard errors, at least half a point):
    /// agrees when learned is ahead beyond the margin on one and not behind on the other; does not agree
    /// when it is behind on one and not ahead on the other; inconclusive otherwise.
    /// </summary>
    static Verdict Judge(SeededRuns learned, SeededRuns fixedAffine, double identityError, Dictionary<string, double> numbers)
    {
        var accuracy = Difference.OfMeans(learned.TestAccuracies, fixedAffine.TestAccuracies);
        var loss = Difference.OfMeans(fixedAffine.TrainLosses, learned.TrainLosses); // positive: learned trains to a lower loss
        double lossFloor = LossFloor * learned.TrainLosses.Average();
        numbers["learned − fixed: test accuracy difference"] = accuracy.Value;
        numbers["fixed − learned: final training loss difference"] = loss.Value;
        string P(double v) => (100 * v).ToString("0.0", CultureInfo.InvariantCulture) + "%";
        string L(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
        string reason = $"identity error {identityError.ToString("G2", CultureInfo.InvariantCulture)} of max |x|; over {learned.Runs.Count} seeds, learned vs fixed: " +
                        $"test accuracy {P(learned.TestAccuracies.Average())} vs {P(fixedAffine.TestAccuracies.Average())} ({accuracy.Format(100, "points")}, margin {(100 * accuracy.Margin(Placement.AccuracyFloor)).ToString("0.##", CultureInfo.InvariantCulture)}), " +
                        $"final training loss {L(learned.TrainLosses.Average())} vs {L(fixedAffine.TrainLosses.Average())} (fixed − learned {loss.Format(1, "", 3)}, margin {L(loss.Margin(lossFloor))})";
        if (!(identityError <= IdentityTolerance)) return new(VerdictKind.DoesNotAgree, $"BN with γ = √(σ²_B + ε), β = μ_B does not return its input ({reason})");
        int a = accuracy.Sign(Placement.AccuracyFloor), l = loss.Sign(lossFloor);
        return Difference.Overall(a, l) switch
        {
            1 => new(VerdictKind.Agrees, $"the identity holds, and learned γ, β train better beyond the seed noise ({reason})"),
            -1 => new(VerdictKind.DoesNotAgree, $"the identity holds, but fixed γ, β train better beyond the seed noise ({reason})"),
            _ => new(VerdictKind.Inconclusive, $"the identity holds; learned and fixed γ, β {(a == 0 && l == 0 ? "differ by less than the seed noise" : "differ in opposite directions on loss and accuracy")} ({reason})"),
        };
    }
}
