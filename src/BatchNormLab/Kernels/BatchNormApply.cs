using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BatchNormLab.Kernels;

public static unsafe partial class BatchNormKernels
{
    // ---------------------------------------------------------------- the elementwise pass
    // out = dy·A + ((x − hi) − lo)·B + C, one formula for all three uses:
    //   training forward: no dy, hi + lo = μ, B = α, C = β
    //   training backward: hi + lo = μ, A = γ·r, B and C as above
    //   eval forward: no dy, hi + lo = running mean, B = α, C = β

    /// <summary>Per-channel coefficients of the elementwise pass; hi is μ rounded to T, lo the remainder.</summary>
    readonly struct Coefficients<T>(T hi, T lo, T a, T b, T c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public readonly T Hi = hi, Lo = lo, A = a, B = b, C = c;

        public static Coefficients<T> Centered(double mu, T a, double b, double c)
        {
            T hi = T.CreateTruncating(mu);
            return new(hi, T.CreateTruncating(mu - double.CreateTruncating(hi)), a, T.CreateTruncating(b), T.CreateTruncating(c));
        }

        public static Coefficients<T> Folded(double alpha, double betaPrime) =>
            new(T.Zero, T.Zero, T.Zero, T.CreateTruncating(alpha), T.CreateTruncating(betaPrime));
    }

    static void Apply<T>(T* dy, T* x, T* output, int n, int c, int s, Coefficients<T>[] k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool stream = (long)n * c * s * sizeof(T) >= Simd.NonTemporalMinBytes;
        if (s >= PlanePathMinSpatial)
        {
            Threading.ForChunks(n * c, 4, RowBlocks, lastFirst: false, new PlaneApply<T>(dy, x, output, c, s, k, stream));
            return;
        }
        // Row path: coefficients per column of the (N, C·S) matrix, μ's lo part folded into the shift (C − lo·B, in double):
        // one array fewer to load per vector of outputs (out = dy·A + (x − hi)·B + C').
        // When outputs are streamed and a row is whole cache lines, every row sits the same way in its lines: the pass then
        // takes "rows" that start at a line, `shift` elements into a row, with the coefficients rotated to match (index j
        // holds column (j + shift) mod cols). So no row has elements left over at its ends, which would be written one at a
        // time and with cached stores.
        int cols = c * s;
        int shift = stream && (long)cols * sizeof(T) % 64 == 0 ? Simd.WholeLines(output, cols).Start : 0;
        var hi = new T[cols]; var a = new T[cols]; var b = new T[cols]; var cc = new T[cols];
        for (int ch = 0, col = 0; ch < c; ch++)
        {
            var kc = k[ch];
            T folded = T.CreateTruncating(double.CreateTruncating(kc.C) - double.CreateTruncating(kc.Lo) * double.CreateTruncating(kc.B));
            for (int j = 0; j < s; j++, col++)
            {
                int at = col >= shift ? col - shift : col - shift + cols;
                (hi[at], a[at], b[at], cc[at]) = (kc.Hi, kc.A, kc.B, folded);
            }
        }
        fixed (T* pHi = hi, pA = a, pB = b, pC = cc)
            // As many chunks of rows as the reduction has blocks, taken by threads as they come free, from the last: the
            // reduction pass has just read the first blocks first, so the last ones are the likeliest still in cache.
            Threading.ForChunks(n, Math.Max(1, 4096 / cols), RowBlocks, lastFirst: true, new RowApply<T>(dy, x, output, cols, shift, pHi, pA, pB, pC, stream));
    }

    readonly struct PlaneApply<T>(T* dy, T* x, T* output, int c, int s, Coefficients<T>[] k, bool stream) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            for (int plane = start, ch = start % c; plane < end; plane++, ch = ch + 1 == c ? 0 : ch + 1)
            {
                long offset = (long)plane * s;
                ApplyRun(dy == null ? null : dy + offset, x + offset, output + offset, s, k[ch], stream);
            }
            if (stream) Simd.StoreFence();
        }
    }

    /// <summary>
    /// The elementwise pass over rows [start, end) of the (N, C·S) matrix, with per-column coefficients rotated by
    /// <paramref name="shift"/> (see <see cref="Apply{T}"/>).
    /// </summary>
    readonly struct RowApply<T>(T* dy, T* x, T* output, int cols, int shift, T* hi, T* a, T* b, T* c, bool stream) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            // Rows whose starts are equally placed in their cache lines (all of them when a row is whole lines) go through
            // together: a load of a vector of coefficients serves ApplyRows of them. The groups go from the last: the
            // reduction pass has just read this part's rows in order, and its last ones are still in cache (L3).
            // The [4096, 1024] backward took about 10% less time this way in a loop of forward and backward passes; the
            // plane path was slower walked backwards.
            // With a shift, the part's rows start `shift` elements in: its last row is short, and its first `shift`
            // elements (columns [0, shift) of row start) come on their own, at the end.
            int group = (long)cols * sizeof(T) % 64 == 0 ? ApplyRows : 1;
            long first = (long)start * cols + shift;
            int whole = shift == 0 ? end - start : end - start - 1;
            if (shift > 0) Rows(first + (long)whole * cols, 1, cols - shift, 0);
            for (int i = whole == 0 ? -1 : (whole - 1) / group * group; i >= 0; i -= group)
                Rows(first + (long)i * cols, Math.Min(group, whole - i), cols, 0);
            if (shift > 0) Rows(first - shift, 1, shift, cols - shift);
            if (stream) Simd.StoreFence();
        }

        /// <summary>
        /// <paramref name="rows"/> rows (<c>cols</c> apart) of <paramref name="length"/> elements from element
        /// <paramref name="first"/>, whose coefficients start at index <paramref name="k0"/> of the (rotated) arrays.
        /// </summary>
        void Rows(long first, int rows, int length, int k0)
        {
            T* pdy = dy, px = x, po = output, pHi = hi + k0, pA = a + k0, pB = b + k0, pC = c + k0;
            // Vectors over the whole cache lines (streamed) or all of the row; the elements either side one at a time.
            var (peel, last) = stream ? Simd.WholeLines(po + first, length) : (0, length);
            int col = peel;
            // 512-bit where there (the backward's pass took 7% less time than with 256-bit vectors, one row at a time), two
            // vectors of columns per step: each row is read 128 bytes at a time before the next, with the coefficient
            // vectors in registers (about 12% less time than one vector per step, in a microbenchmark of the pass).
            if (Vector512.IsHardwareAccelerated)
                for (int wide = Vector512<T>.Count; col <= last - 2 * wide; col += 2 * wide)
                {
                    var h0 = Vector512.Load(pHi + col); var b0 = Vector512.Load(pB + col); var c0 = Vector512.Load(pC + col);
                    var h1 = Vector512.Load(pHi + col + wide); var b1 = Vector512.Load(pB + col + wide); var c1 = Vector512.Load(pC + col + wide);
                    long at = first + col, stop = at + (long)rows * cols;
                    if (pdy == null)
                        for (; at < stop; at += cols)
                        {
                            Simd.Store(Simd.MultiplyAdd(Vector512.Load(px + at) - h0, b0, c0), po + at, stream);
                            Simd.Store(Simd.MultiplyAdd(Vector512.Load(px + at + wide) - h1, b1, c1), po + at + wide, stream);
                        }
                    else
                    {
                        var a0 = Vector512.Load(pA + col); var a1 = Vector512.Load(pA + col + wide);
                        for (; at < stop; at += cols)
                        {
                            var v0 = Simd.MultiplyAdd(Vector512.Load(px + at) - h0, b0, c0);
                            var v1 = Simd.MultiplyAdd(Vector512.Load(px + at + wide) - h1, b1, c1);
                            Simd.Store(Simd.MultiplyAdd(Vector512.Load(pdy + at), a0, v0), po + at, stream);
                            Simd.Store(Simd.MultiplyAdd(Vector512.Load(pdy + at + wide), a1, v1), po + at + wide, stream);
                        }
                    }
                }
            for (int w = Vector256<T>.Count; col <= last - w; col += w)
            {
                var h = Vector256.Load(pHi + col); var va = Vector256.Load(pA + col); var vb = Vector256.Load(pB + col); var vc = Vector256.Load(pC + col);
                for (long at = first + col, stop = at + (long)rows * cols; at < stop; at += cols)
                {
                    var value = Simd.MultiplyAdd(Vector256.Load(px + at) - h, vb, vc);
                    if (pdy != null) value = Simd.MultiplyAdd(Vector256.Load(pdy + at), va, value);
                    Simd.Store(value, po + at, stream);
                }
            }
            for (long at = first, stop = first + (long)rows * cols; at < stop; at += cols)
            {
                T* g = pdy == null ? null : pdy + at;
                for (int j = 0; j < peel; j++) po[at + j] = Element(g, px + at, j, pHi[j], T.Zero, pA[j], pB[j], pC[j]);
                for (int j = col; j < length; j++) po[at + j] = Element(g, px + at, j, pHi[j], T.Zero, pA[j], pB[j], pC[j]);
            }
        }
    }

    /// <summary>The elementwise pass over one run of a channel; with <paramref name="stream"/> whole cache lines are stored non-temporally.</summary>
    static void ApplyRun<T>(T* dy, T* x, T* output, int len, Coefficients<T> k, bool stream) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (i, end) = stream ? Simd.WholeLines(output, len) : (0, len);
        for (int j = 0; j < i; j++) output[j] = Element(dy, x, j, k.Hi, k.Lo, k.A, k.B, k.C);
        int w = Vector256<T>.Count;
        var hi = Vector256.Create(k.Hi); var lo = Vector256.Create(k.Lo);
        var a = Vector256.Create(k.A); var b = Vector256.Create(k.B); var c = Vector256.Create(k.C);
        if (dy == null)
        {
            for (; i <= end - 2 * w; i += 2 * w)
            {
                Simd.Store(Simd.MultiplyAdd(Vector256.Load(x + i) - hi - lo, b, c), output + i, stream);
                Simd.Store(Simd.MultiplyAdd(Vector256.Load(x + i + w) - hi - lo, b, c), output + i + w, stream);
            }
        }
        else
        {
            for (; i <= end - w; i += w)
                Simd.Store(Simd.MultiplyAdd(Vector256.Load(dy + i), a, Simd.MultiplyAdd(Vector256.Load(x + i) - hi - lo, b, c)), output + i, stream);
        }
        for (; i < len; i++) output[i] = Element(dy, x, i, k.Hi, k.Lo, k.A, k.B, k.C);
    }

    /// <summary>One element of the elementwise pass (peel and tail of the vector loops), fused the same way.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static T Element<T>(T* dy, T* x, int i, T hi, T lo, T a, T b, T c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T value = T.FusedMultiplyAdd(x[i] - hi - lo, b, c);
        return dy == null ? value : T.FusedMultiplyAdd(dy[i], a, value);
    }
}
