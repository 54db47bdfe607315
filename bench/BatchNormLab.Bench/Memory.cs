using System.Diagnostics;
using System.Text.Json;
using BatchNormLab;
using BatchNormLab.Models;
using BatchNormLab.Training;

/// <summary>
/// Peak resident memory of a VGG-11(-BN) training run (5 SGD steps on a [128,3,32,32] batch), ours
/// and PyTorch's (tools/torch/vgg_memory.py), each in a fresh process so nothing else counts. Peak
/// RSS is VmHWM (Linux): the most the process ever held, libraries and runtime included; the
/// training part is the peak minus the RSS before the first step.
/// </summary>
static class Memory
{
    const int Steps = 5;

    /// <summary>The child: trains, prints {"peak_mib", "before_steps_mib"}.</summary>
    public static int Child(bool bn, int threads)
    {
        using var threadScope = BatchNormLab.Kernels.Threading.Use(threads);
        var rng = new Rng(0);
        var model = new Vgg(11, 3, 32, 10, 1.0, new ModelOptions(bn ? Norm.BatchNorm : Norm.None), rng);
        var sgd = new Sgd(model.Parameters(), 0.01, momentum: 0.9);
        var x = Tensor.RandomNormal(rng, [128, 3, 32, 32]);
        var labels = Enumerable.Range(0, 128).Select(_ => rng.NextInt(10)).ToArray();
        double before = PeakMib();
        for (int i = 0; i < Steps; i++)
        {
            model.ZeroGrad();
            model.Forward(x).CrossEntropy(labels).Backward();
            sgd.Step();
        }
        Console.WriteLine(JsonSerializer.Serialize(new { peak_mib = Math.Round(PeakMib(), 1), before_steps_mib = Math.Round(before, 1) }));
        return 0;
    }

    static double PeakMib()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
        return double.NaN;
    }

    /// <summary>Runs both children for VGG-11 with and without BN and prints a comparison.</summary>
    public static int Compare(int threads, string repoRoot)
    {
        Console.WriteLine($"peak resident memory of {Steps} VGG-11 training steps, batch [128,3,32,32], {threads} threads (MiB; training = peak − before the first step)");
        Console.WriteLine($"{"workload",-26} {"ours peak",10} {"torch peak",11} {"ratio",6} {"ours train",11} {"torch train",12} {"ratio",6}");
        foreach (bool bn in (bool[])[false, true])
        {
            var ours = RunJson(Self("--memory-child", bn ? "bn" : "none", "--threads", $"{threads}"));
            string[] torchArgs = [Path.Combine(repoRoot, "tools", "torch", "vgg_memory.py"), "--steps", $"{Steps}", "--threads", $"{threads}"];
            var torch = RunJson(ChildProcess.Start("/usr/bin/python3", bn ? [.. torchArgs, "--bn"] : torchArgs));
            string name = $"vgg11{(bn ? "_bn" : "")}_train_memory";
            if (ours is null || torch is null) { Console.WriteLine($"{name,-26} (a measurement failed; see stderr)"); continue; }
            double op = ours.Value.Peak, tp = torch.Value.Peak, ot = op - ours.Value.Before, tt = tp - torch.Value.Before;
            Console.WriteLine($"{name,-26} {op,10:F0} {tp,11:F0} {op / tp,6:F2} {ot,11:F0} {tt,12:F0} {ot / tt,6:F2}");
        }
        return 0;
    }

    /// <summary>This bench again, as `dotnet BatchNormLab.Bench.dll ARGS` or through its app host.</summary>
    static ProcessStartInfo Self(params string[] args)
    {
        string host = Environment.ProcessPath!;
        return Path.GetFileNameWithoutExtension(host) == "dotnet" ? ChildProcess.Start(host, [typeof(Memory).Assembly.Location, .. args]) : ChildProcess.Start(host, args);
    }

    static (double Peak, double Before)? RunJson(ProcessStartInfo start) =>
        ChildProcess.LastJson(start, "memory", json => (json.GetProperty("peak_mib").GetDouble(), json.GetProperty("before_steps_mib").GetDouble()));
}
