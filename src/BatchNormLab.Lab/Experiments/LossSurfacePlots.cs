using System.Globalization;
using BatchNormLab.Analysis;
using BatchNormLab.Data;
using BatchNormLab.Models;

namespace BatchNormLab.Experiments;

/// <summary>
/// Li et al. 2018's loss-surface plots, as seed 000 uses them: 1-D curves and a 2-D grid of the training
/// loss around the trained VGG nets with and without BN (LR 0.1, the runs the other experiments share),
/// along filter-normalised random directions. The claim: BN's surface is smoother and flatter around its minimum.
/// </summary>
public sealed class LossSurfacePlots : Experiment
{
    public override string Name => "loss-surface";
    public override string Figure => "Li et al. 2018, Figs. 1 and 5 (filter-normalised surfaces), as seed 000 uses them";
    public override string Source => "This project's own extension: Li et al. 2018's filter-normalised surfaces and convexity map, applied to BN vs no BN vs skip connections. Li et al. compare skip connections, not BN; seed 000 cites Li et al. only for “a smoother loss is easier to train” and reports the appendix's remark that BN works like ResNet";
    public override string Claim => "Around the trained weights, the loss surface of the network with BN is smoother and flatter than that of the network without BN.";

    /// <summary>Points of the 1-D curves over α ∈ [−1, 1] (the paper's 51 on paper).</summary>
    static int CurvePoints(Preset p) => p switch { Preset.Tiny => 11, Preset.Quick => 21, _ => 51 };

    /// <summary>Points per axis of the 2-D grid over [−1, 1]² (the paper's 51 on paper).</summary>
    static int GridPoints(Preset p) => p switch { Preset.Tiny => 5, Preset.Quick => 11, _ => 51 };

    /// <summary>Training examples the loss is averaged over (0: the whole training set, as the paper).</summary>
    static int Examples(Preset p) => p switch { Preset.Tiny => 512, Preset.Quick => 1024, _ => 0 };

    /// <summary>Where the verdict reads the sharpness: L(w ± α·d) − L(w).</summary>
    const double Probe = 0.5;

    public override (string Settings, string Deviations) Describe(Preset preset, string? dataset = null)
    {
        string examples = Examples(preset) == 0 ? "the whole training set" : $"the first {Examples(preset)} training examples";
        return ($"The shared VGG runs at LR 0.1 with and without BN ({Presets.Describe(preset, dataset)}). Around each trained w: two filter-normalised Gaussian directions d₁, d₂ (seeded by the run's seed; " +
                $"biases and BN parameters ignored: zero in d), the loss over {examples} in eval mode (running statistics), L(w + α·d₁) at {CurvePoints(preset)} points of α ∈ [−1, 1] and L(w + α·d₁ + β·d₂) on a {GridPoints(preset)}×{GridPoints(preset)} grid over [−1, 1]². " +
                $"Beside, the 1-D curve and sharpness in training mode (batch statistics), which undo a rescaling of the filters that running statistics cannot. The 2-D grid is drawn as 1-D slices in α at five values of β (the report draws line series only). Sharpness: the mean of L(w ± {RunFigures.F(Probe)}·d₁) − L(w); flatness of the grid: the mean of L − L(w) over it. " +
                $"A net further down its minimum sits in a narrower part of the basin, so the verdict compares sharpness at matched loss: the BN net's copy (kept at a tenth, half and the end of training) whose loss is nearest the standard net's final loss, when within a factor {RunFigures.F(MatchedLossFactor)}.",
            Presets.Deviations(preset, dataset) + (Examples(preset) == 0 ? "" : $" The loss over {Examples(preset)} training examples, not the whole set;") + $" {CurvePoints(preset)} and {GridPoints(preset)}×{GridPoints(preset)} points instead of 51 and 51×51 where fewer. Li et al. compare architectures, not BN against none; seed 000 makes this comparison.");
    }

    static double[] Span(int points) => Enumerable.Range(0, points).Select(i => -1 + 2.0 * i / (points - 1)).ToArray();

    /// <summary>Per net: L(w), the sharpness at ±<see cref="Probe"/>, the mean rise over the 2-D grid (all in eval mode), and the sharpness with batch statistics.</summary>
    sealed record Surface(double Loss, double Sharpness, double GridRise, double TrainModeSharpness);

    /// <summary>The mean of L(w ± <see cref="Probe"/>·d) − L(w), and L(w).</summary>
    static (double Sharpness, double Loss) Sharpness(Nn.Module model, Tensor direction, Func<Nn.Module, double> loss, BnMode mode)
    {
        var around = LossSurface.Curve(model, direction, [-Probe, 0, Probe], loss, mode);
        return ((around[0] + around[2]) / 2 - around[1], around[1]);
    }

    protected override ExperimentResult Measure(ExperimentContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var runs = Presets.SharedRuns(context, Name, [Norm.BatchNorm, Norm.None]).Select(g => g.Runs[0]).ToList();
        var (alphas, grid) = (Span(CurvePoints(context.Preset)), Span(GridPoints(context.Preset)));
        var curves = new List<Series>();
        var figures = new List<FigureData>();
        var numbers = new Dictionary<string, double>();
        var rows = new List<IReadOnlyList<string>>();
        var csv = new List<string> { "network,alpha,beta,loss" };
        var surfaces = new Dictionary<string, Surface>();
        var losses = new Dictionary<string, Func<Nn.Module, double>>();
        foreach (var run in runs)
        {
            context.Progress.Message(Name, $"{run.Label}: surface");
            var train = context.Data(run.Config.Dataset).Train;
            if (Examples(context.Preset) > 0) train = train.Take(Math.Min(Examples(context.Preset), train.Count));
            var loss = losses[run.Label] = LossSurface.MeanLoss(new DataLoader(train, 256, shuffle: false, dropLast: false, seed: 0).Epoch(0).ToList(), run.Config.Loss);
            var rng = new Rng(context.Seed);
            var (d1, d2) = (LossSurface.FilterNormalisedDirection(run.Model, rng), LossSurface.FilterNormalisedDirection(run.Model, rng));
            var curve = LossSurface.Curve(run.Model, d1, alphas, loss, BnMode.Eval);
            var trainCurve = LossSurface.Curve(run.Model, d1, alphas, loss, BnMode.Train);
            var (sharpness, here) = Sharpness(run.Model, d1, loss, BnMode.Eval);
            var surface = LossSurface.Grid(run.Model, d1, d2, grid, grid, loss, BnMode.Eval);
            var s = surfaces[run.Label] = new Surface(here, sharpness, surface.Cast<double>().Average() - here, Sharpness(run.Model, d1, loss, BnMode.Train).Sharpness);

            curves.Add(new Series(run.Label, alphas, curve));
            curves.Add(new Series($"{run.Label}, batch statistics", alphas, trainCurve));
            var slices = Enumerable.Range(0, 5).Select(k => k * (grid.Length - 1) / 4).Distinct();
            figures.Add(new FigureData($"{run.Label}: 2-D surface as slices", $"L(w + α·d₁ + β·d₂) against α, one line per β: slices of the {grid.Length}×{grid.Length} grid.", "α (along d₁)", "training loss",
                slices.Select(j => new Series($"β = {RunFigures.F(grid[j])}", grid, grid.Select((_, i) => surface[i, j]).ToArray())).ToList(), LogY: RunFigures.SpansDecades(surface.Cast<double>())));
            csv.AddRange(alphas.Select((a, i) => string.Create(CultureInfo.InvariantCulture, $"{run.Label},{a:R},,{curve[i]:R}")));
            for (int i = 0; i < grid.Length; i++)
                for (int j = 0; j < grid.Length; j++) csv.Add(string.Create(CultureInfo.InvariantCulture, $"{run.Label},{grid[i]:R},{grid[j]:R},{surface[i, j]:R}"));

            numbers[$"{run.Label}: loss at w"] = s.Loss;
            numbers[$"{run.Label}: sharpness at ±{RunFigures.F(Probe)}"] = s.Sharpness;
            numbers[$"{run.Label}: mean rise over the 2-D grid"] = s.GridRise;
            numbers[$"{run.Label}: sharpness at ±{RunFigures.F(Probe)}, batch statistics"] = s.TrainModeSharpness;
            rows.Add([run.Label, RunFigures.Summary(run), G(s.Loss), G(s.Sharpness), G(s.GridRise), G(curve.Max() - s.Loss), G(s.TrainModeSharpness)]);
        }
        var matched = AtMatchedLoss(runs[0], losses[runs[0].Label], surfaces[runs[1].Label].Loss, context.Seed);
        numbers[$"{runs[0].Label} at matched loss: step"] = matched.Step;
        numbers[$"{runs[0].Label} at matched loss: loss"] = matched.Loss;
        numbers[$"{runs[0].Label} at matched loss: sharpness at ±{RunFigures.F(Probe)}"] = matched.Sharpness;
        rows.Add([$"{runs[0].Label} at step {matched.Step} (loss nearest the standard net's)", $"copy kept at step {matched.Step}", G(matched.Loss), G(matched.Sharpness), "", "", ""]);
        figures.Insert(0, new FigureData("1-D loss curves", "L(w + α·d₁) along a filter-normalised random direction d₁ around the trained weights (α = 0), in eval mode (running statistics, as Li et al.) and with each batch's statistics (training mode).", "α", "training loss", curves, LogY: RunFigures.SpansDecades(curves.SelectMany(c => c.Y))));
        string file = WriteCsv(context, "loss-surface.csv", csv);
        var table = new TableData("Loss surfaces around the trained weights (eval mode; rises are above L(w))",
            ["network", "training run", "L(w)", $"sharpness: mean of L(w ± {RunFigures.F(Probe)}·d₁) − L(w)", "mean rise over the 2-D grid", "largest rise on the 1-D curve", "sharpness with batch statistics"], rows);
        var (settings, deviations) = Describe(context.Preset, context.Dataset);
        return new ExperimentResult(Name, Figure, Claim, settings, deviations, Judge(surfaces[runs[0].Label], surfaces[runs[1].Label], matched), figures, [table], numbers,
            [file, .. runs.Select(r => TrainedRun.FileName(r.Label) + ".metrics.csv")], clock.Elapsed.TotalSeconds);
    }

    static string G(double v) => RunFigures.Cell(v, "G4");

    /// <summary>The BN net at the kept step (a tenth, half, or all of training) whose eval-mode loss is nearest <paramref name="target"/>: its step, loss and sharpness along its own d₁.</summary>
    static (int Step, double Loss, double Sharpness) AtMatchedLoss(TrainedRun run, Func<Nn.Module, double> loss, double target, ulong seed)
    {
        var best = (Step: -1, Loss: double.NaN, Sharpness: double.NaN);
        foreach (int step in run.Snapshots.Keys.Append(run.Outcome.StepsDone).Distinct().Order())
        {
            var model = run.ModelAt(step);
            var direction = LossSurface.FilterNormalisedDirection(model, new Rng(seed));
            var (sharpness, here) = Sharpness(model, direction, loss, BnMode.Eval);
            if (best.Step < 0 || Math.Abs(Math.Log(here / target)) < Math.Abs(Math.Log(best.Loss / target))) best = (step, here, sharpness);
        }
        return best;
    }

    /// <summary>Loss ratios within this factor count as matched.</summary>
    const double MatchedLossFactor = 1.5;

    /// <summary>
    /// A net deeper in its minimum sits lower in a narrower basin, so sharpness compares fairly only at equal loss:
    /// when BN's kept copy nearest the standard net's final loss is within <see cref="MatchedLossFactor"/> of it, the
    /// verdict compares that copy's sharpness; otherwise both the final sharpness and the mean grid rise must agree.
    /// </summary>
    static Verdict Judge(Surface bn, Surface standard, (int Step, double Loss, double Sharpness) matched)
    {
        string numbers = $"sharpness (mean of L(w ± {RunFigures.F(Probe)}·d₁) − L(w)) BN {G(bn.Sharpness)} vs standard {G(standard.Sharpness)} at their final weights, where L(w) is BN {G(bn.Loss)} vs standard {G(standard.Loss)}; " +
            $"BN at step {matched.Step}, where its loss {G(matched.Loss)} is nearest the standard net's: sharpness {G(matched.Sharpness)}; mean rise over the 2-D grid BN {G(bn.GridRise)} vs standard {G(standard.GridRise)}. " +
            $"Beside (not judged): sharpness with batch statistics BN {G(bn.TrainModeSharpness)} vs standard {G(standard.TrainModeSharpness)}";
        if (new[] { bn.Sharpness, bn.GridRise, standard.Sharpness, standard.GridRise, matched.Sharpness }.Any(v => !double.IsFinite(v))) return new(VerdictKind.Inconclusive, $"a surface was not finite ({numbers})");
        if (Math.Abs(Math.Log(matched.Loss / standard.Loss)) <= Math.Log(MatchedLossFactor))
            return matched.Sharpness < standard.Sharpness
                ? new(VerdictKind.Agrees, $"at matched loss BN's surface is flatter ({numbers})")
                : new(VerdictKind.DoesNotAgree, $"at matched loss BN's surface is sharper ({numbers})");
        if (bn.Sharpness < standard.Sharpness && bn.GridRise < standard.GridRise) return new(VerdictKind.Agrees, $"BN's surface is flatter around its minimum; no copy of the BN net was at the standard net's loss ({numbers})");
        if (bn.Sharpness > standard.Sharpness && bn.GridRise > standard.GridRise) return new(VerdictKind.DoesNotAgree, $"BN's surface is sharper around its minimum; no copy of the BN net was at the standard net's loss ({numbers})");
        return new(VerdictKind.Inconclusive, $"the two measures disagree and no copy of the BN net was at the standard net's loss ({numbers})");
    }
}
