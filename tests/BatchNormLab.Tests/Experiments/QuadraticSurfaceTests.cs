using BatchNormLab.Analysis;
using BatchNormLab.QuadraticTheory;
using BatchNormLab.Experiments;

namespace BatchNormLab.Tests;

/// <summary>The quadratic experiment (seed 004): BN-normalised gradient descent through our autodiff, and the tiny preset end to end.</summary>
public sealed class QuadraticSurfaceTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-quadratic-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void BatchNormOverTheFullBatchIsStandardisationAndTakesTheClosedFormsSteps()
    {
        var inputs = new IidInputs(Dimension: 100, Samples: 1000, Mean: 1, Variance: 1);
        var rng = new Rng(4);
        var x = inputs.Draw(rng);
        var teacher = LinearUnitQuadratic.RandomTeacher(rng, inputs.Dimension);
        var (seen, trace) = QuadraticSurface.DescendThroughBatchNorm(x, teacher, QuadraticSurface.Tolerance, maxSteps: 10_000);

        // BN's output is the standardised input, short of ε = 1e-5 against a variance near 1.
        var standardised = new LinearUnitQuadratic(InputTreatment.Standardised.Apply(x), teacher);
        for (int j = 0; j < inputs.Dimension; j++) Assert.Equal(standardised.Eigenvalues[j], seen.Eigenvalues[j], 1e-4);

        int measured = trace.StepsToTolerance ?? throw new Xunit.Sdk.XunitException("GD through BN did not converge");
        int predicted = seen.PredictedSteps(trace.LearningRate, QuadraticSurface.Tolerance, 10_000)!.Value;
        Assert.True(Math.Abs(measured - predicted) <= 0.1 * predicted, $"{measured} steps through BN, {predicted} predicted");
        // Autodiff's losses follow the closed form step by step.
        var closedForm = seen.PredictedLosses(trace.LearningRate, trace.Losses.Length - 1);
        for (int k = 0; k < closedForm.Length; k++) Assert.True(Math.Abs(trace.Losses[k] / closedForm[k] - 1) < 1e-6, $"step {k}: {trace.Losses[k]:R} vs {closedForm[k]:R}");
    }

    [Fact]
    public void TinyPresetProducesAVerdictFiguresTablesAndFiles()
    {
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1);
        var experiment = Experiment.Find("quadratic")!;
        Assert.IsType<QuadraticSurface>(experiment);
        Assert.True(Experiment.All.ToList().FindIndex(e => e is QuadraticSurface) > Experiment.All.ToList().FindIndex(e => e is LossSurfacePlots));
        var result = experiment.Run(context);

        Assert.Contains("outlier", result.Verdict.Reason);
        Assert.Contains("zero eigenvalues", result.Verdict.Reason);
        Assert.Equal(6, result.Figures.Count);
        Assert.Equal(3, result.Tables.Count);
        Assert.All(result.Figures.SelectMany(f => f.Series), s => Assert.Equal(s.X.Length, s.Y.Length));
        Assert.Contains(result.Figures, f => f.References.Any(r => r.Label.StartsWith("2/λmax", StringComparison.Ordinal)));
        Assert.Equal(["quadratic-eigenvalues.csv", "quadratic-descent.csv", "quadratic-eta-sweep.csv"], result.Files);
        Assert.All(result.Files, f => Assert.True(new FileInfo(Path.Combine(dir, "quadratic", f)).Length > 100, f));
        Assert.All(result.Numbers, n => Assert.True(double.IsFinite(n.Value), n.Key.ToString()));
        var setting = QuadraticSurface.SettingOf(Preset.Tiny);
        var few = setting.FewSamples;
        Assert.Equal(few.ZeroEigenvalues, Assert.Single(result.Numbers, n => n.Key.Measure.StartsWith("zero eigenvalues", StringComparison.Ordinal)).Value);
        Assert.Equal(few.ZeroEigenvalues, result.Numbers[QuadraticSurface.ZeroEigenvaluesKey(QuadraticSurface.FewSamplesCase(few), few.ZeroEigenvalues)]);

        // The result survives its JSON round trip, new figure fields included, and the same seed gives the same numbers.
        var back = ResultJson.Deserialize(ResultJson.Serialize(result));
        Assert.Equal(result.Figures.Select(f => f.References.Count), back.Figures.Select(f => f.References.Count));
        Assert.Equal(result.Figures.SelectMany(f => f.Series).Select(s => s.Theory), back.Figures.SelectMany(f => f.Series).Select(s => s.Theory));
        Assert.Equal(result.Numbers, back.Numbers); // the keys read back from their text
        Assert.Equal(result.Numbers.Keys, back.Numbers.Keys); // in the same order
        Assert.Equal(result.Numbers, experiment.Run(context).Numbers);
    }
}
