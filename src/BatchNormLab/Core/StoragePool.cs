using System.Runtime.CompilerServices;

namespace BatchNormLab;

/// <summary>
/// Recycles the large uninitialized arrays that kernels write outputs into. Tensors are not
/// reference-counted, so a buffer is known to be free only once the GC finds it unreachable: each
/// pooled-size array gets a finalizable lease (tied to it by a ConditionalWeakTable, which keeps the
/// lease alive exactly as long as the array), and the lease's finalizer hands the array back. The
/// next output of the same length then reuses memory that is already committed and mapped, instead
/// of a fresh array whose every page faults on first touch (the GC gives freed large-object memory
/// back to the OS). Reuse never changes results: these arrays are only handed to kernels that write
/// every element.
/// The cost is memory: a leased array that dies survives one more GC (its lease's finalizer has to
/// run first), and pooled arrays wait unused until their length comes round. So only some outputs
/// are leased (BatchNorm's and the other normalisers' y and dx, ReLU's and max-pooling's), at most
/// <see cref="MaxPerLength"/> per length and <see cref="MaxPooledBytes"/> in all.
/// </summary>
internal static class StoragePool
{
    /// <summary>Arrays from this many bytes are pooled; smaller ones are cheap to allocate.</summary>
    internal const long MinBytes = 1 << 20;
    /// <summary>At most this many bytes wait in the pool; beyond it the oldest are left to the GC.</summary>
    internal const long MaxPooledBytes = 64L << 20;

    /// <summary>At most this many arrays of one length wait in the pool (an op's output and its gradient).</summary>
    internal const int MaxPerLength = 2;

    static readonly object gate = new();
    static readonly LinkedList<Array> free = new();
    static long freeBytes;
    static readonly ConditionalWeakTable<Array, Lease> leases = new();

    /// <summary>An uninitialized array of exactly <paramref name="length"/> elements, recycled when one is free.</summary>
    internal static T[] Rent<T>(int length) where T : unmanaged
    {
        long bytes = (long)length * Unsafe.SizeOf<T>();
        if (bytes < MinBytes) return GC.AllocateUninitializedArray<T>(length);
        T[]? array = null;
        lock (gate)
        {
            for (var node = free.Last; node != null; node = node.Previous)
                if (node.Value is T[] candidate && candidate.Length == length)
                {
                    free.Remove(node);
                    freeBytes -= bytes;
                    array = candidate;
                    break;
                }
        }
        array ??= GC.AllocateUninitializedArray<T>(length);
        leases.AddOrUpdate(array, new Lease(array));
        return array;
    }

    static void Return(Array array, long bytes)
    {
        lock (gate)
        {
            // At most MaxPerLength waiting arrays of a length: more would mostly sit idle.
            int same = 0;
            for (var node = free.First; node != null; node = node.Next)
                if (node.Value.GetType() == array.GetType() && node.Value.Length == array.Length && ++same >= MaxPerLength) return;
            free.AddLast(array);
            freeBytes += bytes;
            while (freeBytes > MaxPooledBytes && free.First is { } oldest)
            {
                freeBytes -= (long)oldest.Value.Length * (oldest.Value is float[] ? sizeof(float) : sizeof(double));
                free.RemoveFirst();
            }
        }
    }

    /// <summary>Lives exactly as long as its array; finalized when the array has become unreachable.</summary>
    sealed class Lease(Array array)
    {
        ~Lease()
        {
            if (Environment.HasShutdownStarted) return;
            Return(array, (long)array.Length * (array is float[] ? sizeof(float) : sizeof(double)));
        }
    }
}
