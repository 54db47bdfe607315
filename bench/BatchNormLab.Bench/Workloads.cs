using BatchNormLab;
using BatchNormLab.Nn;

/// <summary>
/// One benchmark: <see cref="Setup"/> allocates its inputs and returns the step that is timed.
/// Name and Work are those of ../shared/peer/torch_bench.py. The floor is either memory-bound
/// (<see cref="Bytes"/> that must move, at the measured copy bandwidth) or, when Bytes is null,
/// compute-bound (Work FLOPs at the machine's peak).
/// </summary>
sealed record Workload(string Name, long Work, long? Bytes, Func<Action> Setup)
{
    const int CopyFloats = 64 << 20;

    /// <summary>The copy that defines the bandwidth, first; then torch_bench.py's order (no vgg11: there is no optimizer yet).</summary>
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
        return list;
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

    static Action BnForwardBackward(BatchNorm bn, Tensor x, Rng rng)
    {
        bn.Train();
        var g = Tensor.RandomNormal(rng, x.Shape);
        return () =>
        {
            x.Grad = null;
            bn.Forward(x).Backward(g);
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
