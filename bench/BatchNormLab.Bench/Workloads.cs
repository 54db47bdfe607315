using BatchNormLab;
using BatchNormLab.Analysis;
using BatchNormLab.Data;
using BatchNormLab.Models;
using BatchNormLab.Nn;
using BatchNormLab.Training;

/// <summary>
/// One benchmark: <see cref="Setup"/> allocates its inputs and returns the step that is timed.
/// Name and Work are those of ../shared/peer/torch_bench.py. The floor is either memory-bound
/// (<see cref="Bytes"/> that must move, at the measured copy bandwidth) or, when Bytes is null,
/// compute-bound (Work FLOPs at the machine's peak).
/// </summary>
sealed record Workload(string Name, long Work, long? Bytes, Func<Action> Setup, double? Flops = null)
{
    const int CopyFloats = 64 << 20;

    /// <summary>The copy that defines the bandwidth, first; then torch_bench.py's order.</summary>
    public static IReadOnlyList<Workload> All()
    {
        var rng = new Rng(0);
        int[] image = [128, 64, 32, 32], rows = [4096, 1024];
        long imageCount = Tensor.ShapeLength(image), rowCount = Tensor.ShapeLength(rows);
        var list = new List<Workload>
        {
            new("copy[256MiB]", 2L * CopyFloats * 4, 2L * CopyFloats * 4, () =>
            {
                var src = Tensor.Ones(CopyFloats);
                var dst = Tensor.Zeros(CopyFloats);
                return () => dst.CopyFrom(src);
            }),
            // train forward: read x, write y; + backward: read x, read dy, write dx
            new("bn2d_fwd_train[128,64,32,32]", imageCount, 2 * 4 * imageCount, () => BnForward(new BatchNorm2d(64), Input(rng, image))),
            new("bn2d_fwd_bwd_train[128,64,32,32]", imageCount, 5 * 4 * imageCount, () => BnForwardBackward(new BatchNorm2d(64), Input(rng, image), rng)),
            new("bn2d_fwd_eval[128,64,32,32]", imageCount, 2 * 4 * imageCount, () => BnEval(new BatchNorm2d(64), Input(rng, image))),
            new("bn1d_fwd_bwd_train[4096,1024]", rowCount, 5 * 4 * rowCount, () => BnForwardBackward(new BatchNorm1d(1024), Input(rng, rows), rng)),
        };
        foreach (int n in (int[])[256, 1024, 2048])
            list.Add(new($"sgemm[{n}x{n}x{n}]", 2L * n * n * n, null, () =>
            {
                var a = Tensor.RandomNormal(rng, [n, n]);
                var b = Tensor.RandomNormal(rng, [n, n]);
                return () => a.MatMul(b);
            }));
        list.Add(new("conv3x3_fwd_bwd[64,128,16,16]->128", 3L * 2 * 64 * 128 * 16 * 16 * 128 * 9, null, () =>
        {
            var conv = new Conv2d(128, 128, 3, padding: 1, rng: rng);
            var x = Input(rng, [64, 128, 16, 16]);
            var g = Tensor.RandomNormal(rng, [64, 128, 16, 16]);
            return () =>
            {
                x.Grad = null;
                conv.Forward(x).Backward(g);
            };
        }));
        // One SGD step (momentum 0.9, lr 0.01) of VGG-11 on a CIFAR-shaped batch; work = images.
        foreach (var norm in (Norm[])[Norm.None, Norm.BatchNorm])
            list.Add(new($"vgg11{(norm == Norm.BatchNorm ? "_bn" : "")}_train_step[128,3,32,32]", 128, null, () => VggStep(norm, rng), 3 * 128 * VggForwardFlops(3, 32, 1)));
        // The issue-5 cost target: one Hessian-vector product (training-mode BN) at most 4× one
        // gradient on the same batch. Floors: a gradient is ~3 forwards, an HVP ~2 gradients (Pearlmutter).
        double smallVgg = 128 * VggForwardFlops(1, 28, 0.125);
        // The quick preset's training step (what the main job spends its time on): plain SGD at LR 0.1, batch 128.
        foreach (var norm in (Norm[])[Norm.None, Norm.BatchNorm])
            list.Add(new($"vgg11{(norm == Norm.BatchNorm ? "_bn" : "")}_w0.125_train_step[128,1,28,28]", 128, null, () => SmallVggStep(norm, rng), 3 * smallVgg));
        list.Add(new("vgg11_bn_w0.125_gradient[128,1,28,28]", 128, null, () => SmallVgg(rng, hvp: false), 3 * smallVgg));
        list.Add(new("vgg11_bn_w0.125_hvp[128,1,28,28]", 128, null, () => SmallVgg(rng, hvp: true), 6 * smallVgg));
        // The normalisers of a narrow VGG on 28×28 images (issue 6): training forward + backward per layer,
        // BatchNorm2d beside each on the same shape (first conv at width 0.25, a mid layer, the 1×1 tail;
        // batch 2 and 256). Not in torch_bench.py: no peer numbers.
        foreach (int[] shape in (int[][])[[128, 16, 28, 28], [128, 64, 7, 7], [128, 128, 1, 1], [2, 16, 28, 28], [256, 16, 28, 28]])
        {
            long count = Tensor.ShapeLength(shape);
            int c = shape[1];
            string dims = string.Join(",", shape);
            foreach (var (name, make) in new (string, Func<Module>)[]
                     {
                         ("bn2d", () => new BatchNorm2d(c)), ("gn", () => new GroupNorm(new ModelOptions(Norm.GroupNorm).GroupCount(c, spatial: true), c)),
                         ("ln", () => new GroupNorm(1, c)), ("in", () => new InstanceNorm2d(c, affine: true)),
                         ("brn", () => new BatchRenorm2d(c)), ("ghost", () => new GhostBatchNorm2d(c)),
                     })
                if (name != "in" || shape[2] * shape[3] > 1) // InstanceNorm cannot train on 1×1 planes
                        list.Add(new($"norm_fwd_bwd_train[{name},{dims}]", count, 5 * 4 * count, () => NormForwardBackward(make(), Input(rng, shape), rng)));
        }
        return list;
    }

    /// <summary>True for the full-width whole-network steps, which the peer times with fewer runs (3 after 1 warm-up); the ⅛-width ones are timed as the rest.</summary>
    public bool Heavy => Name.StartsWith("vgg", StringComparison.Ordinal) && !Name.Contains("w0.125", StringComparison.Ordinal);

    /// <summary>Multiply-adds ×2 of VGG-11's convs and head for one image of <paramref name="size"/>² (channels scaled by <paramref name="width"/>, as <see cref="Vgg"/> does); a training step is about 3× (forward, input and weight gradients).</summary>
    static double VggForwardFlops(int channels, int size, double width)
    {
        double flops = 0;
        foreach (int v in Vgg.Configurations[11])
        {
            if (v == 0)
            {
                if (size >= 2) size /= 2;
                continue;
            }
            int outChannels = Math.Max(1, (int)Math.Round(v * width));
            flops += 2.0 * outChannels * channels * 9 * size * size;
            channels = outChannels;
        }
        return flops + 2.0 * channels * size * size * 10;
    }

    /// <summary>VGG-11-BN at width 0.125 on a 28×28 batch of 128 in training mode: the gradient of the loss, or one Hessian-vector product.</summary>
    static Action SmallVgg(Rng rng, bool hvp)
    {
        var model = new Vgg(11, 1, 28, 10, 0.125, new ModelOptions(Norm.BatchNorm), rng);
        var x = Tensor.RandomNormal(rng, [128, 1, 28, 28]);
        var labels = Enumerable.Range(0, 128).Select(_ => rng.NextInt(10)).ToArray();
        var hessian = HessianOperator.OnBatch(model, new Batch(x, labels, null, 0, 0), LossKind.CrossEntropy, HessianMode.Training);
        var v = Enumerable.Range(0, hessian.Dimension).Select(_ => rng.Normal()).ToArray();
        var parameters = model.Parameters();
        return hvp ? () => hessian.Apply(v) : () => Autograd.Grad(model.Forward(x).CrossEntropy(labels), parameters);
    }

    static Action VggStep(Norm norm, Rng rng) => Step(new Vgg(11, 3, 32, 10, 1.0, new ModelOptions(norm), rng), 0.01, 0.9, [128, 3, 32, 32], rng);

    static Action SmallVggStep(Norm norm, Rng rng) => Step(new Vgg(11, 1, 28, 10, 0.125, new ModelOptions(norm), rng), 0.1, 0, [128, 1, 28, 28], rng);

    static Action Step(Module model, double learningRate, double momentum, int[] shape, Rng rng)
    {
        var sgd = new Sgd(model.Parameters(), learningRate, momentum: momentum);
        var x = Tensor.RandomNormal(rng, shape);
        var labels = Enumerable.Range(0, shape[0]).Select(_ => rng.NextInt(10)).ToArray();
        return () =>
        {
            model.ZeroGrad();
            model.Forward(x).CrossEntropy(labels).Backward();
            sgd.Step();
        };
    }

    static Tensor Input(Rng rng, int[] shape)
    {
        var x = Tensor.RandomNormal(rng, shape);
        x.RequiresGrad = true;
        return x;
    }

    static Action BnForward(BatchNorm bn, Tensor x)
    {
        bn.Train();
        return () => bn.Forward(x);
    }

    static Action BnForwardBackward(BatchNorm bn, Tensor x, Rng rng) => NormForwardBackward(bn, x, rng);

    static Action NormForwardBackward(Module norm, Tensor x, Rng rng)
    {
        norm.Train();
        var g = Tensor.RandomNormal(rng, x.Shape);
        return () =>
        {
            x.Grad = null;
            norm.Forward(x).Backward(g);
        };
    }

    static Action BnEval(BatchNorm bn, Tensor x)
    {
        bn.Eval();
        return () =>
        {
            using (Autograd.NoGrad()) bn.Forward(x);
        };
    }
}
