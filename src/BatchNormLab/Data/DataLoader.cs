namespace BatchNormLab.Data;

/// <summary>One minibatch: copies of its samples' inputs and labels (classification) or targets (regression).</summary>
/// <param name="Inputs">float32 [B, ...] inputs, augmented when the loader augments.</param>
/// <param name="Labels">Class of each sample; null for regression.</param>
/// <param name="Targets">float32 [B, outDim] targets; null for classification.</param>
/// <param name="Epoch">The epoch the batch belongs to.</param>
/// <param name="Index">The batch's 0-based position within its epoch.</param>
public sealed record Batch(Tensor Inputs, int[]? Labels, Tensor? Targets, int Epoch, int Index)
{
    /// <summary>Samples in the batch, B (the last batch of an epoch may be smaller without drop-last).</summary>
    public int Count => Inputs.Size(0);
}

/// <summary>
/// Minibatches of a <see cref="Dataset"/>, reproducible and resumable: epoch e's order is a permutation
/// drawn from a generator seeded by (seed, e) alone, and batch i's augmentation from (seed, e, i) alone,
/// so a batch never depends on timing, on the batches before it, or on where a run was resumed.
/// The next batch is built on a background task while the consumer works on the current one.
/// </summary>
public sealed class DataLoader
{
    const ulong ShuffleStream = 1, AugmentStream = 2;

    /// <summary>The dataset batches are drawn from.</summary>
    public Dataset Data { get; }
    /// <summary>Samples per batch; at least 1.</summary>
    public int BatchSize { get; }
    /// <summary>Whether each epoch visits the samples in a seeded random order (else in index order).</summary>
    public bool Shuffle { get; }
    /// <summary>Whether an epoch's final, smaller batch is dropped (PyTorch's drop_last).</summary>
    public bool DropLast { get; }
    /// <summary>Seed of every epoch's order and every batch's augmentation.</summary>
    public ulong Seed { get; }
    /// <summary>Augmentation applied to each batch's copy of its images, or null for none.</summary>
    public Augment? Augmentation { get; }

    /// <summary>Batches in one epoch; without drop-last the final one may be smaller.</summary>
    public int BatchesPerEpoch => DropLast ? Data.Count / BatchSize : (Data.Count + BatchSize - 1) / BatchSize;

    /// <summary>A loader over <paramref name="data"/>; augmentation needs [N, C, H, W] inputs, and drop-last a batch size no larger than the dataset.</summary>
    public DataLoader(Dataset data, int batchSize, bool shuffle, bool dropLast, ulong seed, Augment? augmentation = null)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be at least 1");
        if (dropLast && batchSize > data.Count)
            throw new ArgumentException($"batch size {batchSize} is larger than {data.Name}'s {data.Count} samples, so drop-last would drop every batch", nameof(batchSize));
        if (augmentation is not null && data.Inputs.Rank != 4)
            throw new ArgumentException($"augmentation needs [N, C, H, W] images, {data.Name} has inputs {data.Inputs}", nameof(augmentation));
        (Data, BatchSize, Shuffle, DropLast, Seed, Augmentation) = (data, batchSize, shuffle, dropLast, seed, augmentation);
    }

    /// <summary>The sample indices of epoch <paramref name="epoch"/> in visiting order.</summary>
    public int[] Order(int epoch)
    {
        if (epoch < 0) throw new ArgumentOutOfRangeException(nameof(epoch), epoch, "epoch must be ≥ 0");
        if (Shuffle) return new Rng(Derive(Seed, ShuffleStream, (ulong)epoch)).Permutation(Data.Count);
        var order = new int[Data.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        return order;
    }

    /// <summary>
    /// Batches <paramref name="startBatch"/>… of epoch <paramref name="epoch"/>: resuming at batch k gives
    /// exactly the batches a full epoch gives from k on. Errors while building a batch surface when it is
    /// taken; stopping early waits for the batch in flight and drops it.
    /// </summary>
    public IEnumerable<Batch> Epoch(int epoch, int startBatch = 0)
    {
        var order = Order(epoch);
        if (startBatch < 0 || startBatch > BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(startBatch), startBatch, $"an epoch has batches 0..{BatchesPerEpoch - 1}");
        return Prefetch(order, epoch, startBatch);
    }

    IEnumerable<Batch> Prefetch(int[] order, int epoch, int startBatch)
    {
        Task<Batch>? next = null;
        try
        {
            for (int index = startBatch; index < BatchesPerEpoch; index++)
            {
                Batch current = next is null ? Build(order, epoch, index) : next.GetAwaiter().GetResult();
                int following = index + 1;
                next = following < BatchesPerEpoch ? Task.Run(() => Build(order, epoch, following)) : null;
                yield return current;
            }
        }
        finally
        {
            // The consumer stopped early: let the batch in flight finish (it writes only its own fresh
            // tensors) so no work outlives the enumerator. Nobody asked for that batch, so its error is dropped with it.
            if (next is not null)
            {
                try { next.Wait(); }
                catch (AggregateException) { }
            }
        }
    }

    Batch Build(int[] order, int epoch, int index)
    {
        int start = index * BatchSize;
        var samples = Data.Subset(order.AsSpan(start, Math.Min(BatchSize, order.Length - start)));
        Augmentation?.ApplyInPlace(samples.Inputs, new Rng(Derive(Seed, AugmentStream, (ulong)epoch, (ulong)index)));
        return new Batch(samples.Inputs, samples.Labels, samples.Targets, epoch, index);
    }

    /// <summary>A seed for one stream of randomness: the SplitMix64 finaliser folded over the parts.</summary>
    static ulong Derive(ulong seed, params ReadOnlySpan<ulong> parts)
    {
        ulong h = Mix(seed);
        foreach (ulong part in parts) h = Mix(h ^ Mix(part + 0x9E3779B97F4A7C15UL));
        return h;
    }

    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
