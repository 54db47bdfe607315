using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BatchNormLab.Kernels;

// The forward of a same-size convolution with few input channels, straight from the image: no column matrix.
public static partial class Conv2dKernels
{
    /// <summary>Output channels per pass over a plane: eight accumulators and the loaded input fit AVX2's 16 registers.</summary>
    const int DirectChannels = 8;

    /// <summary>
    /// Whether <see cref="DirectForward{T}"/> computes this forward: stride 1 with the output rows as long as the input
    /// rows (each kernel tap reads the plane at a fixed shift), k within one of the GEMM's k blocks (so that every
    /// output is the same sum, in the same order, as by im2col and the GEMM: bitwise the same), planes of at least
    /// two vectors, and AVX2 for the masked loads. For a VGG at ⅛ width on 28×28 images these are its first three
    /// layers, where the column matrix costs more than the products (k = 9, 72, 144).
    /// </summary>
    static bool DirectForwardFits<T>(in ConvGeometry g) where T : unmanaged =>
        Avx2.IsSupported && g.IsShift && Gemm.OneKBlock(g.K) && g.P >= 2 * Vector256<T>.Count;

    /// <summary>
    /// y[n,o,q] = b[o] + Σ_{c,u,v} W[o,c,u,v]·x[n,c,q + (u−p)·w + v−p]   (x is 0 outside the image), q = i·w + j.
    /// Every output is one vector lane: its accumulator starts at zero and takes the k = (c,u,v) terms in order with
    /// a fused multiply-add each, padding as zeros (masked loads), then the bias, exactly as the GEMM's micro-kernel
    /// sums a column-matrix column. One image per work item.
    /// </summary>
    static unsafe void DirectForward<T>(T* x, T* weight, T* bias, T* y, in ConvGeometry g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int v = Vector256<T>.Count, taps = g.Kh * g.Kw, vectors = (g.P + v - 1) / v, blocks = (g.COut + DirectChannels - 1) / DirectChannels;
        // The weight as [block][k][8 channels] (channels past cOut zero), and each plane vector's mask per tap.
        T[] packed = ArrayPool<T>.Shared.Rent(blocks * g.K * DirectChannels);
        T[] masks = ArrayPool<T>.Shared.Rent((vectors * taps + 1) * v);
        try
        {
            fixed (T* pw = packed, pm = masks)
            {
                PackDirectWeight(weight, g, pw, blocks);
                TapMasks(g, pm, vectors);
                var body = new DirectForwardBody<T> { X = x, Weight = pw, Bias = bias, Y = y, Masks = pm, G = g, Vectors = vectors, Blocks = blocks };
                Threading.ForEachItem(g.N, body);
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(packed);
            ArrayPool<T>.Shared.Return(masks);
        }
    }

    static unsafe void PackDirectWeight<T>(T* weight, in ConvGeometry g, T* packed, int blocks) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int block = 0; block < blocks; block++)
            for (int r = 0; r < g.K; r++)
                for (int o = 0; o < DirectChannels; o++)
                {
                    int channel = block * DirectChannels + o;
                    packed[((long)block * g.K + r) * DirectChannels + o] = channel < g.COut ? weight[(long)channel * g.K + r] : T.Zero;
                }
    }

    /// <summary>mask[vector·taps + (u·kw + v)] lane l: all ones where output q = vector·V + l exists and its tap (u, v)
    /// falls inside the image; then one more mask, for the stores: the lanes with q &lt; P of the last vector.</summary>
    static unsafe void TapMasks<T>(in ConvGeometry g, T* masks, int vectors) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int v = Vector256<T>.Count, taps = g.Kh * g.Kw;
        T on = AllOnes<T>();
        for (int vector = 0; vector < vectors; vector++)
            for (int u = 0; u < g.Kh; u++)
                for (int t = 0; t < g.Kw; t++)
                {
                    T* mask = masks + ((long)vector * taps + u * g.Kw + t) * v;
                    for (int l = 0; l < v; l++)
                    {
                        int q = vector * v + l, i = q / g.WOut + u - g.Padding, j = q % g.WOut + t - g.Padding;
                        mask[l] = q < g.P && i >= 0 && i < g.H && j >= 0 && j < g.W ? on : T.Zero;
                    }
                }
        T* last = masks + (long)vectors * taps * v;
        for (int l = 0; l < v; l++) last[l] = (vectors - 1) * v + l < g.P ? on : T.Zero;
    }

    static T AllOnes<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return (T)(object)BitConverter.Int32BitsToSingle(-1);
        return (T)(object)BitConverter.Int64BitsToDouble(-1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector256<T> MaskLoad<T>(T* p, Vector256<T> mask) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return Avx.MaskLoad((float*)p, mask.AsSingle()).As<float, T>();
        return Avx.MaskLoad((double*)p, mask.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void MaskStore<T>(T* p, Vector256<T> mask, Vector256<T> value) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) Avx.MaskStore((float*)p, mask.AsSingle(), value.AsSingle());
        else Avx.MaskStore((double*)p, mask.AsDouble(), value.AsDouble());
    }

    unsafe struct DirectForwardBody<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X, Weight, Bias, Y, Masks;
        public ConvGeometry G;
        public int Vectors, Blocks;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int start, int end)
        {
            int v = Vector256<T>.Count, taps = G.Kh * G.Kw, plane = G.H * G.W;
            int* shift = stackalloc int[taps];
            for (int u = 0; u < G.Kh; u++)
                for (int t = 0; t < G.Kw; t++) shift[u * G.Kw + t] = (u - G.Padding) * G.W + t - G.Padding;
            var tail = Vector256.Load(Masks + (long)Vectors * taps * v);
            for (int m = start; m < end; m++)
            {
                T* image = X + (long)m * G.InputImage;
                T* output = Y + (long)m * G.COut * G.P;
                for (int vector = 0; vector < Vectors; vector++)
                {
                    int q = vector * v;
                    T* masks = Masks + (long)vector * taps * v;
                    for (int block = 0; block < Blocks; block++)
                    {
                        T* w = Weight + (long)block * G.K * DirectChannels;
                        Vector256<T> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                        for (int c = 0; c < G.C; c++)
                        {
                            T* at = image + (long)c * plane + q;
                            for (int tap = 0; tap < taps; tap++, w += DirectChannels)
                            {
                                var input = MaskLoad(at + shift[tap], Vector256.Load(masks + tap * v));
                                a0 = Simd.MultiplyAdd(Vector256.Create(w[0]), input, a0);
                                a1 = Simd.MultiplyAdd(Vector256.Create(w[1]), input, a1);
                                a2 = Simd.MultiplyAdd(Vector256.Create(w[2]), input, a2);
                                a3 = Simd.MultiplyAdd(Vector256.Create(w[3]), input, a3);
                                a4 = Simd.MultiplyAdd(Vector256.Create(w[4]), input, a4);
                                a5 = Simd.MultiplyAdd(Vector256.Create(w[5]), input, a5);
                                a6 = Simd.MultiplyAdd(Vector256.Create(w[6]), input, a6);
                                a7 = Simd.MultiplyAdd(Vector256.Create(w[7]), input, a7);
                            }
                        }
                        int first = block * DirectChannels, count = Math.Min(DirectChannels, G.COut - first);
                        bool whole = q + v <= G.P;
                        T* row = output + (long)first * G.P + q;
                        Put(row, 0, count, a0, whole, tail, first);
                        Put(row, 1, count, a1, whole, tail, first);
                        Put(row, 2, count, a2, whole, tail, first);
                        Put(row, 3, count, a3, whole, tail, first);
                        Put(row, 4, count, a4, whole, tail, first);
                        Put(row, 5, count, a5, whole, tail, first);
                        Put(row, 6, count, a6, whole, tail, first);
                        Put(row, 7, count, a7, whole, tail, first);
                    }
                }
            }
        }

        /// <summary>Channel first + o of the block: its sum plus the bias, where the channel exists.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        readonly void Put(T* row, int o, int count, Vector256<T> sum, bool whole, Vector256<T> tail, int first)
        {
            if (o >= count) return;
            if (Bias != null) sum += Vector256.Create(Bias[first + o]);
            T* at = row + (long)o * G.P;
            if (whole) Vector256.Store(sum, at);
            else MaskStore(at, tail, sum);
        }
    }
}
