using BatchNormLab.Kernels;

namespace BatchNormLab;

// Loss functions (mean over the batch, as PyTorch's default reduction).
public sealed partial class Tensor
{
    /// <summary>Cross-entropy of (N, K) logits against class indices, fused with log-softmax.</summary>
    public Tensor CrossEntropy(int[] targets)
    {
        if (Rank != 2) throw new ArgumentException($"CrossEntropy expects (N, K) logits, got shape {Format(shape)}");
        int n = shape[0], k = shape[1];
        if (targets.Length != n) throw new ArgumentException($"CrossEntropy: {targets.Length} targets for {n} rows of logits");
        for (int i = 0; i < n; i++)
            if ((uint)targets[i] >= (uint)k) throw new ArgumentException($"CrossEntropy: target {targets[i]} at row {i} is outside [0, {k})");
        var logProbs = ZerosLike(this);
        double loss = DType == DType.Float32
            ? Loss.CrossEntropyForward(FloatSpan, n, k, targets, logProbs.FloatSpan)
            : Loss.CrossEntropyForward(DoubleSpan, n, k, targets, logProbs.DoubleSpan);
        var logits = this;
        return Record(Scalar(loss, DType), "CrossEntropy", [this], g =>
        {
            if (Autograd.IsEnabled) return Autograd.CompositeBackward(args => CrossEntropyComposite(args[0], targets), [logits], g);
            var dx = ZerosLike(logits);
            if (DType == DType.Float32) Loss.CrossEntropyBackward(logProbs.FloatSpan, n, k, targets, g.Item(), dx.FloatSpan);
            else Loss.CrossEntropyBackward(logProbs.DoubleSpan, n, k, targets, g.Item(), dx.DoubleSpan);
            return [dx];
        });
    }

    // loss = −(1/N)·Σ_i (x − lse(x))[i, t_i], from primitive ops (the max shift is a constant)
    internal static Tensor CrossEntropyComposite(Tensor logits, int[] targets)
    {
        int n = logits.shape[0], k = logits.shape[1];
        var shifted = logits - logits.Detach().Max(1, keepDim: true);
        var logProbs = shifted - shifted.Exp().Sum([1], keepDim: true).Log();
        var oneHot = ZerosLike(logits);
        for (int i = 0; i < n; i++) oneHot.SetFlat(i * k + targets[i], 1);
        return (logProbs * oneHot).Sum() * (-1.0 / n);
    }

    /// <summary>Mean squared error: mean((this − target)²).</summary>
    public Tensor MseLoss(Tensor target)
    {
        if (!SameShape(target)) throw new ArgumentException($"MseLoss: prediction {Format(shape)} and target {Format(target.shape)} differ");
        var diff = this - target;
        return (diff * diff).Mean();
    }
}
