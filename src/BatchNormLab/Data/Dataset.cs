namespace BatchNormLab.Data;

/// <summary>
/// A whole dataset in memory: float32 inputs [N, ...] and, per sample, either a class label
/// (classification) or a float32 target row (regression). Exactly one of <see cref="Labels"/> and
/// <see cref="Targets"/> is set, and both always have N rows, which the constructors check.
/// </summary>
public sealed class Dataset
{
    /// <summary>The set's name in messages, e.g. <c>cifar10-train</c>.</summary>
    public string Name { get; }

    /// <summary>float32 [N, ...], e.g. [N, 1, 28, 28], [N, 3, 32, 32] or [N, D].</summary>
    public Tensor Inputs { get; }

    /// <summary>Class of each sample, in [0, <see cref="Classes"/>); null for regression.</summary>
    public int[]? Labels { get; }

    /// <summary>Number of classes; 0 for regression.</summary>
    public int Classes { get; }

    /// <summary>float32 [N, outDim]; null for classification.</summary>
    public Tensor? Targets { get; }

    /// <summary>Number of samples N.</summary>
    public int Count => Inputs.Size(0);

    /// <summary>A classification set.</summary>
    public Dataset(string name, Tensor inputs, int[] labels, int classes)
    {
        CheckInputs(inputs);
        if (labels.Length != inputs.Size(0))
            throw new ArgumentException($"{labels.Length} labels for {inputs.Size(0)} samples", nameof(labels));
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "a classification set needs at least one class");
        for (int i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)classes)
                throw new ArgumentException($"label {labels[i]} of sample {i} is outside [0, {classes})", nameof(labels));
        (Name, Inputs, Labels, Classes) = (name, inputs, labels, classes);
    }

    /// <summary>A regression set.</summary>
    public Dataset(string name, Tensor inputs, Tensor targets)
    {
        CheckInputs(inputs);
        if (targets.DType != DType.Float32 || targets.Rank != 2 || targets.Size(0) != inputs.Size(0))
            throw new ArgumentException($"targets must be float32 [{inputs.Size(0)}, outDim], got {targets}", nameof(targets));
        (Name, Inputs, Targets) = (name, inputs, targets);
    }

    static void CheckInputs(Tensor inputs)
    {
        if (inputs.DType != DType.Float32 || inputs.Rank < 2)
            throw new ArgumentException($"inputs must be float32 [N, ...] of rank ≥ 2, got {inputs}", nameof(inputs));
        if (inputs.Size(0) == 0) throw new ArgumentException("a dataset needs at least one sample", nameof(inputs));
    }

    /// <summary>The first <paramref name="count"/> samples (a copy), e.g. for a quick preset.</summary>
    public Dataset Take(int count)
    {
        if (count < 1 || count > Count)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"cannot take {count} of {Count} samples");
        var indices = new int[count];
        for (int i = 0; i < count; i++) indices[i] = i;
        return Subset(indices);
    }

    /// <summary>The samples at <paramref name="indices"/>, in that order (a copy).</summary>
    public Dataset Subset(ReadOnlySpan<int> indices)
    {
        var inputs = Gather(Inputs, indices);
        if (Labels is null) return new Dataset(Name, inputs, Gather(Targets!, indices));
        var labels = new int[indices.Length];
        for (int i = 0; i < labels.Length; i++) labels[i] = Labels[indices[i]];
        return new Dataset(Name, inputs, labels, Classes);
    }

    /// <summary>The same samples and labels/targets with other inputs (e.g. normalised ones).</summary>
    internal Dataset WithInputs(Tensor inputs) =>
        Labels is null ? new Dataset(Name, inputs, Targets!) : new Dataset(Name, inputs, Labels, Classes);

    static Tensor Gather(Tensor source, ReadOnlySpan<int> rows)
    {
        int n = source.Size(0), rowLength = source.Length / n;
        var shape = source.Shape;
        shape[0] = rows.Length;
        var data = new float[rows.Length * rowLength];
        var from = source.FloatSpan;
        for (int i = 0; i < rows.Length; i++)
        {
            if ((uint)rows[i] >= (uint)n) throw new ArgumentOutOfRangeException(nameof(rows), rows[i], $"sample index outside [0, {n})");
            from.Slice(rows[i] * rowLength, rowLength).CopyTo(data.AsSpan(i * rowLength, rowLength));
        }
        return new Tensor(data, 0, shape);
    }
}
