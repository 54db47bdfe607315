using BatchNormLab.Kernels;

namespace BatchNormLab;

/// <summary>
/// A dense, contiguous, row-major tensor of float32 or float64. Views (reshape, batch slices) share
/// storage through an offset. Autodiff state lives here too: <see cref="RequiresGrad"/>, the
/// accumulated <see cref="Grad"/> of a leaf, and the node that created a non-leaf (see Autograd.cs).
/// </summary>
public sealed partial class Tensor
{
    internal readonly Array Data;
    internal readonly int Offset;
    readonly int[] shape;

    /// <summary>Number of elements.</summary>
    public int Length { get; }
    /// <summary>Element type, float32 or float64, fixed by the storage. Binary ops need both operands to share it (convert with <see cref="To"/>).</summary>
    public DType DType { get; }

    internal Tensor(Array data, int offset, int[] shape)
    {
        Data = data;
        Offset = offset;
        this.shape = shape;
        DType = data is float[] ? DType.Float32 : data is double[] ? DType.Float64
            : throw new ArgumentException("tensor storage must be float[] or double[]");
        Length = ShapeLength(shape);
        if (offset < 0 || offset + Length > data.Length) throw new ArgumentException("view outside its storage");
    }

    internal Tensor(DType dtype, int[] shape) : this(Allocate(dtype, ShapeLength(shape)), 0, shape) { }

    // Large storage, zeroed or not, is recycled through StoragePool (no first-touch page faults when the same size comes round again).
    static Array Allocate(DType dtype, int length) => dtype == DType.Float32 ? StoragePool.RentZeroed<float>(length) : StoragePool.RentZeroed<double>(length);

    /// <summary>A tensor whose storage is not zeroed: only for kernel outputs that write every element.</summary>
    internal static Tensor Uninitialized(DType dtype, int[] shape)
    {
        int length = ShapeLength(shape);
        Array data = dtype == DType.Float32 ? StoragePool.Rent<float>(length) : StoragePool.Rent<double>(length);
        return new Tensor(data, 0, shape);
    }

    internal static Tensor UninitializedLike(Tensor t) => Uninitialized(t.DType, (int[])t.shape.Clone());

    internal static int ShapeLength(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension {d} in shape [{string.Join(", ", shape.ToArray())}]");
            n *= d;
            if (n > Array.MaxLength) throw new ArgumentException($"shape [{string.Join(", ", shape.ToArray())}] is too large");
        }
        return (int)n;
    }

    /// <summary>The shape (a copy: tensors are immutable in shape).</summary>
    public int[] Shape => (int[])shape.Clone();
    internal ReadOnlySpan<int> Dims => shape;
    /// <summary>Number of dimensions (0 for a scalar).</summary>
    public int Rank => shape.Length;
    /// <summary>Size of dimension <paramref name="dim"/>; a negative index counts from the end (−1 is the last), as PyTorch's size(dim).</summary>
    public int Size(int dim) => shape[dim < 0 ? dim + shape.Length : dim];

    internal Span<T> Span<T>() => new((T[])Data, Offset, Length);
    internal Span<float> FloatSpan => new((float[])Data, Offset, Length);
    internal Span<double> DoubleSpan => new((double[])Data, Offset, Length);

    /// <summary>The dtype and shape, e.g. <c>Tensor(Float32, [2, 3])</c>; not the values.</summary>
    public override string ToString() => $"Tensor({DType}, [{string.Join(", ", shape)}])";

    // ---- creation ----

    /// <summary>A float32 tensor holding a copy of <paramref name="data"/>.</summary>
    public static Tensor FromArray(float[] data, params int[] shape)
    {
        CheckCount(data.Length, shape);
        return new Tensor((float[])data.Clone(), 0, (int[])shape.Clone());
    }

    /// <summary>A float64 tensor holding a copy of <paramref name="data"/>.</summary>
    public static Tensor FromArray(double[] data, params int[] shape)
    {
        CheckCount(data.Length, shape);
        return new Tensor((double[])data.Clone(), 0, (int[])shape.Clone());
    }

    static void CheckCount(int count, int[] shape)
    {
        if (ShapeLength(shape) != count)
            throw new ArgumentException($"{count} values do not fill shape [{string.Join(", ", shape)}] ({ShapeLength(shape)} values)");
    }

    /// <summary>A tensor of zeros with <paramref name="shape"/> (copied) and <paramref name="dtype"/>; torch.zeros.</summary>
    public static Tensor Zeros(DType dtype, params int[] shape) => new(dtype, (int[])shape.Clone());
    /// <summary>A float32 tensor of zeros with <paramref name="shape"/>.</summary>
    public static Tensor Zeros(params int[] shape) => Zeros(DType.Float32, shape);
    /// <summary>A tensor of ones with <paramref name="shape"/> and <paramref name="dtype"/>; torch.ones.</summary>
    public static Tensor Ones(DType dtype, params int[] shape) => Full(1.0, dtype, shape);
    /// <summary>A float32 tensor of ones with <paramref name="shape"/>.</summary>
    public static Tensor Ones(params int[] shape) => Ones(DType.Float32, shape);

    /// <summary>A tensor of <paramref name="shape"/> with every element <paramref name="value"/> (rounded to float32 for a Float32 tensor); torch.full.</summary>
    public static Tensor Full(double value, DType dtype, params int[] shape)
    {
        var t = Zeros(dtype, shape);
        t.Fill(value);
        return t;
    }

    /// <summary>A rank-0 tensor.</summary>
    public static Tensor Scalar(double value, DType dtype = DType.Float32) => Full(value, dtype);

    /// <summary>Normal(mean, std²) entries drawn from <paramref name="rng"/> in row-major order.</summary>
    public static Tensor RandomNormal(Rng rng, int[] shape, double mean = 0, double std = 1, DType dtype = DType.Float32)
    {
        var t = Zeros(dtype, shape);
        t.Assign(i => rng.Normal(mean, std));
        return t;
    }

    /// <summary>Uniform[low, high) entries drawn from <paramref name="rng"/> in row-major order.</summary>
    public static Tensor RandomUniform(Rng rng, int[] shape, double low = 0, double high = 1, DType dtype = DType.Float32)
    {
        var t = Zeros(dtype, shape);
        t.Assign(i => rng.Uniform(low, high));
        return t;
    }

    void Assign(Func<int, double> value)
    {
        if (DType == DType.Float32) { var s = FloatSpan; for (int i = 0; i < s.Length; i++) s[i] = (float)value(i); }
        else { var s = DoubleSpan; for (int i = 0; i < s.Length; i++) s[i] = value(i); }
    }

    /// <summary>Zeros with <paramref name="t"/>'s shape and dtype, outside any autodiff graph; torch.zeros_like.</summary>
    public static Tensor ZerosLike(Tensor t) => Zeros(t.DType, t.shape);
    /// <summary>Ones with <paramref name="t"/>'s shape and dtype, outside any autodiff graph; torch.ones_like.</summary>
    public static Tensor OnesLike(Tensor t) => Ones(t.DType, t.shape);

    // ---- reading values ----

    /// <summary>A copy of the values in row-major order as float (float64 values rounded).</summary>
    public float[] ToFloatArray()
    {
        if (DType == DType.Float32) return FloatSpan.ToArray();
        var d = DoubleSpan;
        var r = new float[d.Length];
        for (int i = 0; i < r.Length; i++) r[i] = (float)d[i];
        return r;
    }

    /// <summary>A copy of the values in row-major order as double (float32 values widened exactly).</summary>
    public double[] ToDoubleArray()
    {
        if (DType == DType.Float64) return DoubleSpan.ToArray();
        var f = FloatSpan;
        var r = new double[f.Length];
        for (int i = 0; i < r.Length; i++) r[i] = f[i];
        return r;
    }

    /// <summary>The value of a one-element tensor.</summary>
    public double Item()
    {
        if (Length != 1) throw new InvalidOperationException($"Item() needs a one-element tensor, this one has shape [{string.Join(", ", shape)}]");
        return DType == DType.Float32 ? FloatSpan[0] : DoubleSpan[0];
    }

    /// <summary>Element at a flat row-major index, as double (for tests and reports, not hot loops).</summary>
    public double GetFlat(int index) => DType == DType.Float32 ? FloatSpan[index] : DoubleSpan[index];

    /// <summary>Writes one element at a flat row-major index (never recorded by autodiff).</summary>
    public void SetFlat(int index, double value)
    {
        if (DType == DType.Float32) FloatSpan[index] = (float)value; else DoubleSpan[index] = value;
    }

    // ---- in-place writes (never recorded by autodiff) ----

    /// <summary>Copies <paramref name="source"/>'s values into this tensor (same element count; dtype converted).</summary>
    public void CopyFrom(Tensor source)
    {
        if (source.Length != Length)
            throw new ArgumentException($"CopyFrom: source has shape [{string.Join(", ", source.shape)}], this tensor [{string.Join(", ", shape)}]");
        if (DType == source.DType)
        {
            if (DType == DType.Float32) Elementwise.Copy<float>(source.FloatSpan, FloatSpan); else Elementwise.Copy<double>(source.DoubleSpan, DoubleSpan);
        }
        else if (DType == DType.Float32)
        {
            var s = source.DoubleSpan; var d = FloatSpan;
            for (int i = 0; i < d.Length; i++) d[i] = (float)s[i];
        }
        else
        {
            var s = source.FloatSpan; var d = DoubleSpan;
            for (int i = 0; i < d.Length; i++) d[i] = s[i];
        }
    }

    /// <summary>Sets every element to <paramref name="value"/> in place (rounded to float32 for a Float32 tensor; never recorded by autodiff).</summary>
    public void Fill(double value)
    {
        if (DType == DType.Float32) FloatSpan.Fill((float)value); else DoubleSpan.Fill(value);
    }

    /// <summary>A new tensor with a copy of the values, outside any autodiff graph.</summary>
    public Tensor Clone()
    {
        var t = Zeros(DType, shape);
        t.CopyFrom(this);
        return t;
    }

    /// <summary>The same storage, cut from the autodiff graph.</summary>
    public Tensor Detach() => new(Data, Offset, shape);

    /// <summary>A copy converted to <paramref name="dtype"/> (this tensor itself when it already has it).</summary>
    public Tensor To(DType dtype)
    {
        if (dtype == DType) return this;
        var t = Zeros(dtype, shape);
        t.CopyFrom(this);
        return t;
    }

    internal bool SameShape(Tensor other) => shape.AsSpan().SequenceEqual(other.shape);

    internal static string Format(ReadOnlySpan<int> dims) => "[" + string.Join(", ", dims.ToArray()) + "]";
}
