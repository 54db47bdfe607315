using System.Diagnostics;

namespace BatchNormLab.Tests;

/// <summary>Runs the built <c>bnlab</c> (src/BatchNormLab.Cli, same configuration as this test assembly) as a child process.</summary>
static class Cli
{
    public static string Dll
    {
        get
        {
            // .../tests/BatchNormLab.Tests/bin/Release/net10.0/ → .../src/BatchNormLab.Cli/bin/Release/net10.0/bnlab.dll
            string testBin = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
            string tail = Path.GetRelativePath(Path.GetFullPath(Path.Combine(testBin, "..", "..", "..")), testBin);
            string root = Path.GetFullPath(Path.Combine(testBin, "..", "..", "..", "..", ".."));
            return Path.Combine(root, "src", "BatchNormLab.Cli", tail, "bnlab.dll");
        }
    }

    public static Process Start(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["NO_COLOR"] = "1";
        return Process.Start(start)!;
    }

    /// <summary>Runs to the end: exit code, stdout, stderr.</summary>
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var p = Start(args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(true); throw new TimeoutException($"bnlab {string.Join(' ', args)} did not finish in 5 minutes"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
