using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BatchNormLab.Kernels;

// The column matrix of a group of images (im2col) and its way back onto the images (col2im).
public static partial class Conv2dKernels
{
    // Enough elements per part that a thread's start-up is paid for.
    const int MinElementsPerPart = 1 << 14;

    /// <summary>col = im2col(x) for a group of images: on this thread alone when <paramref name="serial"/>, else split
    /// across the threads by rows.</summary>
    static unsafe void Im2Col<T>(T* x, T* col, in ConvGeometry g, int images, bool serial) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var body = new Im2ColBody<T> { X = x, Col = col, G = g, Images = images };
        if (serial) body.Run(0, g.K);
        else Threading.For(g.K, Math.Max(1, MinElementsPerPart / (images * g.P)), body);
    }

    /// <summary>col[r, m·P + i·wOut + j] = x[m, c, i·s+u−p, j·s+v−p] (0 outside), r = (c·kh + u)·kw + v; parallel over r.</summary>
    unsafe struct Im2ColBody<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X, Col;
        public ConvGeometry G;
        public int Images;

        public readonly void Run(int start, int end)
        {
            int plane = G.H * G.W, p = G.P, cols = Images * p, s = G.Stride, wOut = G.WOut;
            if (G.UseTaps)
            {
                int* taps = stackalloc int[G.Kh * G.Kw * p];
                G.Taps(taps);
                for (int r = start; r < end; r++)
                {
                    int* tap = taps + r % (G.Kh * G.Kw) * p;
                    T* src = X + (long)(r / (G.Kh * G.Kw)) * plane;
                    T* dst = Col + (long)r * cols;
                    for (int m = 0; m < Images; m++, src += (long)G.C * plane, dst += p)
                        for (int q = 0; q < p; q++) dst[q] = tap[q] >= 0 ? src[tap[q]] : T.Zero;
                }
                return;
            }
            for (int r = start; r < end; r++)
            {
                int ch = r / (G.Kh * G.Kw), offset = G.Tap(r / G.Kw % G.Kh, r % G.Kw, out int i0, out int i1, out int j0, out int j1);
                for (int m = 0; m < Images; m++)
                {
                    T* dst = Col + (long)r * cols + m * p;
                    // src[i·s·W + j·s] = x[m, ch, i·s+u−p, j·s+v−p]
                    T* src = X + ((long)m * G.C + ch) * plane + offset;
                    new Span<T>(dst, i0 * wOut).Clear();
                    new Span<T>(dst + i1 * wOut, (G.HOut - i1) * wOut).Clear();
                    if (G.IsShift && j0 < j1)
                    {
                        // Output rows are the input rows moved by a fixed offset: one copy of the whole valid block, whose
                        // wrapped-around edge columns are then zeroed.
                        int from = i0 * wOut + j0, to = (i1 - 1) * wOut + j1;
                        new ReadOnlySpan<T>(src + from, to - from).CopyTo(new Span<T>(dst + from, to - from));
                        for (int i = i0; i < i1; i++) ClearEdges(dst + i * wOut, j0, j1, wOut);
                        continue;
                    }
                    for (int i = i0; i < i1; i++)
                    {
                        T* row = src + i * s * G.W, d = dst + i * wOut;
                        if (s == 1) new ReadOnlySpan<T>(row + j0, j1 - j0).CopyTo(new Span<T>(d + j0, j1 - j0));
                        else for (int j = j0; j < j1; j++) d[j] = row[j * s];
                        ClearEdges(d, j0, j1, wOut);
                    }
                }
            }
        }
    }

    /// <summary>row[j] = 0 for j &lt; j0 and j1 ≤ j &lt; width (j0 ≤ j1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void ClearEdges<T>(T* row, int j0, int j1, int width) where T : unmanaged
    {
        for (int j = 0; j < j0; j++) row[j] = default;
        for (int j = j1; j < width; j++) row[j] = default;
    }

    /// <summary>Adds the columns back onto dx, on this thread alone when <paramref name="serial"/>, else split across the
    /// threads by planes; <paramref name="col"/> is scratch and its entries for padding are zeroed.</summary>
    static unsafe void Col2Im<T>(T* col, in ConvGeometry g, int images, T* dx, bool serial) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var body = new Col2ImBody<T> { Col = col, Dx = dx, G = g, Images = images };
        if (serial) body.Run(0, images * g.C);
        else Threading.For(images * g.C, Math.Max(1, MinElementsPerPart / (g.Kh * g.Kw * g.P)), body);
    }

    /// <summary>
    /// dx[m, c, hi, wi] = Σ_{u,v,i,j : i·s+u−p = hi, j·s+v−p = wi} col[(c,u,v), m·P + i·wOut + j], summed in (u, v, i, j)
    /// order; parallel over the planes (m, c), each written by one part only.
    /// </summary>
    unsafe struct Col2ImBody<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* Col, Dx;
        public ConvGeometry G;
        public int Images;

        public readonly void Run(int start, int end)
        {
            int plane = G.H * G.W, p = G.P, cols = Images * p, s = G.Stride, wOut = G.WOut;
            if (G.UseTaps)
            {
                int taps = G.Kh * G.Kw;
                int* tap = stackalloc int[taps * p];
                G.Taps(tap);
                for (int t = start; t < end; t++)
                {
                    int m = t / G.C, ch = t % G.C;
                    T* plan = Dx + (long)t * plane;
                    new Span<T>(plan, plane).Clear();
                    // The same (u, v, i, j) order as below: r = ch·taps + uv, q = i·wOut + j.
                    for (int uv = 0; uv < taps; uv++)
                    {
                        T* src = Col + (long)(ch * taps + uv) * cols + m * p;
                        int* at = tap + uv * p;
                        for (int q = 0; q < p; q++)
                            if (at[q] >= 0) plan[at[q]] += src[q];
                    }
                }
                return;
            }
            for (int t = start; t < end; t++)
            {
                int m = t / G.C, ch = t % G.C;
                T* plan = Dx + (long)t * plane;
                new Span<T>(plan, plane).Clear();
                for (int u = 0; u < G.Kh; u++)
                    for (int v = 0; v < G.Kw; v++)
                    {
                        T* src = Col + (long)((ch * G.Kh + u) * G.Kw + v) * cols + m * p;
                        // dst[i·s·W + j·s] is dx[m, ch, i·s+u−p, j·s+v−p]
                        T* dst = plan + G.Tap(u, v, out int i0, out int i1, out int j0, out int j1);
                        if (G.IsShift && j0 < j1)
                        {
                            // As in im2col: zero the entries that fall on padding, then add the whole block in one pass;
                            // the zeroed ones land on the wrapped-around neighbours and change nothing.
                            for (int i = i0; i < i1; i++) ClearEdges(src + i * wOut, j0, j1, wOut);
                            int from = i0 * wOut + j0, to = (i1 - 1) * wOut + j1;
                            AddTo(dst + from, src + from, to - from);
                            continue;
                        }
                        for (int i = i0; i < i1; i++)
                        {
                            T* row = dst + i * s * G.W, from = src + i * wOut;
                            if (s == 1) AddTo(row + j0, from + j0, j1 - j0);
                            else for (int j = j0; j < j1; j++) row[j * s] += from[j];
                        }
                    }
            }
        }
    }

    /// <summary>dst[i] += src[i] for i &lt; length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void AddTo<T>(T* dst, T* src, int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        for (; i <= length - Vector256<T>.Count; i += Vector256<T>.Count)
            Vector256.Store(Vector256.Load(dst + i) + Vector256.Load(src + i), dst + i);
        for (; i < length; i++) dst[i] += src[i];
    }
}
