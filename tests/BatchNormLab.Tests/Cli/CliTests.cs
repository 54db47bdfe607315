using System.Diagnostics;

namespace BatchNormLab.Tests;

/// <summary>The bnlab CLI end to end: a run killed mid-way and resumed equals an uninterrupted one; bad arguments exit with 2 and one clear line.</summary>
public sealed class CliTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("bnlab-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    static readonly string[] Job =
    [
        "train", "--model", "mlp", "--hidden", "64,32", "--norm", "bn", "--dataset", "gaussian-mixture", "--batch-size", "32",
        "--lr", "0.05", "--momentum", "0.9", "--steps", "2000", "--checkpoint-every", "100", "--eval-every", "500", "--seed", "3", "--threads", "2",
    ];

    [Fact]
    public void KilledAndResumedRunEqualsAnUninterruptedOne()
    {
        string whole = Path.Combine(dir, "whole"), killed = Path.Combine(dir, "killed");
        var (code, _, err) = Cli.Run([.. Job, "--out", whole]);
        Assert.True(code == 0, err);

        // Kill the second run as soon as it has written a checkpoint past the first one, mid-way.
        using (var p = Cli.Start([.. Job, "--out", killed]))
        {
            p.StandardOutput.ReadToEndAsync();
            p.StandardError.ReadToEndAsync();
            var clock = Stopwatch.StartNew();
            while (!p.HasExited && MetricRows(killed) < 250 && clock.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(5);
            Assert.False(p.HasExited, "the run finished before it could be killed; make it longer");
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        int rowsAtKill = MetricRows(killed);
        Assert.InRange(rowsAtKill, 250, 1999);

        (code, _, err) = Cli.Run([.. Job, "--out", killed, "--resume"]);
        Assert.True(code == 0, err);
        Assert.Contains("resuming", err);
        ResumeTests.AssertSameRun(whole, killed);
    }

    static int MetricRows(string run)
    {
        try { return Math.Max(0, File.ReadAllLines(Path.Combine(run, "metrics.csv")).Length - 1); }
        catch (IOException) { return 0; }
    }

    [Theory]
    [InlineData("unknown model", "train", "--model", "vgg12", "--steps", "1")]
    [InlineData("learning rate", "train", "--lr", "-0.1", "--steps", "1", "--dataset", "gaussian-mixture")]
    [InlineData("batch size of at least 2", "train", "--batch-size", "1", "--norm", "bn", "--steps", "1", "--dataset", "gaussian-mixture")]
    [InlineData("--steps", "train", "--dataset", "gaussian-mixture")]
    [InlineData("--norm 'layer'", "train", "--norm", "layer", "--steps", "1", "--dataset", "gaussian-mixture")]
    [InlineData("--frobnicate", "train", "--frobnicate")]
    [InlineData("instance-norm normalises each channel over its own spatial plane", "train", "--norm", "in", "--steps", "1", "--dataset", "gaussian-mixture")]
    [InlineData("--ghost-batch-size 1", "train", "--norm", "ghost-bn", "--ghost-batch-size", "1", "--steps", "1", "--dataset", "gaussian-mixture")]
    [InlineData("--renorm-schedule 'r_max=0.5': Batch Renorm: r_max must be finite and ≥ 1", "train", "--norm", "brn", "--renorm-schedule", "r_max=0.5", "--steps", "1", "--dataset", "gaussian-mixture")]
    [InlineData("unknown setting 'rmax'", "train", "--norm", "brn", "--renorm-schedule", "rmax=2", "--steps", "1", "--dataset", "gaussian-mixture")]
    [InlineData("--only: unknown experiment 'bogus'", "reproduce", "--preset", "tiny", "--only", "lr-sweep,bogus")]
    [InlineData("--seeds 0: must be ≥ 1", "reproduce", "--preset", "tiny", "--seeds", "0")]
    public void BadArgumentsExitWithTwoAndOneClearLine(string expected, params string[] args)
    {
        var (code, stdout, stderr) = Cli.Run([.. args, "--out", Path.Combine(dir, "bad")]);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr);
        Assert.DoesNotContain("   at ", stderr + stdout); // no stack trace
    }

    /// <summary>CIFAR-10 binary files (label byte + 3072 pixel bytes per record), made here with a fixed pattern.</summary>
    static string MakeCifar(string root, int perBatch)
    {
        string folder = Path.Combine(root, "cifar-10-batches-bin");
        Directory.CreateDirectory(folder);
        var rng = new Rng(9);
        foreach (var name in new[] { "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin" })
        {
            var bytes = new byte[perBatch * 3073];
            for (int r = 0; r < perBatch; r++)
            {
                int label = rng.NextInt(10);
                bytes[r * 3073] = (byte)label;
                for (int i = 1; i < 3073; i++) bytes[r * 3073 + i] = (byte)(label * 20 + rng.NextInt(40)); // learnable: brightness encodes the class
            }
            File.WriteAllBytes(Path.Combine(folder, name), bytes);
        }
        return root;
    }

    [Fact]
    public void TrainsAndEvaluatesOnCifarFormatFiles()
    {
        string data = MakeCifar(Path.Combine(dir, "data"), 40), run = Path.Combine(dir, "cifar");
        var (code, stdout, stderr) = Cli.Run("train", "--model", "resnet8", "--norm", "bn", "--dataset", "cifar10", "--data", data, "--batch-size", "20",
            "--steps", "6", "--lr", "0.05", "--augment", "--out", run);
        Assert.True(code == 0, stderr);
        Assert.Contains("resnet8 bn", stdout);
        Assert.Equal(7, File.ReadAllLines(Path.Combine(run, "metrics.csv")).Length);
        (code, stdout, stderr) = Cli.Run("eval", "--checkpoint", run, "--data", data);
        Assert.True(code == 0, stderr);
        Assert.Contains("40 examples", stdout);

        // A truncated batch file: one line naming it, exit code 1.
        var batch = Path.Combine(data, "cifar-10-batches-bin", "data_batch_3.bin");
        File.WriteAllBytes(batch, File.ReadAllBytes(batch)[..^100]);
        (code, _, stderr) = Cli.Run("train", "--dataset", "cifar10", "--data", data, "--steps", "1", "--out", Path.Combine(dir, "bad"));
        Assert.Equal(1, code);
        Assert.Contains("data_batch_3.bin", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void MissingDatasetSaysHowToGetIt()
    {
        var (code, _, stderr) = Cli.Run("train", "--dataset", "cifar10", "--data", Path.Combine(dir, "nowhere"), "--steps", "1", "--out", Path.Combine(dir, "x"));
        Assert.Equal(1, code);
        Assert.Contains("nowhere", stderr);
    }

    [Fact]
    public void HelpListsEveryCommandAndOption()
    {
        var (code, stdout, _) = Cli.Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("train", stdout);
        Assert.Contains("eval", stdout);
        Assert.Contains("runs", stdout);
        Assert.Contains("report", stdout);
        (code, stdout, _) = Cli.Run("train", "--help");
        Assert.Equal(0, code);
        foreach (var norm in new[] { "gn (GroupNorm", "ln (LayerNorm", "in (InstanceNorm", "brn (Batch Renorm", "ghost-bn (Ghost BN" })
            Assert.Contains(norm, stdout);
        foreach (var option in new[] { "--model", "--norm", "--groups", "--ghost-batch-size", "--renorm-schedule", "--dataset", "--data", "--lr", "--batch-size", "--steps", "--epochs", "--seed", "--threads", "--out", "--resume" })
            Assert.Contains(option, stdout);
    }

    [Fact]
    public void DescribeSaysEachExperimentsSettingsAndDeviationsWithoutRunning()
    {
        string db = Path.Combine(dir, "never.db");
        var (code, stdout, stderr) = Cli.Run("reproduce", "--preset", "paper", "--dataset", "fashion-mnist", "--describe", "--db", db);
        Assert.True(code == 0, stderr);
        foreach (var expected in new[] { "lr-sweep: Santurkar et al. 2018, Fig. 1", "lp-norm:", "settings (paper): vgg16", "15000 steps", "differs from the paper: Fashion-MNIST (28×28 grey) instead of CIFAR-10" })
            Assert.Contains(expected, stdout);
        Assert.False(File.Exists(db));
    }

    [Fact]
    public void DescribeAsMarkdownHasASectionPerExperimentAndMarkdownAloneIsRefused()
    {
        var (code, stdout, stderr) = Cli.Run("reproduce", "--preset", "quick", "--describe", "--markdown");
        Assert.True(code == 0, stderr);
        Assert.Equal(BatchNormLab.Experiments.Experiment.All.Count, stdout.Split('\n').Count(l => l.StartsWith("## `", StringComparison.Ordinal)));
        foreach (var expected in new[] { "## `lr-sweep`: Santurkar et al. 2018, Fig. 1", "**Claim.**", "**Source.**", "**Settings (quick).**", "**Where it differs from the paper.**" })
            Assert.Contains(expected, stdout);

        (code, _, stderr) = Cli.Run("reproduce", "--preset", "tiny", "--markdown", "--db", Path.Combine(dir, "never.db"));
        Assert.Equal(2, code);
        Assert.Contains("--markdown: goes with --describe", stderr);
    }
}
