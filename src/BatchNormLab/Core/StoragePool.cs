using System.Runtime.CompilerServices;

namespace BatchNormLab;

/// <summary>
/// Recycles the large arrays that tensors are made of. Tensors are not reference-counted, so a buffer
/// is known to be free only once the GC finds it unreachable: each pooled-size array gets a finalizable
/// lease (tied to it by a ConditionalWeakTable, which keeps the lease alive exactly as long as the
/// array), and the lease's finalizer hands the array back. The next tensor of the same length then
/// reuses memory that is already committed and mapped, instead of a fresh array whose every page
/// faults on first touch (the GC gives freed large-object memory back to the OS). Reuse never changes
/// results: an uninitialized array goes only to kernels that write every element, and a zeroed one is
/// cleared first.
/// Large arrays are found dead only by full collections, which the GC runs rarely, so a model's outermost
/// forward pass calls <see cref="Reclaim"/> first, where the previous step's (or evaluation batch's, or
/// Hessian-vector product's) intermediates have become garbage: once enough has been leased since the
/// last time, one full collection hands them back for this pass (without it, a small model's every step
/// faults in fresh pages; docs/benchmarks.md has the measurements).
/// The cost is memory: a leased array that dies survives one more GC (its lease's finalizer has to
/// run first), and pooled arrays wait unused until their length comes round, at most
/// <see cref="MaxPerLength"/> per length and <see cref="MaxPooledBytes"/> in all.
/// </summary>
internal static class StoragePool
{
    /// <summary>
    /// Arrays from this many bytes are pooled. Smaller ones come cheaply from the GC's youngest generation; larger
    /// ones left to the GC go back to the OS at the collection and fault in again at their next use.
    /// </summary>
    internal const long MinBytes = 1 << 16;
    /// <summary>At most this many bytes wait in the pool; beyond it the oldest are left to the GC.</summary>
    internal const long MaxPooledBytes = 256L << 20;

    /// <summary>
    /// At most this many arrays of one length wait in the pool: a step's layers of one shape each leave
    /// several (the convolution's, the normaliser's and the activation's outputs, and their gradients).
    /// </summary>
    internal const int MaxPerLength = 16;

    /// <summary><see cref="Reclaim"/> collects once this many bytes have been leased since it last did.</summary>
    internal const long ReclaimBytes = 16L << 20;

    static readonly object gate = new();
    static readonly LinkedList<Array> free = new();
    static long freeBytes;
    static readonly ConditionalWeakTable<Array, Lease> leases = new();
    static long leasedSinceReclaim, freshBytes;

    /// <summary>Bytes of pooled-size arrays allocated new rather than recycled, since the process started.</summary>
    internal static long FreshBytes => Interlocked.Read(ref freshBytes);

    /// <summary>
    /// For tests: fill every array handed out uninitialized with NaN (int.MinValue for indices; fresh ones may
    /// happen to be zero, recycled ones hold an earlier tensor's values), so that a kernel that reads an element of
    /// its output before writing it, or leaves one unwritten, changes its results.
    /// </summary>
    internal static bool PoisonUninitialized { get; set; }

    /// <summary>An uninitialized array of exactly <paramref name="length"/> elements, recycled when one is free.</summary>
    internal static T[] Rent<T>(int length) where T : unmanaged
    {
        long bytes = (long)length * Unsafe.SizeOf<T>();
        if (bytes < MinBytes) return Poisoned(GC.AllocateUninitializedArray<T>(length));
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
        if (array == null)
        {
            array = GC.AllocateUninitializedArray<T>(length);
            Interlocked.Add(ref freshBytes, bytes);
        }
        leases.AddOrUpdate(array, new Lease(array));
        Interlocked.Add(ref leasedSinceReclaim, bytes);
        return Poisoned(array);
    }

    /// <summary>As <see cref="Rent{T}"/>, with every element zero.</summary>
    internal static T[] RentZeroed<T>(int length) where T : unmanaged
    {
        if ((long)length * Unsafe.SizeOf<T>() < MinBytes) return new T[length];
        var array = Rent<T>(length);
        Array.Clear(array);
        return array;
    }

    /// <summary>
    /// Hands the pool back every leased array that has become garbage, by a full blocking collection and
    /// its finalizers, once <see cref="ReclaimBytes"/> have been leased since the last collection here;
    /// otherwise does nothing. Called where a unit of work's intermediates are dead (before a model's forward
    /// pass): it changes no result, only where the next arrays come from.
    /// </summary>
    internal static void Reclaim()
    {
        if (Interlocked.Read(ref leasedSinceReclaim) < ReclaimBytes) return;
        Interlocked.Exchange(ref leasedSinceReclaim, 0);
        // Not compacting: moving the pooled arrays would fault their new pages in again.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);
        GC.WaitForPendingFinalizers();
    }

    static T[] Poisoned<T>(T[] array) where T : unmanaged
    {
        if (!PoisonUninitialized) return array;
        if (array is float[] f) f.AsSpan().Fill(float.NaN);
        else if (array is double[] d) d.AsSpan().Fill(double.NaN);
        else if (array is int[] i) i.AsSpan().Fill(int.MinValue);
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
                freeBytes -= Buffer.ByteLength(oldest.Value);
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
            Return(array, Buffer.ByteLength(array));
        }
    }
}
