using System.Numerics;
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
        var loss = new double[1];
        Dispatch(DType, new CrossEntropyForwardKernel(this, targets, logProbs, loss));
        var logits = this;
        return Record(Scalar(loss[0], DType), "CrossEntropy", [this], g =>
        {
            if (Autograd.IsEnabled) return Autograd.CompositeBackward(args => CrossEntropyComposite(args[0], targets), [logits], g);
            var dx = ZerosLike(logits);
            Dispatch(DType, new CrossEntropyBackwardKernel(logProbs, targets, g.Item(), dx));
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


    // the mean loss goes to Loss[0]
    readonly record struct CrossEntropyForwardKernel(Tensor Logits, int[] Targets, Tensor LogProbs, double[] Loss) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> =>
            Loss[0] = Kernels.Loss.CrossEntropyForward(Logits.Span<T>(), Logits.shape[0], Logits.shape[1], Targets, LogProbs.Span<T>());
    }

    readonly record struct CrossEntropyBackwardKernel(Tensor LogProbs, int[] Targets, double GradOutput, Tensor DLogits) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> =>
            Kernels.Loss.CrossEntropyBackward(LogProbs.Span<T>(), LogProbs.shape[0], LogProbs.shape[1], Targets, GradOutput, DLogits.Span<T>());
    }
}
