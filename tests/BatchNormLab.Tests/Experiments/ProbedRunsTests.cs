using BatchNormLab.Experiments;
using BatchNormLab.Models;
using BatchNormLab.Training;

namespace BatchNormLab.Tests;

public sealed class ProbedRunsTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-probed-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData(ProbedNetwork.Vgg)]
    [InlineData(ProbedNetwork.Dln)]
    [InlineData(ProbedNetwork.IcsDln)]
    public void EveryProbeTogetherLeavesTheTrainingTrajectoryBitwiseUnchanged(ProbedNetwork network)
    {
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1);
        var config = ProbedRuns.Config(context, network, Norm.BatchNorm, 1);
        IReadOnlyList<ITrainingCallback> probes = [];
        var probed = TrainedRun.Train(context, "t", "probed", config, t => probes = ProbedRuns.Attach(t, network, Preset.Tiny));
        var plain = TrainedRun.Train(context, "t", "plain", config);
        Assert.Equal(network == ProbedNetwork.Vgg ? 3 : 1, probes.Count);
        Assert.All(probes.OfType<IcsProbe>(), p => Assert.NotEmpty(p.Measurements));
        Assert.All(probes.OfType<LandscapeProbe>(), p => Assert.NotEmpty(p.Measurements));
        Assert.All(probes.OfType<TheoryProbe>(), p => Assert.NotEmpty(p.Measurements));
        Assert.Equal(plain.Steps.Select(s => (s.Loss, s.GradNorm, s.Accuracy)), probed.Steps.Select(s => (s.Loss, s.GradNorm, s.Accuracy)));
        Assert.Equal(plain.Evaluations, probed.Evaluations);
        // Weights, BN running statistics and num_batches_tracked, bitwise.
        Assert.Equal(plain.Model.StateDict().Select(e => e.Tensor?.ToDoubleArray() ?? [e.Int64!.Value]),
            probed.Model.StateDict().Select(e => e.Tensor?.ToDoubleArray() ?? [e.Int64!.Value]));
    }

    sealed class CountingProgress : IExperimentProgress
    {
        public List<string> Started { get; } = [];
        public void RunStarted(string experiment, string run, int steps) => Started.Add($"{experiment}: {run}");
    }

    [Fact]
    public void IcsLandscapeAndTheoryTrainEachConfigurationOncePerSeed()
    {
        var progress = new CountingProgress();
        var context = new ExperimentContext(dir, Preset.Tiny, null, threads: 2, seed: 1, progress);
        foreach (var experiment in new Experiment[] { new Ics(), new Landscape(), new Theory() }) experiment.Run(context);
        // VGG BN and standard, the landscape DLN's two, the ICS DLN's two: each over 2 seeds.
        Assert.Equal(12, progress.Started.Count);
        Assert.Equal(12, progress.Started.Distinct().Count());
        Assert.All(progress.Started, s => Assert.DoesNotContain("theory", s)); // theory probes the runs ics trained
    }

    [Fact]
    public void RunsSideBySideGiveTheSameNumbersAsOneAfterAnother()
    {
        // Two threads: the four runs (2 norms × 2 seeds) train two at a time, one thread each; one thread: one after another.
        Dictionary<Norm, SeededRuns> Train(int threads, string sub)
        {
            var context = new ExperimentContext(Path.Combine(dir, sub), Preset.Tiny, null, threads, seed: 3);
            using (BatchNormLab.Kernels.Threading.Use(threads))
                return SeededRuns.TrainAll(context, "t", [Norm.BatchNorm, Norm.None], Presets.Label, (n, seed) => Presets.Vgg(Preset.Tiny, n, 0.1, seed));
        }
        var (together, alone) = (Train(2, "together"), Train(1, "alone"));
        foreach (var norm in together.Keys)
        {
            Assert.Equal(alone[norm].Label, together[norm].Label);
            Assert.Equal(alone[norm].Runs.Select(r => r.Label), together[norm].Runs.Select(r => r.Label));
            Assert.Equal(alone[norm].Runs.Select(r => r.Config.Seed), together[norm].Runs.Select(r => r.Config.Seed));
            Assert.Equal(alone[norm].Runs.SelectMany(r => r.Steps.Select(s => (s.Loss, s.GradNorm))), together[norm].Runs.SelectMany(r => r.Steps.Select(s => (s.Loss, s.GradNorm))));
            Assert.Equal(alone[norm].Runs.SelectMany(r => r.Model.StateDict().Select(e => e.Tensor?.ToDoubleArray() ?? [e.Int64!.Value])),
                together[norm].Runs.SelectMany(r => r.Model.StateDict().Select(e => e.Tensor?.ToDoubleArray() ?? [e.Int64!.Value])));
        }
    }
}
