using System.Runtime.CompilerServices;
using BatchNormLab;
using BatchNormLab.Nn;

namespace BatchNormLab.Tests;

/// <summary>Runs alone: the pool is process-wide, and other tests' large outputs could push this one's array out of it.</summary>
[CollectionDefinition(nameof(StoragePoolTests), DisableParallelization = true)]
public class StoragePoolCollection;

[Collection(nameof(StoragePoolTests))]
public class StoragePoolTests
{
    // Just over StoragePool.MinBytes, lengths no other test uses (one per case: each leaves its arrays in the pool).
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
}
