using System.Numerics;
namespace BatchNormLab;

// Shape changes. Reshape and batch slices are views sharing storage (tensors are contiguous, so both
// are just an offset and a new shape); their backward maps the gradient back to the source's shape.
public sealed partial class Tensor
{
    /// <summary>A view with a new shape of the same element count; one dimension may be −1 (inferred).</summary>
    public Tensor Reshape(params int[] newShape)
    {
        var target = InferShape(newShape);
        if (target.AsSpan().SequenceEqual(shape)) return this;
        var source = shape;
        return Record(new Tensor(Data, Offset, target), "Reshape", [this], g => [g.Reshape(source)]);
    }

    int[] InferShape(int[] newShape)
    {
        var target = (int[])newShape.Clone();
        int infer = Array.IndexOf(target, -1);
        if (infer >= 0)
        {
            int known = 1;
            for (int d = 0; d < target.Length; d++) if (d != infer) known *= target[d];
            if (known == 0 || Length % known != 0)
                throw new ArgumentException($"cannot reshape {Format(shape)} into {Format(newShape)}");
            target[infer] = Length / known;
        }
        if (ShapeLength(target) != Length)
            throw new ArgumentException($"cannot reshape {Format(shape)} ({Length} values) into {Format(newShape)}");
        return target;
    }

    /// <summary>(N, ...) → (N, rest): keeps the first dimension, flattens the others.</summary>
    public Tensor Flatten() => Reshape(Rank == 0 ? 1 : shape[0], -1);

    /// <summary>Rows [start, start+count) along the first dimension, as a view (a batch slice).</summary>
    public Tensor Slice(int start, int count)
    {
        if (Rank == 0) throw new InvalidOperationException("Slice needs a tensor of rank ≥ 1");
        if (start < 0 || count < 0 || start + count > shape[0])
            throw new ArgumentOutOfRangeException(nameof(start), $"rows [{start}, {start + count}) are outside the first dimension of size {shape[0]}");
        int rowLength = shape[0] == 0 ? 0 : Length / shape[0];
        var sliceShape = (int[])shape.Clone();
        sliceShape[0] = count;
        var view = new Tensor(Data, Offset + start * rowLength, sliceShape);
        int total = shape[0];
        return Record(view, "Slice", [this], g => [g.PadRows(start, total)]);
    }

    // The adjoint of Slice: g placed at rows [start, start+n) of zeros.  Backward: slice it back out.
    Tensor PadRows(int start, int total)
    {
        var full = (int[])shape.Clone();
        full[0] = total;
        var y = new Tensor(DType, full);
        y.Slice(start, shape[0]).CopyFrom(this);
        int count = shape[0];
        return Record(y, "PadRows", [this], g => [g.Slice(start, count)]);
    }

    /// <summary>Tensors that agree in all but the first dimension, stacked along it (a copy).</summary>
    public static Tensor ConcatRows(IReadOnlyList<Tensor> parts)
    {
        if (parts.Count == 0) throw new ArgumentException("ConcatRows needs at least one tensor", nameof(parts));
        var first = parts[0];
        int rows = 0;
        foreach (var part in parts)
        {
            if (part.Rank == 0 || part.Rank != first.Rank || part.DType != first.DType || !part.shape.AsSpan(1).SequenceEqual(first.shape.AsSpan(1)))
                throw new ArgumentException($"ConcatRows: shapes {string.Join(", ", parts.Select(p => Format(p.shape)))} ({string.Join(", ", parts.Select(p => p.DType).Distinct())}) differ beyond the first dimension", nameof(parts));
            rows += part.shape[0];
        }
        var full = (int[])first.shape.Clone();
        full[0] = rows;
        var y = Uninitialized(first.DType, full);
        var starts = new int[parts.Count];
        for (int i = 0, row = 0; i < parts.Count; row += parts[i].shape[0], i++)
        {
            starts[i] = row;
            y.Slice(row, parts[i].shape[0]).CopyFrom(parts[i]);
        }
        // y = [x₀; x₁; …]:  dxᵢ = gᵢ's rows of g
        var counts = parts.Select(p => p.shape[0]).ToArray();
        return Record(y, "ConcatRows", [.. parts], g => [.. counts.Select((count, i) => g.Slice(starts[i], count))]);
    }

    /// <summary>The transpose of a matrix (a copy).</summary>
    public Tensor Transpose()
    {
        if (Rank != 2) throw new InvalidOperationException($"Transpose needs a matrix, got shape {Format(shape)}");
        int rows = shape[0], cols = shape[1];
        var y = Uninitialized(DType, [cols, rows]);
        Dispatch(DType, new TransposeKernel(this, y));
        return Record(y, "Transpose", [this], g => [g.Transpose()]);
    }

    readonly record struct TransposeKernel(Tensor X, Tensor Y) : IElementOp
    {
        public void Run<T>() where T : unmanaged, IFloatingPointIeee754<T> => TransposeInto(X.Span<T>(), Y.Span<T>(), X.shape[0], X.shape[1]);
    }

    static void TransposeInto<T>(ReadOnlySpan<T> x, Span<T> y, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                y[c * rows + r] = x[r * cols + c];
    }
}
