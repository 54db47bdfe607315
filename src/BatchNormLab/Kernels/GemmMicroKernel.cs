using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BatchNormLab.Kernels;

public static partial class Gemm
{
    /// <summary>The width of a B panel: two of the micro-kernel's vectors (see <see cref="MicroKernel{T}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int NR<T>() => typeof(T) == typeof(float) && Avx512F.IsSupported ? 2 * Vector512<T>.Count : 2 * Vector256<T>.Count;

    /// <summary>The height of an A panel, the micro-kernel's rows: 8 with 512-bit vectors (16 accumulators of the 32
    /// registers; VGG's channel counts, multiples of 8, then leave no partial panel), else 6 (12 of 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int MR<T>() where T : unmanaged => typeof(T) == typeof(float) && Avx512F.IsSupported ? Vector512Ops<T>.Rows : Vector256Ops<T>.Rows;

    /// <summary>The micro-kernel on 512-bit vectors, eight rows, for float where AVX-512 is there (on Zen 4 as fast per
    /// FLOP as 256-bit, with half the loads and broadcasts), else on 256-bit ones, six rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void MicroKernel<T>(int kc, T* a, T* b, T* c, nint ldc, T alpha, T beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // The test spelled out, not a call: the JIT folds it while importing, so the caller gets one direct call
        // and no temporaries for the arguments of the other.
        if (typeof(T) == typeof(float) && Avx512F.IsSupported)
            MicroKernel<T, Vector512<T>, Vector512Ops<T>>(kc, a, b, c, ldc, alpha, beta);
        else
            MicroKernel<T, Vector256<T>, Vector256Ops<T>>(kc, a, b, c, ldc, alpha, beta);
    }

    /// <summary>
    /// The MR×NR tile of C at <paramref name="c"/> from an MR-row panel of A and an NR-column panel of B:
    /// <code>
    /// acc[r, j] = Σ_{p&lt;kc} a[p·MR + r] · b[p·NR + j]          r &lt; MR, j &lt; NR = 2 vectors
    /// c[r, j]   = alpha·acc[r, j] + beta·c[r, j]              (beta = 0: c is not read)
    /// </code>
    /// Each step p is a rank-1 update: two vector loads of B's row p, MR broadcasts of A's column p, 2·MR FMAs
    /// into 2·MR accumulators that stay in registers for the whole k loop. MR (TOps.Rows, 6 or 8) is a constant
    /// to the JIT, which drops rows 6–7 from the six-row instantiation; each element is summed the same way for
    /// either height, so results do not depend on it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void MicroKernel<T, TVector, TOps>(int kc, T* a, T* b, T* c, nint ldc, T alpha, T beta)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TVector : struct
        where TOps : struct, IVectorOps<TVector, T>
    {
        int w = TOps.Count, mr = TOps.Rows;
        // C is needed only after the k loop; start fetching its lines now.
        if (Sse.IsSupported)
        {
            for (int r = 0; r < mr; r++)
            {
                Sse.Prefetch0(c + r * ldc);
                Sse.Prefetch0(c + r * ldc + 2 * w - 1);
            }
        }
        TVector c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        TVector c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++, a += mr, b += 2 * w)
        {
            TVector b0 = TOps.Load(b), b1 = TOps.Load(b + w);
            TVector ar = TOps.Create(a[0]);
            c00 = TOps.MultiplyAdd(ar, b0, c00); c01 = TOps.MultiplyAdd(ar, b1, c01);
            ar = TOps.Create(a[1]);
            c10 = TOps.MultiplyAdd(ar, b0, c10); c11 = TOps.MultiplyAdd(ar, b1, c11);
            ar = TOps.Create(a[2]);
            c20 = TOps.MultiplyAdd(ar, b0, c20); c21 = TOps.MultiplyAdd(ar, b1, c21);
            ar = TOps.Create(a[3]);
            c30 = TOps.MultiplyAdd(ar, b0, c30); c31 = TOps.MultiplyAdd(ar, b1, c31);
            ar = TOps.Create(a[4]);
            c40 = TOps.MultiplyAdd(ar, b0, c40); c41 = TOps.MultiplyAdd(ar, b1, c41);
            ar = TOps.Create(a[5]);
            c50 = TOps.MultiplyAdd(ar, b0, c50); c51 = TOps.MultiplyAdd(ar, b1, c51);
            if (mr == 8)
            {
                ar = TOps.Create(a[6]);
                c60 = TOps.MultiplyAdd(ar, b0, c60); c61 = TOps.MultiplyAdd(ar, b1, c61);
                ar = TOps.Create(a[7]);
                c70 = TOps.MultiplyAdd(ar, b0, c70); c71 = TOps.MultiplyAdd(ar, b1, c71);
            }
        }
        TVector va = TOps.Create(alpha), vb = TOps.Create(beta);
        bool overwrite = beta == T.Zero;
        Update<T, TVector, TOps>(c, c00, c01, va, vb, overwrite);
        Update<T, TVector, TOps>(c + ldc, c10, c11, va, vb, overwrite);
        Update<T, TVector, TOps>(c + 2 * ldc, c20, c21, va, vb, overwrite);
        Update<T, TVector, TOps>(c + 3 * ldc, c30, c31, va, vb, overwrite);
        Update<T, TVector, TOps>(c + 4 * ldc, c40, c41, va, vb, overwrite);
        Update<T, TVector, TOps>(c + 5 * ldc, c50, c51, va, vb, overwrite);
        if (mr == 8)
        {
            Update<T, TVector, TOps>(c + 6 * ldc, c60, c61, va, vb, overwrite);
            Update<T, TVector, TOps>(c + 7 * ldc, c70, c71, va, vb, overwrite);
        }
    }

    /// <summary>One row of the tile: c[0..2w) = alpha·(acc0, acc1) + beta·c[0..2w), c not read when overwriting.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Update<T, TVector, TOps>(T* c, TVector acc0, TVector acc1, TVector alpha, TVector beta, bool overwrite)
        where T : unmanaged
        where TVector : struct
        where TOps : struct, IVectorOps<TVector, T>
    {
        int w = TOps.Count;
        if (overwrite)
        {
            TOps.Store(TOps.Multiply(alpha, acc0), c);
            TOps.Store(TOps.Multiply(alpha, acc1), c + w);
        }
        else
        {
            TOps.Store(TOps.MultiplyAdd(alpha, acc0, TOps.Multiply(beta, TOps.Load(c))), c);
            TOps.Store(TOps.MultiplyAdd(alpha, acc1, TOps.Multiply(beta, TOps.Load(c + w))), c + w);
        }
    }

    /// <summary>
    /// The vector operations of the micro-kernel, for one vector type. Implemented by structs, so that the
    /// kernel, generic over them, is compiled once per vector type with every operation inlined (as
    /// TensorPrimitives' operators are); .NET 10's ISimdVector, which would serve, is not public.
    /// </summary>
    unsafe interface IVectorOps<TVector, T> where T : unmanaged
    {
        static abstract int Count { get; }
        /// <summary>The micro-kernel's rows with these vectors: as many as leave registers for two B vectors and a broadcast.</summary>
        static abstract int Rows { get; }
        static abstract TVector Create(T value);
        static abstract TVector Load(T* p);
        static abstract void Store(TVector v, T* p);
        static abstract TVector Multiply(TVector a, TVector b);
        /// <summary>a·b + c, fused as <see cref="Simd.MultiplyAdd{T}(Vector256{T}, Vector256{T}, Vector256{T})"/>.</summary>
        static abstract TVector MultiplyAdd(TVector a, TVector b, TVector c);
    }

    readonly unsafe struct Vector256Ops<T> : IVectorOps<Vector256<T>, T> where T : unmanaged
    {
        public static int Count => Vector256<T>.Count;
        public static int Rows => 6;
        public static Vector256<T> Create(T value) => Vector256.Create(value);
        public static Vector256<T> Load(T* p) => Vector256.Load(p);
        public static void Store(Vector256<T> v, T* p) => Vector256.Store(v, p);
        public static Vector256<T> Multiply(Vector256<T> a, Vector256<T> b) => a * b;
        public static Vector256<T> MultiplyAdd(Vector256<T> a, Vector256<T> b, Vector256<T> c) => Simd.MultiplyAdd(a, b, c);
    }

    readonly unsafe struct Vector512Ops<T> : IVectorOps<Vector512<T>, T> where T : unmanaged
    {
        public static int Count => Vector512<T>.Count;
        public static int Rows => 8;
        public static Vector512<T> Create(T value) => Vector512.Create(value);
        public static Vector512<T> Load(T* p) => Vector512.Load(p);
        public static void Store(Vector512<T> v, T* p) => Vector512.Store(v, p);
        public static Vector512<T> Multiply(Vector512<T> a, Vector512<T> b) => a * b;
        public static Vector512<T> MultiplyAdd(Vector512<T> a, Vector512<T> b, Vector512<T> c) => Simd.MultiplyAdd(a, b, c);
    }
}
