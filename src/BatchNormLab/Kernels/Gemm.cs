using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BatchNormLab.Kernels;

/// <summary>
/// General matrix multiply, C = alpha·op(A)·op(B) + beta·C, row-major, float or double; the
/// same contract as <see cref="GemmReference"/>, laid out as in BLIS (Haswell configuration):
/// <code>
/// for jc in steps of NC over the columns of C        B block   KC×NC  packed, stays in L3
///   for pc in steps of KC over k                      A block   MC×KC  packed, stays in L2
///     for ic in steps of MC over the rows of C        B panel   KC×NR  stays in L1
///       for jr in steps of NR, for ir in steps of MR: micro-kernel, an MR×NR tile of C in registers
/// </code>
/// Threads get fixed, disjoint ranges of whole rows or columns of C (never a share of k), so every
/// element of C is summed in the same order whatever the thread count: results are bitwise the
/// same for any <see cref="Threading.Threads"/>.
/// </summary>
public static partial class Gemm
{
    const int MC = 240; // BLIS Haswell has 144; 240×KC floats (240 KB) still sit well inside Zen 4's 1 MB L2
    const int KC = 256;
    const int NC = 4080;

    /// <summary>Below this many multiply-adds per part, waking another thread costs more than it saves.</summary>
    const long MinWorkPerPart = 1 << 21;

    /// <summary>A side of C is split only when each part gets at least this many of its panels.</summary>
    const int MinPanelsPerPart = 2;

    /// <summary>C = alpha·op(A)·op(B) + beta·C; see <see cref="GemmReference.Multiply{T}"/>.</summary>
    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc) where T : unmanaged, IFloatingPointIeee754<T> =>
        Multiply(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, serial: false);

    /// <summary><see cref="Multiply{T}(bool, bool, int, int, int, T, ReadOnlySpan{T}, int, ReadOnlySpan{T}, int, T, Span{T}, int)"/>
    /// on the calling thread only, for callers that are already one part of a parallel loop. Bitwise the same result.</summary>
    public static void MultiplySerial<T>(bool transA, bool transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc) where T : unmanaged, IFloatingPointIeee754<T> =>
        Multiply(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, serial: true);

    static unsafe void Multiply<T>(bool transA, bool transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc, bool serial) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckArguments<T>(m, n, k);
        CheckMatrix(a.Length, transA ? k : m, transA ? m : k, lda, nameof(a));
        if (!NeedsProduct(m, n, k, alpha, b, transB, ldb, beta, c, ldc))
            return;
        fixed (T* pa = a, pb = b, pc = c)
        {
            if (serial)
            {
                new Job<T>
                {
                    A = pa, B = pb, C = pc, Lda = lda, Ldb = ldb, Ldc = ldc, TransA = transA, TransB = transB,
                    M = m, N = n, K = k, Alpha = alpha, Beta = beta,
                }.Block(0, m, 0, n);
                return;
            }
            int nr = NR<T>();
            var job = new Job<T>
            {
                A = pa, B = pb, C = pc, Lda = lda, Ldb = ldb, Ldc = ldc, TransA = transA, TransB = transB,
                M = m, N = n, K = k, Alpha = alpha, Beta = beta,
            };
            // Split the longer side of C when every part gets a few of its panels: each part packs all of
            // the other operand for itself (sharing it behind a barrier measured no faster here), so the
            // split duplicates the smaller one. A wide C (conv forward: 128×512) split by rows packed all
            // of B twice and ran about 15% slower.
            int mr = MR<T>(), rowPanels = (m + mr - 1) / mr, colPanels = (n + nr - 1) / nr, minPanels = MinPanelsPerPart * Threading.Threads;
            bool splitRows = rowPanels >= minPanels && (m >= n || colPanels < minPanels);
            int panels = splitRows ? rowPanels : colPanels;
            long workPerPanel = (splitRows ? (long)n * mr : (long)m * nr) * k;
            job.SplitRows = splitRows;
            Threading.For(panels, (int)Math.Min(panels, MinWorkPerPart / workPerPanel + 1), job);
        }
    }

    /// <summary>Whether a product of inner length <paramref name="k"/> is summed in one k block (each element of C one
    /// running sum over p in order, from zero, then scaled by alpha): what another kernel must do to match it bitwise.</summary>
    internal static bool OneKBlock(int k) => k <= KC;

    /// <summary>Elements (with slack) that <see cref="PackA{T}"/> writes for an m×k op(A) of <typeparamref name="T"/>.</summary>
    public static int PackedALength<T>(int m, int k) where T : unmanaged => (m + MR<T>() - 1) / MR<T>() * MR<T>() * k + PackedSlack<T>(k);

    /// <summary>MR slack after every k block of a packed A, for the values PackA may write past a block (so that
    /// blocks can be packed in parallel, none writing into another's place).</summary>
    static int PackedSlack<T>(int k) where T : unmanaged => k == 0 ? MR<T>() : (k + BlockStep(k, KC, 1) - 1) / BlockStep(k, KC, 1) * MR<T>();

    /// <summary>
    /// Packs op(A) (m×k) once into <paramref name="packed"/> (<see cref="PackedALength{T}"/> elements), for several
    /// <see cref="MultiplySerialPacked{T}"/> calls with the same A: the packing of A is then paid once, not per call.
    /// </summary>
    public static unsafe void PackA<T>(bool transA, int m, int k, ReadOnlySpan<T> a, int lda, Span<T> packed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"Gemm supports float and double, not {typeof(T).Name}.");
        CheckMatrix(a.Length, transA ? k : m, transA ? m : k, lda, nameof(a));
        if (packed.Length < PackedALength<T>(m, k)) throw new ArgumentException($"packed holds {packed.Length} elements, needs {PackedALength<T>(m, k)}", nameof(packed));
        if (m == 0 || k == 0) return;
        fixed (T* pa = a, pp = packed)
        {
            var job = new Job<T> { A = pa, Lda = lda, TransA = transA, M = m, K = k };
            Threading.For(job.KBlocks, Math.Max(1, (int)(MinWorkPerPart / 8 / ((long)m * KC))), new PackAllBody<T> { Job = job, Dst = pp });
        }
    }

    /// <summary>
    /// <see cref="MultiplySerial{T}"/> with op(A) given packed by <see cref="PackA{T}"/> (same m and k): bitwise the
    /// same result as from the unpacked A.
    /// </summary>
    public static unsafe void MultiplySerialPacked<T>(int m, int n, int k, T alpha, ReadOnlySpan<T> packedA,
        bool transB, ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckArguments<T>(m, n, k);
        if (packedA.Length < PackedALength<T>(m, k)) throw new ArgumentException($"packedA holds {packedA.Length} elements, needs {PackedALength<T>(m, k)}", nameof(packedA));
        if (!NeedsProduct(m, n, k, alpha, b, transB, ldb, beta, c, ldc))
            return;
        fixed (T* pp = packedA, pb = b, pc = c)
        {
            new Job<T>
            {
                PackedA = pp, B = pb, C = pc, Ldb = ldb, Ldc = ldc, TransB = transB,
                M = m, N = n, K = k, Alpha = alpha, Beta = beta,
            }.Block(0, m, 0, n);
        }
    }

    /// <summary>The step that cuts <paramref name="length"/> into the fewest blocks of at most
    /// <paramref name="max"/>, as equal as a multiple of <paramref name="unit"/> allows.</summary>
    static int BlockStep(int length, int max, int unit)
    {
        int blocks = (length + max - 1) / max;
        int step = (length + blocks - 1) / blocks;
        return (step + unit - 1) / unit * unit;
    }

    static void CheckArguments<T>(int m, int n, int k)
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"Gemm supports float and double, not {typeof(T).Name}.");
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
    }

    /// <summary>
    /// Checks B and C, and does what needs no product: nothing when C is empty, C = beta·C when the product is empty
    /// (k = 0) or scaled away (alpha = 0). False when that was all.
    /// </summary>
    static unsafe bool NeedsProduct<T>(int m, int n, int k, T alpha, ReadOnlySpan<T> b, bool transB, int ldb, T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckMatrix(b.Length, transB ? n : k, transB ? k : n, ldb, nameof(b));
        CheckMatrix(c.Length, m, n, ldc, nameof(c));
        if (m == 0 || n == 0) return false;
        if (k != 0 && alpha != T.Zero) return true;
        fixed (T* pc = c) Scale(pc, m, n, ldc, beta);
        return false;
    }

    static void CheckMatrix(int length, int rows, int cols, int ld, string name)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentOutOfRangeException("ld" + name, ld, $"leading dimension of {name} is less than its row length {cols}");
        if (rows > 0 && cols > 0 && length < (long)(rows - 1) * ld + cols)
            throw new ArgumentException($"{name} holds {length} elements, too few for {rows}×{cols} with leading dimension {ld}", name);
    }

    static unsafe void Scale<T>(T* c, int m, int n, nint ldc, T beta) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<T>(c + i * ldc, n);
            if (beta == T.Zero)
                row.Clear();
            else
                for (int j = 0; j < n; j++)
                    row[j] *= beta;
        }
    }

    /// <summary>One GEMM call; a part is a range of MR-row panels of C (rows split) or of NR-column panels.</summary>
    unsafe struct Job<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* A, B, C;
        /// <summary>All of op(A) packed ahead by <see cref="PackAll"/>, or null: pack each block as it comes.</summary>
        public T* PackedA;
        public nint Lda, Ldb, Ldc;
        public bool TransA, TransB;
        public int M, N, K;
        public T Alpha, Beta;
        public bool SplitRows;

        public readonly void Run(int start, int end)
        {
            if (SplitRows)
                Block(start * MR<T>(), Math.Min(M, end * MR<T>()), 0, N);
            else
                Block(0, M, start * NR<T>(), Math.Min(N, end * NR<T>()));
        }

        /// <summary>C[m0..m1, n0..n1) on this thread: the BLIS loops around the micro-kernel.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Block(int m0, int m1, int n0, int n1)
        {
            int nr = NR<T>();
            // Blocks of equal size (up to the panel width) rather than full blocks and a small
            // remainder. The k blocks depend on K alone, so every part sums in the same order.
            int ncStep = BlockStep(n1 - n0, NC, nr), kcStep = BlockStep(K, KC, 1), mcStep = BlockStep(m1 - m0, MC, MR<T>());
            T* packA = PackedA != null ? null : Scratch<T>.A(mcStep * kcStep + MR<T>());
            T* packB = Scratch<T>.B(kcStep * ncStep);
            for (int jc = n0; jc < n1; jc += ncStep)
            {
                int nc = Math.Min(ncStep, n1 - jc);
                for (int pc = 0; pc < K; pc += kcStep)
                {
                    int kc = Math.Min(kcStep, K - pc);
                    PackB(packB, pc, jc, kc, nc);
                    Multiply(packA, packB, m0, m1, mcStep, jc, nc, pc, kc);
                }
            }
        }

        /// <summary>C[m0..m1, jc..jc+nc) += the k block at pc of op(A)·(the packed B block), MC rows at a time.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        readonly void Multiply(T* packA, T* packB, int m0, int m1, int mcStep, int jc, int nc, int pc, int kc)
        {
            int nr = NR<T>(), mr = MR<T>();
            T* tile = stackalloc T[mr * nr];
            // Later k blocks add to what the first one wrote.
            T beta = pc == 0 ? Beta : T.One;
            for (int ic = m0; ic < m1; ic += mcStep)
            {
                int mc = Math.Min(mcStep, m1 - ic);
                if (PackedA != null)
                    packA = PackedA + PackedBlock(pc) + (nint)ic * kc; // packed by PackAll, same values
                else
                    PackA(packA, ic, pc, mc, kc);
                for (int jr = 0; jr < nc; jr += nr)
                {
                    int cols = Math.Min(nr, nc - jr);
                    for (int ir = 0; ir < mc; ir += mr)
                    {
                        int rows = Math.Min(mr, mc - ir);
                        T* c = C + (ic + ir) * Ldc + jc + jr;
                        if (rows == mr && cols == nr)
                        {
                            MicroKernel(kc, packA + ir * kc, packB + jr * kc, c, Ldc, Alpha, beta);
                            continue;
                        }
                        // Edge tile: run the same kernel on a full-size copy, keep the valid part.
                        if (beta != T.Zero)
                            Copy(c, Ldc, tile, nr, rows, cols);
                        MicroKernel(kc, packA + ir * kc, packB + jr * kc, tile, nr, Alpha, beta);
                        Copy(tile, nr, c, Ldc, rows, cols);
                    }
                }
            }
        }

        /// <summary>
        /// The k blocks [firstBlock, endBlock) of op(A) (the k steps Block uses): block pc at PackedBlock(pc), its MR-row
        /// panels in order, so that rows from ic on start at PackedBlock(pc) + ic·kc, just as PackA lays out a block.
        /// </summary>
        public readonly void PackAll(T* dst, int firstBlock, int endBlock)
        {
            int kcStep = BlockStep(K, KC, 1);
            for (int block = firstBlock; block < endBlock; block++)
            {
                int pc = block * kcStep;
                PackA(dst + PackedBlock(pc), 0, pc, M, Math.Min(kcStep, K - pc));
            }
        }

        /// <summary>Where the k block at pc starts in a packed A: the blocks before it, each with its MR of slack.</summary>
        readonly nint PackedBlock(int pc) => (nint)pc * ((M + MR<T>() - 1) / MR<T>() * MR<T>()) + (nint)(pc / BlockStep(K, KC, 1)) * MR<T>();

        public readonly int KBlocks => (K + BlockStep(K, KC, 1) - 1) / BlockStep(K, KC, 1);

        /// <summary>
        /// op(A)[ic..ic+mc, pc..pc+kc) into MR-row panels: panel q holds op(A)[ic+q·MR+r, pc+p] at
        /// q·MR·kc + p·MR + r, rows past mc zero. May write up to MR values past the last panel.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        readonly void PackA(T* dst, int ic, int pc, int mc, int kc)
        {
            int w = Vector256<T>.Count, mr = MR<T>();
            for (int ir = 0; ir < mc; ir += mr, dst += mr * kc)
            {
                int rows = Math.Min(mr, mc - ir);
                int p = 0;
                if (TransA)
                {
                    // op(A)[i, p] = A[p, i]: the MR values of one p are adjacent in A.
                    T* src = A + pc * Lda + ic + ir;
                    if (rows == mr)
                        for (; p < kc; p++)
                            Unsafe.CopyBlockUnaligned(dst + p * mr, src + p * Lda, (uint)(mr * sizeof(T)));
                    for (; p < kc; p++)
                        for (int r = 0; r < mr; r++)
                            dst[p * mr + r] = r < rows ? src[p * Lda + r] : T.Zero;
                    continue;
                }
                T* s = A + (ic + ir) * Lda + pc;
                if (rows == mr && Avx.IsSupported)
                {
                    // W columns of the MR rows at a time, transposed in registers. Every packed step p is
                    // stored as a whole vector of W; with six rows that spills two values into step p + 1,
                    // which is stored afterwards (hence the slack past the last panel). For double (W = 4)
                    // rows 4–5 go first, so that rows 0–3 overwrite their spill.
                    for (; p + w <= kc; p += w)
                    {
                        if (w == 8)
                        {
                            Transpose(s + p, Lda, mr, dst + p * mr, mr);
                        }
                        else
                        {
                            Transpose(s + 4 * Lda + p, Lda, 2, dst + p * mr + 4, mr);
                            Transpose(s + p, Lda, 4, dst + p * mr, mr);
                        }
                    }
                }
                for (; p < kc; p++)
                    for (int r = 0; r < mr; r++)
                        dst[p * mr + r] = r < rows ? s[r * Lda + p] : T.Zero;
            }
        }

        /// <summary>
        /// op(B)[pc..pc+kc, jc..jc+nc) into NR-column panels: panel q holds op(B)[pc+p, jc+q·NR+j]
        /// at q·NR·kc + p·NR + j, columns past nc zero.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        readonly void PackB(T* dst, int pc, int jc, int kc, int nc)
        {
            int w = Vector256<T>.Count, nr = NR<T>();
            for (int jr = 0; jr < nc; jr += nr, dst += nr * kc)
            {
                int cols = Math.Min(nr, nc - jr);
                int p = 0;
                if (TransB)
                {
                    // op(B)[p, j] = B[j, p]: the panel's columns are rows of B; transpose W×W blocks.
                    T* src = B + (jc + jr) * Ldb + pc;
                    if (cols == nr && Avx.IsSupported)
                    {
                        for (; p + w <= kc; p += w)
                            for (int v = 0; v < nr; v += w)
                                Transpose(src + v * Ldb + p, Ldb, w, dst + p * nr + v, nr);
                    }
                    for (; p < kc; p++)
                        for (int j = 0; j < nr; j++)
                            dst[p * nr + j] = j < cols ? src[j * Ldb + p] : T.Zero;
                }
                else
                {
                    T* src = B + pc * Ldb + jc + jr;
                    if (cols == nr)
                    {
                        for (; p < kc; p++)
                            for (int v = 0; v < nr; v += w)
                                Vector256.Store(Vector256.Load(src + p * Ldb + v), dst + p * nr + v);
                    }
                    for (; p < kc; p++)
                        for (int j = 0; j < nr; j++)
                            dst[p * nr + j] = j < cols ? src[p * Ldb + j] : T.Zero;
                }
            }
        }
    }

    /// <summary>Packs the k blocks of op(A) [start, end), each into its own place: any split gives the same bits.</summary>
    unsafe struct PackAllBody<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public Job<T> Job;
        public T* Dst;

        public readonly void Run(int start, int end) => Job.PackAll(Dst, start, end);
    }

    /// <summary>
    /// Stores the transpose of the W×W block at <paramref name="src"/> (W = Vector256&lt;T&gt;.Count,
    /// rows <paramref name="lds"/> apart, rows from <paramref name="rows"/> on taken as zero) to
    /// <paramref name="dst"/>, rows <paramref name="ldd"/> apart, one whole vector per row in row order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Transpose<T>(T* src, nint lds, int rows, T* dst, nint ldd) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            float* s = (float*)src, d = (float*)dst;
            Vector256<float> r0 = Row(s, lds, 0, rows), r1 = Row(s, lds, 1, rows), r2 = Row(s, lds, 2, rows), r3 = Row(s, lds, 3, rows);
            Vector256<float> r4 = Row(s, lds, 4, rows), r5 = Row(s, lds, 5, rows), r6 = Row(s, lds, 6, rows), r7 = Row(s, lds, 7, rows);
            // Interleave pairs of rows, then pairs of pairs (within 128-bit lanes), then swap lanes.
            Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
            Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
            Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
            Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
            Vector256.Store(Avx.Permute2x128(u0, u4, 0x20), d);
            Vector256.Store(Avx.Permute2x128(u1, u5, 0x20), d + ldd);
            Vector256.Store(Avx.Permute2x128(u2, u6, 0x20), d + 2 * ldd);
            Vector256.Store(Avx.Permute2x128(u3, u7, 0x20), d + 3 * ldd);
            Vector256.Store(Avx.Permute2x128(u0, u4, 0x31), d + 4 * ldd);
            Vector256.Store(Avx.Permute2x128(u1, u5, 0x31), d + 5 * ldd);
            Vector256.Store(Avx.Permute2x128(u2, u6, 0x31), d + 6 * ldd);
            Vector256.Store(Avx.Permute2x128(u3, u7, 0x31), d + 7 * ldd);
        }
        else if (typeof(T) == typeof(double))
        {
            double* s = (double*)src, d = (double*)dst;
            Vector256<double> r0 = Row(s, lds, 0, rows), r1 = Row(s, lds, 1, rows), r2 = Row(s, lds, 2, rows), r3 = Row(s, lds, 3, rows);
            Vector256<double> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
            Vector256.Store(Avx.Permute2x128(t0, t2, 0x20), d);
            Vector256.Store(Avx.Permute2x128(t1, t3, 0x20), d + ldd);
            Vector256.Store(Avx.Permute2x128(t0, t2, 0x31), d + 2 * ldd);
            Vector256.Store(Avx.Permute2x128(t1, t3, 0x31), d + 3 * ldd);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector256<T> Row<T>(T* s, nint lds, int r, int rows) where T : unmanaged =>
        r < rows ? Vector256.Load(s + r * lds) : Vector256<T>.Zero;

    static unsafe void Copy<T>(T* src, nint lds, T* dst, nint ldd, int rows, int cols) where T : unmanaged
    {
        for (int r = 0; r < rows; r++)
            new ReadOnlySpan<T>(src + r * lds, cols).CopyTo(new Span<T>(dst + r * ldd, cols));
    }

    /// <summary>Per-thread packing buffers: pinned, 64-byte aligned, grown on demand, never freed.</summary>
    static unsafe class Scratch<T> where T : unmanaged
    {
        [ThreadStatic] static T[]? a, b;

        public static T* A(int length) => Get(ref a, length);
        public static T* B(int length) => Get(ref b, length);

        static T* Get(ref T[]? buffer, int length)
        {
            int pad = 64 / sizeof(T);
            if (buffer == null || buffer.Length < length + pad)
                buffer = GC.AllocateUninitializedArray<T>(length + pad, pinned: true);
            nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
            return (T*)((address + 63) & ~(nint)63);
        }
    }
}
