using BatchNormLab;
using BatchNormLab.Models;
using BatchNormLab.Nn;
using BatchNormLab.Training;

/// <summary>
/// The share of a VGG-11-BN training step (SGD momentum 0.9, cross-entropy, [128,3,32,32]) that its
/// BatchNorm layers take, ours and PyTorch's (tools/torch/bn_share.py) measured the same way: the step,
/// and each BN layer's training forward + backward on its own at the shape it sees in the step; share =
/// Σ layers / step. The torch twin runs as a child process in the same run.
/// </summary>
static class BnShare
{
    /// <summary>(channels, height = width) at each BatchNorm2d of VGG-11 on 32×32 inputs.</summary>
    static readonly (int Channels, int Size)[] Layers = [(64, 32), (128, 16), (256, 8), (256, 8), (512, 4), (512, 4), (512, 2), (512, 2)];

    public static int Compare(int threads, string repoRoot)
    {
        using var threadScope = BatchNormLab.Kernels.Threading.Use(threads);
        var rng = new Rng(0);
        var model = new Vgg(11, 3, 32, 10, 1.0, new ModelOptions(Norm.BatchNorm), rng);
        var sgd = new Sgd(model.Parameters(), 0.01, momentum: 0.9);
        var x = Tensor.RandomNormal(rng, [128, 3, 32, 32]);
        var labels = Enumerable.Range(0, 128).Select(_ => rng.NextInt(10)).ToArray();
        double stepMs = Timing.MedianMs(() =>
        {
            model.ZeroGrad();
            model.Forward(x).CrossEntropy(labels).Backward();
            sgd.Step();
        }, 5, warmup: 2);
        var layerMs = Layers.Select(l =>
        {
            var bn = new BatchNorm2d(l.Channels);
            var input = Tensor.RandomNormal(rng, [128, l.Channels, l.Size, l.Size]);
            input.RequiresGrad = true;
            var gradOutput = Tensor.RandomNormal(rng, input.Shape);
            return Timing.MedianMs(() =>
            {
                input.Grad = null;
                bn.Forward(input).Backward(gradOutput);
            }, 7, warmup: 3);
        }).ToArray();
        var torch = RunTorch(repoRoot, threads);

        Console.WriteLine($"BatchNorm's share of a VGG-11-BN training step, batch [128,3,32,32], {threads} threads (ms; each BN layer's forward + backward timed on its own)");
        Console.WriteLine($"{"",-22} {"ours",9} {"torch",9}");
        for (int i = 0; i < Layers.Length; i++)
            Console.WriteLine($"{$"bn [128,{Layers[i].Channels},{Layers[i].Size},{Layers[i].Size}]",-22} {layerMs[i],9:F2} {(torch is null ? "-" : torch.Value.Layers[i].ToString("F2")),9}");
        double ourBn = layerMs.Sum();
        Console.WriteLine($"{"all BN layers",-22} {ourBn,9:F2} {(torch is null ? "-" : torch.Value.Layers.Sum().ToString("F2")),9}");
        Console.WriteLine($"{"training step",-22} {stepMs,9:F1} {(torch is null ? "-" : torch.Value.Step.ToString("F1")),9}");
        Console.WriteLine($"{"BN share of the step",-22} {ourBn / stepMs,9:P1} {(torch is null ? "-" : (torch.Value.Layers.Sum() / torch.Value.Step).ToString("P1")),9}");
        return 0;
    }

    static (double Step, double[] Layers)? RunTorch(string repoRoot, int threads) =>
        ChildProcess.LastJson(ChildProcess.Start("/usr/bin/python3", Path.Combine(repoRoot, "tools", "torch", "bn_share.py"), "--threads", $"{threads}"), "bn-share",
            json => (json.GetProperty("step_ms").GetDouble(), json.GetProperty("layer_ms").EnumerateArray().Select(e => e.GetDouble()).ToArray()));
}
