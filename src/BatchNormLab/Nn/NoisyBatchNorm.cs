using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using BatchNormLab.Kernels;

namespace BatchNormLab.Nn;

/// <summary>
/// The noise of <see cref="NoisyBatchNorm"/>; the defaults are Santurkar et al. 2018, Fig. 2.
/// Per layer and step μᵗ ~ U(MeanLow, MeanHigh) and σᵗ ~ U(ScaleLow, ScaleHigh);
/// per element m ~ U(μᵗ − ShiftHalfWidth, μᵗ + ShiftHalfWidth) and s ~ N(σᵗ, ScaleStd²)
/// (ScaleStd = 0.1 as a standard deviation is unconfirmed in the paper).
/// </summary>
/// <param name="MeanLow">Lower bound of μᵗ (default −0.5).</param>
/// <param name="MeanHigh">Upper bound of μᵗ (default 0.5); at least <paramref name="MeanLow"/>.</param>
/// <param name="ScaleLow">Lower bound of σᵗ (default 1).</param>
/// <param name="ScaleHigh">Upper bound of σᵗ (default 1.25); at least <paramref name="ScaleLow"/>.</param>
/// <param name="ShiftHalfWidth">Half-width of the per-element shift's uniform range around μᵗ (default 0.1); ≥ 0.</param>
/// <param name="ScaleStd">Standard deviation of the per-element scale around σᵗ (default 0.1); ≥ 0.</param>
public sealed record NoisyBatchNormOptions(
    double MeanLow = -0.5,
    double MeanHigh = 0.5,
    double ScaleLow = 1.0,
    double ScaleHigh = 1.25,
    double ShiftHalfWidth = 0.1,
    double ScaleStd = 0.1);

/// <summary>
/// Noisy BN (Santurkar et al. 2018, Fig. 2): in training, a ← s·a + m with fresh noise every forward,
/// to be placed after a BatchNorm layer (or alone: the same noise without BN). In eval the noise is
/// replaced by its expectation, a ← E[s]·a + E[m] (1.125·a with the paper's noise), as dropout's eval
/// matches its training expectation: the running statistics of the layers after it were gathered on
/// activations scaled by s, so the identity would feed them inputs about 1/E[s] too small.
/// The noise is a constant for autodiff, so ∂y/∂a = s. Any input shape; s and m are per element.
/// </summary>
public sealed class NoisyBatchNorm : Module
{
    // Elements per noise stream. Each forward draws μᵗ, σᵗ and one stream seed from Generator; stream k
    // fills elements [k·ChunkLength, (k+1)·ChunkLength) from its own Rng, so chunks fill in parallel and
    // the noise depends only on the seed and the sequence of shapes, never on the thread count.
    const int ChunkLength = 1 << 14;

    /// <summary>The noise distribution's settings (validated at construction).</summary>
    public NoisyBatchNormOptions Options { get; }

    /// <summary>The layer's generator (save its <see cref="Rng.GetState"/> to resume a run with the same noise).</summary>
    public Rng Generator { get; }

    /// <summary>E[s] = (ScaleLow + ScaleHigh)/2, the eval scale.</summary>
    public double ExpectedScale => (Options.ScaleLow + Options.ScaleHigh) / 2;

    /// <summary>E[m] = (MeanLow + MeanHigh)/2, the eval shift.</summary>
    public double ExpectedShift => (Options.MeanLow + Options.MeanHigh) / 2;

    /// <summary>μᵗ of the last draw (null before the first).</summary>
    public double? LastMean { get; private set; }

    /// <summary>σᵗ of the last draw (null before the first).</summary>
    public double? LastScale { get; private set; }

    /// <summary>A layer drawing from <paramref name="rng"/>, which it advances (give it one of its own).</summary>
    public NoisyBatchNorm(Rng rng, NoisyBatchNormOptions? options = null)
    {
        options ??= new NoisyBatchNormOptions();
        if (!(options.MeanLow <= options.MeanHigh) || !double.IsFinite(options.MeanLow) || !double.IsFinite(options.MeanHigh))
            throw new ArgumentOutOfRangeException(nameof(options), options, "NoisyBatchNorm: the mean range must be finite with MeanLow ≤ MeanHigh");
        if (!(options.ScaleLow <= options.ScaleHigh) || !double.IsFinite(options.ScaleLow) || !double.IsFinite(options.ScaleHigh))
            throw new ArgumentOutOfRangeException(nameof(options), options, "NoisyBatchNorm: the scale range must be finite with ScaleLow ≤ ScaleHigh");
        if (!(options.ShiftHalfWidth >= 0) || !(options.ScaleStd >= 0) || !double.IsFinite(options.ShiftHalfWidth) || !double.IsFinite(options.ScaleStd))
            throw new ArgumentOutOfRangeException(nameof(options), options, "NoisyBatchNorm: ShiftHalfWidth and ScaleStd must be finite and ≥ 0");
        (Generator, Options) = (rng, options);
    }

    /// <summary>A layer drawing from a generator of its own, seeded by <paramref name="seed"/>.</summary>
    public NoisyBatchNorm(ulong seed, NoisyBatchNormOptions? options = null) : this(new Rng(seed), options) { }

    // y = s·a + m:  da = g·s  (s, m are constants: Multiply's backward gives exactly this)
    /// <summary>Training: s·a + m with freshly drawn noise; eval: E[s]·a + E[m].</summary>
    protected override Tensor Compute(Tensor input)
    {
        if (!Training) return ExpectedScale == 1 && ExpectedShift == 0 ? input : input * ExpectedScale + ExpectedShift;
        var (scale, shift) = SampleNoise(input.Shape, input.DType);
        return input * scale + shift;
    }

    /// <summary>
    /// Draws one step's noise (what the next training forward would use): μᵗ, σᵗ (then in
    /// <see cref="LastMean"/>, <see cref="LastScale"/>) and per element s and m of the given shape.
    /// </summary>
    public (Tensor Scale, Tensor Shift) SampleNoise(int[] shape, DType dtype = DType.Float32)
    {
        var o = Options;
        double mean = Generator.Uniform(o.MeanLow, o.MeanHigh);
        double scaleMean = Generator.Uniform(o.ScaleLow, o.ScaleHigh);
        ulong streamSeed = Generator.NextUInt64();
        (LastMean, LastScale) = (mean, scaleMean);
        var scale = Tensor.Uninitialized(dtype, (int[])shape.Clone());
        var shift = Tensor.Uninitialized(dtype, (int[])shape.Clone());
        int chunks = (scale.Length + ChunkLength - 1) / ChunkLength;
        if (dtype == DType.Float32)
            Threading.For(chunks, 1, new FillBody<float>((float[])scale.Data, (float[])shift.Data, streamSeed, mean, o.ShiftHalfWidth, scaleMean, o.ScaleStd));
        else
            Threading.For(chunks, 1, new FillBody<double>((double[])scale.Data, (double[])shift.Data, streamSeed, mean, o.ShiftHalfWidth, scaleMean, o.ScaleStd));
        return (scale, shift);
    }

    readonly struct FillBody<T>(T[] scale, T[] shift, ulong seed, double mean, double halfWidth, double scaleMean, double scaleStd) : IRangeBody
        where T : unmanaged, INumberBase<T>
    {
        public void Run(int start, int end)
        {
            for (int chunk = start; chunk < end; chunk++)
            {
                var rng = new Rng(seed + (ulong)chunk);
                int from = chunk * ChunkLength, count = Math.Min(ChunkLength, scale.Length - from);
                FillScale(rng, scale.AsSpan(from, count));
                FillShift(rng, shift.AsSpan(from, count));
            }
        }

        // s = σᵗ + std·z by Box–Muller, both outputs of a pair used: with u₁, u₂ ~ U[0, 1),
        // r = √(−2 ln(1 − u₁)) and θ = π·(2u₂ − 1), r·cos θ and r·sin θ are independent N(0, 1). The logs,
        // roots, sines and cosines run as vector loops over the chunk (SinCos has no vector path: 5× slower).
        void FillScale(Rng rng, Span<T> s)
        {
            int pairs = (s.Length + 1) / 2;
            var scratch = ArrayPool<double>.Shared.Rent(4 * pairs);
            var radius = scratch.AsSpan(0, pairs);
            var angle = scratch.AsSpan(pairs, pairs);
            var sin = scratch.AsSpan(2 * pairs, pairs);
            var cos = scratch.AsSpan(3 * pairs, pairs);
            for (int k = 0; k < pairs; k++)
            {
                radius[k] = 1.0 - rng.NextDouble(); // (0, 1]: the log is finite
                angle[k] = Math.PI * (2.0 * rng.NextDouble() - 1.0);
            }
            TensorPrimitives.Log(radius, radius);
            TensorPrimitives.Multiply(radius, -2.0, radius);
            TensorPrimitives.Sqrt(radius, radius);
            TensorPrimitives.Sin(angle, sin);
            TensorPrimitives.Cos(angle, cos);
            for (int k = 0; k < pairs; k++)
            {
                s[2 * k] = T.CreateTruncating(scaleMean + scaleStd * radius[k] * cos[k]);
                if (2 * k + 1 < s.Length) s[2 * k + 1] = T.CreateTruncating(scaleMean + scaleStd * radius[k] * sin[k]);
            }
            ArrayPool<double>.Shared.Return(scratch);
        }

        // m ~ U(μᵗ − w, μᵗ + w)
        void FillShift(Rng rng, Span<T> m)
        {
            for (int i = 0; i < m.Length; i++) m[i] = T.CreateTruncating(mean + halfWidth * (2 * rng.NextDouble() - 1));
        }
    }
}
