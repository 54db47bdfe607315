using System.Diagnostics;
using BatchNormLab.Training;

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
        Assert.Equal(WithoutTimes(Path.Combine(whole, "metrics.csv")), WithoutTimes(Path.Combine(killed, "metrics.csv")));
        Assert.Equal(File.ReadAllLines(Path.Combine(whole, "eval.csv")), File.ReadAllLines(Path.Combine(killed, "eval.csv")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, Checkpoint.ModelFile)), File.ReadAllBytes(Path.Combine(killed, Checkpoint.ModelFile)));
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, Checkpoint.StateFile)), File.ReadAllBytes(Path.Combine(killed, Checkpoint.StateFile)));
    }

    static int MetricRows(string run)
    {
        try { return Math.Max(0, File.ReadAllLines(Path.Combine(run, "metrics.csv")).Length - 1); }
        catch (IOException) { return 0; }
    }

    /// <summary>metrics.csv without its last column (wall-clock seconds, which differ between runs).</summary>
    static List<string> WithoutTimes(string path) => File.ReadAllLines(path).Select(l => l[..l.LastIndexOf(',')]).ToList();

    [Theory]
    [InlineData("unknown model", "train", "--model", "vgg12", "--steps", "1")]
    [InlineData("learning rate", "train", "--lr", "-0.1", "--steps", "1", "--dataset", "gaussian-mixture")]
    [InlineData("batch size of at least 2", "train", "--batch-size", "1", "--norm", "bn", "--steps", "1", "--dataset", "gaussian-mixture")]
    [InlineData("--steps", "train", "--dataset", "gaussian-mixture")]
    [InlineData("--norm 'layer'", "train", "--norm", "layer", "--steps", "1", "--dataset", "gaussian-mixture")]
    [InlineData("--frobnicate", "train", "--frobnicate")]
    public void BadArgumentsExitWithTwoAndOneClearLine(string expected, params string[] args)
    {
        var (code, stdout, stderr) = Cli.Run([.. args, "--out", Path.Combine(dir, "bad")]);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr);
        Assert.DoesNotContain("   at ", stderr + stdout); // no stack trace
    }

    [Fact]
    public void HelpListsEveryCommandAndOption()
    {
        var (code, stdout, _) = Cli.Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("train", stdout);
        Assert.Contains("eval", stdout);
        (code, stdout, _) = Cli.Run("train", "--help");
        Assert.Equal(0, code);
        foreach (var option in new[] { "--model", "--norm", "--dataset", "--data", "--lr", "--batch-size", "--steps", "--epochs", "--seed", "--threads", "--out", "--resume" })
            Assert.Contains(option, stdout);
    }
}
