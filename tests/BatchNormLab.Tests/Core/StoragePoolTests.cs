using System.Runtime.CompilerServices;
using BatchNormLab;
using BatchNormLab.Analysis;
using BatchNormLab.Data;
using BatchNormLab.Models;
using BatchNormLab.Nn;
using BatchNormLab.Training;

namespace BatchNormLab.Tests;

/// <summary>Runs alone: the pool is process-wide, and other tests' large outputs could push this one's array out of it.</summary>
[CollectionDefinition(nameof(StoragePoolTests), DisableParallelization = true)]
public class StoragePoolCollection;

[Collection(nameof(StoragePoolTests))]
public class StoragePoolTests
{
    // Over StoragePool.MinBytes, lengths no other test uses (one per case: each leaves its arrays in the pool).
    [Theory]
    [InlineData(true, 67)]
    [InlineData(false, 69)]
    public void BatchNormOutputIsRecycledOnceUnreachableAndNeverWhileLive(bool training, int batch)
    {
        var bn = new BatchNorm2d(4);
        if (!training) bn.Eval();
        var x = Tensor.RandomNormal(new Rng(5), [batch, 4, 32, 32]);
        var dropped = ForwardAndDrop(bn, x);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using (Autograd.NoGrad())
        {
            var y = bn.Forward(x);
            var alsoLive = bn.Forward(x);
            Assert.True(dropped.TryGetTarget(out var recycled));
            Assert.Same(recycled, y.Data);
            Assert.NotSame(y.Data, alsoLive.Data);
            Assert.Equal(alsoLive.ToFloatArray(), y.ToFloatArray());
        }
    }

    /// <summary>A forward whose output nothing keeps: tracked through its lease's finalizer, which hands it back to the pool.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    static WeakReference<Array> ForwardAndDrop(BatchNorm2d bn, Tensor x)
    {
        using (Autograd.NoGrad()) return new WeakReference<Array>(bn.Forward(x).Data, trackResurrection: true);
    }

    [Fact]
    public void ZeroedStorageIsClearedWhenRecycled()
    {
        const int length = (1 << 18) + 71;
        var dropped = RentDirtyAndDrop(length);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var zeroed = StoragePool.RentZeroed<float>(length);
        Assert.True(dropped.TryGetTarget(out var recycled));
        Assert.Same(recycled, zeroed);
        Assert.All(zeroed, v => Assert.Equal(0f, v));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static WeakReference<Array> RentDirtyAndDrop(int length)
    {
        var array = StoragePool.Rent<float>(length);
        array.AsSpan().Fill(7f);
        return new WeakReference<Array>(array, trackResurrection: true);
    }

    /// <summary>
    /// Reclaim collects only once <see cref="StoragePool.ReclaimBytes"/> have been leased since it last did (a tiny
    /// model's steps pay no collection), and then hands back what has died.
    /// </summary>
    [Fact]
    public void ReclaimCollectsOnceEnoughWasLeasedAndRecyclesWhatDied()
    {
        const int length = (3 << 19) + 73;
        StartReclaimCount(length);
        var few = RentDirtyAndDrop(length);
        int collections = GC.CollectionCount(2);
        StoragePool.Reclaim();
        Assert.Equal(collections, GC.CollectionCount(2));

        var many = RentEnoughToReclaim(length);
        StoragePool.Reclaim();
        Assert.True(GC.CollectionCount(2) > collections);
        AllBack(many.Append(few).ToList(), length);
    }

    /// <summary>Leases (and drops) <see cref="StoragePool.ReclaimBytes"/> of arrays of <paramref name="length"/> floats.</summary>
    static List<WeakReference<Array>> RentEnoughToReclaim(int length) =>
        Enumerable.Range(0, (int)(StoragePool.ReclaimBytes / (4L * length)) + 1).Select(_ => RentDirtyAndDrop(length)).ToList();

    /// <summary>
    /// Every one of <paramref name="dead"/> is back in the pool: as many rents of their length get them all. (A collection
    /// the allocations set off could have found the earlier ones dead, but only a later one the last.)
    /// </summary>
    static void AllBack(List<WeakReference<Array>> dead, int length)
    {
        var rented = dead.Select(_ => StoragePool.Rent<float>(length)).ToList();
        Assert.All(rented, next => Assert.Contains(dead, w => w.TryGetTarget(out var recycled) && ReferenceEquals(recycled, next)));
    }

    /// <summary>Whatever other tests leased before: from here nothing has been leased since the last collection.</summary>
    static void StartReclaimCount(int length)
    {
        RentEnoughToReclaim(length);
        StoragePool.Reclaim();
    }

    /// <summary>A model's forward pass begins a unit of work: the previous one's dead storage goes back to the pool first.</summary>
    [Fact]
    public void AForwardPassHandsThePreviousPassesDeadStorageBack()
    {
        const int length = (3 << 19) + 79;
        StartReclaimCount(length);
        var model = new Linear(4, 2, rng: new Rng(1));
        var dead = RentEnoughToReclaim(length);
        using (Autograd.NoGrad()) model.Forward(Tensor.Zeros(3, 4));
        AllBack(dead, length);
    }

    /// <summary>
    /// Every uninitialized output is written in full before it is read: with each such array filled with NaN first,
    /// training (forward, backward and update, over every normaliser) and Hessian-vector products give bitwise the
    /// same numbers, from recycled storage as from fresh.
    /// </summary>
    [Theory]
    [InlineData(Norm.BatchNorm)]
    [InlineData(Norm.None)]
    [InlineData(Norm.GroupNorm)]
    [InlineData(Norm.LayerNorm)]
    [InlineData(Norm.L1)]
    [InlineData(Norm.BatchRenorm)]
    [InlineData(Norm.GhostBatchNorm)]
    [InlineData(Norm.NoisyBatchNorm)]
    public void PoisonedUninitializedStorageChangesNoResult(Norm norm)
    {
        var clean = TrainAndProbe(norm);
        StoragePool.PoisonUninitialized = true;
        try
        {
            var poisoned = TrainAndProbe(norm);
            Assert.Equal(clean.Parameters, poisoned.Parameters);
            Assert.Equal(clean.Product, poisoned.Product);
            Assert.All(poisoned.Parameters, v => Assert.True(float.IsFinite(v)));
        }
        finally
        {
            StoragePool.PoisonUninitialized = false;
        }
    }

    static (float[] Parameters, double[] Product) TrainAndProbe(Norm norm)
    {
        var (model, _, step) = SmallVggTraining(norm, seed: 11);
        for (int i = 0; i < 3; i++) step();
        var rng = new Rng(12);
        var x = Tensor.RandomNormal(rng, [24, 1, 28, 28]);
        var labels = Enumerable.Range(0, 24).Select(_ => rng.NextInt(10)).ToArray();
        var hessian = HessianOperator.OnBatch(model, new Batch(x, labels, null, 0, 0), LossKind.CrossEntropy, HessianMode.Training);
        var product = hessian.Apply(Enumerable.Range(0, hessian.Dimension).Select(_ => rng.Normal()).ToArray());
        return (model.Parameters().SelectMany(p => p.ToFloatArray()).ToArray(), product);
    }

    /// <summary>VGG-11 at ⅛ width on a batch of 48 28×28 images (its first layers' activations are pooled-size) and one SGD step on it.</summary>
    static (Module Model, Sgd Sgd, Action Step) SmallVggTraining(Norm norm, int seed)
    {
        var rng = new Rng((ulong)seed);
        var model = new Vgg(11, 1, 28, 10, 0.125, new ModelOptions(norm) { GhostBatchSize = 16 }, rng);
        var sgd = new Sgd(model.Parameters(), 0.05, momentum: 0.9);
        var x = Tensor.RandomNormal(rng, [48, 1, 28, 28]);
        var labels = Enumerable.Range(0, 48).Select(_ => rng.NextInt(10)).ToArray();
        return (model, sgd, () =>
        {
            model.ZeroGrad();
            model.Forward(x).CrossEntropy(labels).Backward();
            sgd.Step();
        });
    }
}
