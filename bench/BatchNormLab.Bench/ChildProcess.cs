using System.Diagnostics;
using System.Text.Json;

/// <summary>The measurements that run in a child process (a fresh runtime, or the PyTorch twin) and report one JSON line.</summary>
static class ChildProcess
{
    public static ProcessStartInfo Start(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        return start;
    }

    /// <summary>Runs <paramref name="start"/> and reads its last output line as JSON; null (said on stderr, prefixed <paramref name="what"/>) when it cannot start or fails.</summary>
    public static T? LastJson<T>(ProcessStartInfo start, string what, Func<JsonElement, T> read) where T : struct
    {
        try
        {
            using var p = Process.Start(start)!;
            string? last = null;
            while (p.StandardOutput.ReadLine() is { } line) last = line;
            p.WaitForExit();
            if (p.ExitCode != 0 || last is null) { Console.Error.WriteLine($"{what}: {start.FileName} exited with {p.ExitCode}"); return null; }
            using var json = JsonDocument.Parse(last);
            return read(json.RootElement);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.Error.WriteLine($"{what}: cannot start {start.FileName} ({e.Message})");
            return null;
        }
    }
}
