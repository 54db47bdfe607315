using System.Runtime.CompilerServices;

namespace BatchNormLab.Kernels;

// The shapes of a convolution and how its images are grouped for the GEMMs.
public static partial class Conv2dKernels
{
    // Images per GEMM: the fewest with at least TargetColumns output pixels, as long as the column buffer stays
    // under MaxColumnBytes, so that it is still in L2 when the GEMM packs what im2col wrote and col2im reads what
    // the GEMM wrote.
    const int TargetColumns = 512;
    const int TargetWeightColumns = 256;
    /// <summary>A multiple of every B panel width of <see cref="Gemm"/> (32 floats, 8 or 16 doubles).</summary>
    const int PanelColumns = 32;
    const int MaxColumnBytes = 3 << 19;

    // Up to here ThinGemm's dot products beat packing two long, thin operands (docs/benchmarks.md).
    const int ThinWeightMaxEntries = 2048;

    /// <summary>The most chunks of images whose weight gradients are summed separately.</summary>
    const int MaxChunks = 8;

    /// <summary>Shapes of one convolution, checked once, and the image group size its GEMMs use.</summary>
    readonly struct ConvGeometry
    {
        public readonly int N, C, H, W, COut, Kh, Kw, Stride, Padding, HOut, WOut;

        public ConvGeometry(int n, int c, int h, int w, int cOut, int kh, int kw, int stride, int padding)
        {
            if (n < 1 || c < 1 || h < 1 || w < 1 || cOut < 1 || kh < 1 || kw < 1)
                throw new ArgumentOutOfRangeException(nameof(n), $"sizes must be positive: n={n} c={c} h={h} w={w} cOut={cOut} kh={kh} kw={kw}");
            if (stride < 1) throw new ArgumentOutOfRangeException(nameof(stride), stride, "stride must be at least 1");
            if (padding < 0) throw new ArgumentOutOfRangeException(nameof(padding), padding, "padding must not be negative");
            (N, C, H, W, COut, Kh, Kw, Stride, Padding) = (n, c, h, w, cOut, kh, kw, stride, padding);
            HOut = OutputSize(h, kh, stride, padding);
            WOut = OutputSize(w, kw, stride, padding);
            if (h + 2 * padding < kh || w + 2 * padding < kw)
                throw new ArgumentException($"kernel {kh}×{kw} is larger than the padded input {h + 2 * padding}×{w + 2 * padding}");
        }

        public int InputImage => C * H * W;
        public int P => HOut * WOut;
        public int K => C * Kh * Kw;
        /// <summary>Stride 1 and wOut = w: output pixel (i, j) under kernel tap (u, v) reads input element
        /// i·w + j + (u−p)·w + v−p of the plane, a fixed shift, so im2col/col2im rows are single block moves.</summary>
        public bool IsShift => Stride == 1 && WOut == W;
        public int Groups<T>() where T : unmanaged => (N + Group<T>() - 1) / Group<T>();

        /// <summary>Images per forward and input-gradient GEMM; a whole number of B panels of columns where a smaller
        /// group allows it, since a partly filled panel costs a whole one.</summary>
        public int Group<T>() where T : unmanaged
        {
            int group = Math.Clamp(Math.Min((TargetColumns + P - 1) / P, MaxColumnBytes / Unsafe.SizeOf<T>() / (K * P)), 1, N);
            for (int fit = group; fit > 1 && fit * P >= PanelColumns; fit--)
                if (fit * P % PanelColumns == 0) return fit;
            return group;
        }

        /// <summary>Images per weight-gradient GEMM, whose k is the columns: the fewest with TargetWeightColumns. Its
        /// C (dWᵀ) is read and written once per GEMM, so a short k runs it at a fraction of its speed.</summary>
        public int WeightGroup => Math.Clamp((TargetWeightColumns + P - 1) / P, 1, N);
        public int WeightGroups => (N + WeightGroup - 1) / WeightGroup;

        /// <summary>Chunks of weight groups that each sum their own dWᵀ, added in chunk order after: up to MaxChunks
        /// where the weight is small next to dy, else one. The chunks depend on the shapes alone, so the bits do not
        /// depend on the threads.</summary>
        public int WeightChunkCount => WeightGroups >= 2 && (long)K * MaxChunks <= (long)N * P ? Math.Min(WeightGroups, MaxChunks) : 1;

        /// <summary>Whether the weight gradient's dWᵀ is few enough entries (k·cOut), against long rows of dy (in chunks),
        /// for <see cref="ThinGemm.MultiplyABt{T}(int, int, int, T*, int, T*, int, bool, T*, int)"/>, each entry a dot
        /// product of a column-matrix row and a dy row, instead of the packed GEMM.</summary>
        public bool UseThinWeightGradient => WeightChunkCount > 1 && (long)K * COut <= ThinWeightMaxEntries;

        public void Check(int inputLength, string inputName, int outputLength, string outputName, int weightLength)
        {
            Require(inputLength, N * InputImage, inputName);
            Require(outputLength, N * COut * P, outputName);
            Require(weightLength, COut * K, "weight");
        }

        static void Require(int length, int expected, string name)
        {
            if (length != expected) throw new ArgumentException($"{name} has {length} elements, expected {expected}", name);
        }

        /// <summary>Small output planes go through a table of taps instead of row copies, whose per-row calls cost more
        /// than the few values they move (docs/benchmarks.md, "Tuning constants").</summary>
        public bool UseTaps => P <= 16 && Kh * Kw * P <= 4096;

        /// <summary>tap[(u·kw + v)·P + i·wOut + j] = the input pixel (i·s+u−p)·W + j·s+v−p of a plane that output
        /// (i, j) reads under kernel tap (u, v), or −1 where that falls in the padding.</summary>
        public unsafe void Taps(int* tap)
        {
            for (int u = 0; u < Kh; u++)
                for (int v = 0; v < Kw; v++)
                    for (int i = 0; i < HOut; i++)
                        for (int j = 0; j < WOut; j++)
                        {
                            int hi = i * Stride + u - Padding, wi = j * Stride + v - Padding;
                            *tap++ = hi >= 0 && hi < H && wi >= 0 && wi < W ? hi * W + wi : -1;
                        }
        }

        /// <summary>
        /// The outputs that read inside the image under kernel tap (u, v): rows [i0, i1), columns [j0, j1). Returns the
        /// offset (u−p)·W + v−p in the plane of the pixel output (0, 0) reads; output (i, j) reads offset + i·s·W + j·s.
        /// </summary>
        public int Tap(int u, int v, out int i0, out int i1, out int j0, out int j1)
        {
            Valid(u - Padding, H, HOut, out i0, out i1);
            Valid(v - Padding, W, WOut, out j0, out j1);
            return (u - Padding) * W + v - Padding;
        }

        /// <summary>The outputs t ∈ [t0, t1) whose input t·s + offset lies in [0, size).</summary>
        void Valid(int offset, int size, int outSize, out int t0, out int t1)
        {
            t0 = offset >= 0 ? 0 : (-offset + Stride - 1) / Stride;
            int last = size - 1 - offset;
            t1 = last < 0 ? 0 : Math.Min(last / Stride + 1, outSize);
            t0 = Math.Min(t0, t1);
        }
    }
}
