using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;

/// <summary>The PyTorch peer, ../shared/peer/torch_bench.py, run as a child process in the same run.</summary>
static class Peer
{
    const string Python = "/usr/bin/python3";

    /// <summary>Median ms per workload name; null (with the reason on stderr) when the peer cannot run at all.</summary>
    public static Dictionary<string, double>? Run(int threads, int runs, IEnumerable<string> prefixes)
    {
        var results = new Dictionary<string, double>();
        var root = RepoRoot();
        if (root is null)
        {
            Console.Error.WriteLine("peer: no BatchNormLab.sln above the current directory, so no ../shared/peer/torch_bench.py; continuing without peer numbers");
            return null;
        }
        var script = Path.GetFullPath(Path.Combine(root, "..", "shared", "peer", "torch_bench.py"));
        if (!File.Exists(script))
        {
            Console.Error.WriteLine($"peer: {script} not found; continuing without peer numbers");
            return null;
        }
        var start = new ProcessStartInfo(Python) { RedirectStandardOutput = true };
        foreach (var arg in (string[])[script, "--threads", $"{threads}", "--runs", $"{runs}", "--only", string.Join(",", prefixes)])
            start.ArgumentList.Add(arg);
        Console.Error.WriteLine($"peer: {Python} {string.Join(" ", start.ArgumentList)}");
        try
        {
            using var process = Process.Start(start)!;
            while (process.StandardOutput.ReadLine() is { } line)
            {
                using var json = JsonDocument.Parse(line);
                results[json.RootElement.GetProperty("name").GetString()!] = json.RootElement.GetProperty("ms").GetDouble();
            }
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                Console.Error.WriteLine($"peer: exited with code {process.ExitCode} (is python3-torch installed?); continuing with {results.Count} peer numbers");
                if (results.Count == 0) return null;
            }
        }
        catch (Win32Exception e)
        {
            Console.Error.WriteLine($"peer: cannot start {Python} ({e.Message}); continuing without peer numbers");
            return null;
        }
        return results;
    }

    public static string? RepoRoot()
    {
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "BatchNormLab.sln")))
                return dir.FullName;
        return null;
    }
}
