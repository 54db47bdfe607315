using System.Numerics;
using BatchNormLab.Kernels;

namespace BatchNormLab;

// Elementwise arithmetic with broadcasting, and the reductions that undo broadcasting in backward.
// Each op computes its output with a kernel and records a backward written in Tensor ops, so that
// backward itself is differentiable (double backward for Hessian-vector products).
public sealed partial class Tensor
{
    internal static void CheckSameDType(Tensor a, Tensor b, string op)
    {
        if (a.DType != b.DType) throw new ArgumentException($"{op}: operands are {a.DType} and {b.DType}; convert one with To()");
    }

    static Tensor Binary(BinaryOp op, Tensor a, Tensor b)
    {
        CheckSameDType(a, b, op.ToString());
        var y = Uninitialized(a.DType, Elementwise.BroadcastShape(a.shape, b.shape));
        Dispatch(a.DType, new BinaryKernel(op, a, b, y));
        return y;
    }

    internal Tensor Unary(UnaryOp op)
    {
        var y = UninitializedLike(this);
        Dispatch(DType, new UnaryKernel(op, this, y));
        return y;
    }

    Tensor ScalarLike(double value) => Scalar(value, DType);

    // y = a + b:  da = g, db = g (each summed back to its own shape)
    /// <summary>
    /// Elementwise a + b (torch.add), with NumPy/PyTorch broadcasting; each operand's gradient is summed back to its own shape.
    /// Both operands must share float32/float64; mixing them is an ArgumentException.
    /// </summary>
    public static Tensor operator +(Tensor a, Tensor b) =>
        Record(Binary(BinaryOp.Add, a, b), "Add", [a, b], g => [
            a.RequiresGrad ? g.SumTo(a.shape) : null,
            b.RequiresGrad ? g.SumTo(b.shape) : null]);

    // y = a − b:  da = g, db = −g
    /// <summary>
    /// Elementwise a − b (torch.sub), with NumPy/PyTorch broadcasting; each operand's gradient is summed back to its own shape.
    /// Both operands must share float32/float64; mixing them is an ArgumentException.
    /// </summary>
    public static Tensor operator -(Tensor a, Tensor b) =>
        Record(Binary(BinaryOp.Subtract, a, b), "Subtract", [a, b], g => [
            a.RequiresGrad ? g.SumTo(a.shape) : null,
            b.RequiresGrad ? (-g).SumTo(b.shape) : null]);

    // y = a·b:  da = g·b, db = g·a
    /// <summary>
    /// Elementwise a·b (torch.mul), with NumPy/PyTorch broadcasting; each operand's gradient is summed back to its own shape.
    /// Both operands must share float32/float64; mixing them is an ArgumentException.
    /// </summary>
    public static Tensor operator *(Tensor a, Tensor b) =>
        Record(Binary(BinaryOp.Multiply, a, b), "Multiply", [a, b], g => [
            a.RequiresGrad ? (g * b).SumTo(a.shape) : null,
            b.RequiresGrad ? (g * a).SumTo(b.shape) : null]);

    // y = a / b:  da = g / b, db = −g·a / b²
    /// <summary>
    /// Elementwise a / b (torch.div; IEEE, so x/0 is ±∞ or NaN), with NumPy/PyTorch broadcasting; each operand's gradient is summed back to its own shape.
    /// Both operands must share float32/float64; mixing them is an ArgumentException.
    /// </summary>
    public static Tensor operator /(Tensor a, Tensor b) =>
        Record(Binary(BinaryOp.Divide, a, b), "Divide", [a, b], g => [
            a.RequiresGrad ? (g / b).SumTo(a.shape) : null,
            b.RequiresGrad ? (-(g * a) / (b * b)).SumTo(b.shape) : null]);

    // y = −x:  dx = −g
    /// <summary>Elementwise −x (torch.neg); same shape and dtype.</summary>
    public static Tensor operator -(Tensor x) =>
        Record(x.Unary(UnaryOp.Negate), "Negate", [x], g => [-g]);

    /// <summary>Adds <paramref name="b"/> to every element; the scalar takes the tensor's dtype and gets no gradient.</summary>
    public static Tensor operator +(Tensor a, double b) => a + a.ScalarLike(b);
    /// <summary>Adds <paramref name="a"/> to every element; the scalar takes the tensor's dtype and gets no gradient.</summary>
    public static Tensor operator +(double a, Tensor b) => b.ScalarLike(a) + b;
    /// <summary>Subtracts <paramref name="b"/> from every element; the scalar takes the tensor's dtype and gets no gradient.</summary>
    public static Tensor operator -(Tensor a, double b) => a - a.ScalarLike(b);
    /// <summary><paramref name="a"/> minus each element; the scalar takes the tensor's dtype and gets no gradient.</summary>
    public static Tensor operator -(double a, Tensor b) => b.ScalarLike(a) - b;
    /// <summary>Multiplies every element by <paramref name="b"/>; the scalar takes the tensor's dtype and gets no gradient.</summary>
    public static Tensor operator *(Tensor a, double b) => a * a.ScalarLike(b);
    /// <summary>Multiplies every element by <paramref name="a"/>; the scalar takes the tensor's dtype and gets no gradient.</summary>
    public static Tensor operator *(double a, Tensor b) => b.ScalarLike(a) * b;
    /// <summary>Divides every element by <paramref name="b"/>; the scalar takes the tensor's dtype and gets no gradient.</summary>
    public static Tensor operator /(Tensor a, double b) => a / a.ScalarLike(b);
    /// <summary><paramref name="a"/> divided by each element; the scalar takes the tensor's dtype and gets no gradient.</summary>
    public static Tensor operator /(double a, Tensor b) => b.ScalarLike(a) / b;

    /// <summary>this += other, in place and never recorded (gradient accumulation, optimizer updates).</summary>
    internal void AddInPlace(Tensor other)
    {
        CheckSameDType(this, other, "AddInPlace");
        Dispatch(DType, new BinaryKernel(BinaryOp.Add, this, other, this));
    }

    // ---- reductions ----

    /// <summary>Sum of all elements (a rank-0 tensor).</summary>
    public Tensor Sum() => Sum(Enumerable.Range(0, Rank).ToArray(), keepDim: false);

    /// <summary>Mean of all elements (a rank-0 tensor).</summary>
    public Tensor Mean() => Sum() * (1.0 / Math.Max(1, Length));

    /// <summary>Sum over <paramref name="axes"/> (negative counts from the end).</summary>
    public Tensor Sum(int[] axes, bool keepDim = false)
    {
        var kept = KeptShape(axes);
        var y = Uninitialized(DType, kept);
        Dispatch(DType, new SumToKernel(this, y));
        var input = this;
        // y = Σ_axes x:  dx = g broadcast back over the summed axes
        var result = Record(y, "Sum", [this], g => [g.Reshape(kept).ExpandTo(input.shape)]);
        return keepDim ? result : result.Reshape(DropAxes(kept, axes));
    }

    /// <summary>Mean over <paramref name="axes"/>.</summary>
    public Tensor Mean(int[] axes, bool keepDim = false)
    {
        long count = 1;
        foreach (int a in NormalizeAxes(axes)) count *= shape[a];
        return Sum(axes, keepDim) * (1.0 / Math.Max(1, count));
    }

    /// <summary>Maximum over one axis; the gradient goes to the first maximum, as in PyTorch.</summary>
    public Tensor Max(int axis, bool keepDim = false)
    {
        axis = NormalizeAxes([axis])[0];
        int outer = 1, inner = 1;
        for (int d = 0; d < axis; d++) outer *= shape[d];
        for (int d = axis + 1; d < Rank; d++) inner *= shape[d];
        var kept = KeptShape([axis]);
        var y = new Tensor(DType, kept);
        var argmax = new int[y.Length];
        Dispatch(DType, new MaxKernel(this, outer, shape[axis], inner, y, argmax));
        var input = this;
        int axisSize = shape[axis];
        // y = max_a x:  dx = g at the arg max, 0 elsewhere (a constant one-hot mask)
        var result = Record(y, "Max", [this], g =>
        {
            var mask = ZerosLike(input);
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++)
                    mask.SetFlat((o * axisSize + argmax[o * inner + i]) * inner + i, 1);
            return [g.Reshape(kept).ExpandTo(input.shape) * mask];
        });
        return keepDim ? result : result.Reshape(DropAxes(kept, [axis]));
    }

    /// <summary>Sums a broadcast gradient back to <paramref name="target"/> (the inverse of broadcasting).</summary>
    internal Tensor SumTo(ReadOnlySpan<int> target)
    {
        if (shape.AsSpan().SequenceEqual(target)) return this;
        int lead = Rank - target.Length;
        var axes = new List<int>();
        for (int d = 0; d < Rank; d++)
            if (d < lead || (target[d - lead] == 1 && shape[d] != 1)) axes.Add(d);
        return Sum([.. axes], keepDim: true).Reshape(target.ToArray());
    }

    /// <summary>Broadcasts to <paramref name="target"/> (copying). Backward: sum back.</summary>
    internal Tensor ExpandTo(int[] target)
    {
        if (shape.AsSpan().SequenceEqual(target)) return this;
        var y = new Tensor(DType, (int[])target.Clone());
        Dispatch(DType, new BinaryKernel(BinaryOp.Add, this, y, y));
        var source = shape;
        return Record(y, "Expand", [this], g => [g.SumTo(source)]);
    }

    int[] NormalizeAxes(int[] axes)
    {
        var result = new int[axes.Length];
        for (int i = 0; i < axes.Length; i++)
        {
            int a = axes[i] < 0 ? axes[i] + Rank : axes[i];
            if (a < 0 || a >= Rank) throw new ArgumentOutOfRangeException(nameof(axes), $"axis {axes[i]} is out of range for a tensor of rank {Rank}");
            result[i] = a;
        }
        return result;
    }

    int[] KeptShape(int[] axes)
    {
        var kept = (int[])shape.Clone();
        foreach (int a in NormalizeAxes(axes)) kept[a] = 1;
        return kept;
    }

    int[] DropAxes(int[] kept, int[] axes)
    {
        var drop = NormalizeAxes(axes);
        return kept.Where((_, d) => !drop.Contains(d)).ToArray();
    }


    // y = a op b with broadcasting (y may be a)
    readonly record struct BinaryKernel(BinaryOp Op, Tensor A, Tensor B, Tensor Y) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> =>
            Elementwise.Binary(Op, A.Span<T>(), A.shape, B.Span<T>(), B.shape, Y.Span<T>());
    }

    readonly record struct UnaryKernel(UnaryOp Op, Tensor X, Tensor Y) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> =>
            Elementwise.Unary(Op, X.Span<T>(), Y.Span<T>());
    }

    // x summed over the axes where y's size is 1
    readonly record struct SumToKernel(Tensor X, Tensor Y) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> =>
            Reduce.SumTo(X.Span<T>(), X.shape, Y.shape, Y.Span<T>());
    }

    readonly record struct MaxKernel(Tensor X, int Outer, int Axis, int Inner, Tensor Y, int[] Argmax) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> =>
            Reduce.MaxAxis(X.Span<T>(), Outer, Axis, Inner, Y.Span<T>(), Argmax);
    }
}
