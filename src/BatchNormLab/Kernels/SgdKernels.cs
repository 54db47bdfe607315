using System.Numerics;
using System.Runtime.Intrinsics;

namespace BatchNormLab.Kernels;

/// <summary>The hyperparameters of one SGD step (PyTorch's torch.optim.SGD).</summary>
/// <param name="LearningRate">η</param>
/// <param name="Momentum">μ (0: no momentum buffer)</param>
/// <param name="Dampening">τ</param>
/// <param name="WeightDecay">λ</param>
/// <param name="Nesterov">Nesterov momentum: step along g + μ·b instead of b</param>
public readonly record struct SgdSettings(double LearningRate, double Momentum, double Dampening, double WeightDecay, bool Nesterov);

/// <summary>
/// One SGD step over one parameter, elementwise:
/// <code>
/// g = ∇ + λ·w;   b = g on the first step, else μ·b + (1−τ)·g;   w = w − η·(Nesterov ? g + μ·b : b)
/// </code>
/// (without momentum: w = w − η·g). <see cref="Step{T}"/> is vectorised and split over the threads;
/// every element goes through the same operations in the same order as in <see cref="StepReference{T}"/>
/// (no fused multiply-adds), so the two agree bitwise, for any thread count.
/// </summary>
public static unsafe class SgdKernels
{
    /// <summary>Elements per part below which a thread's start-up costs more than it saves.</summary>
    const int MinPerPart = 1 << 15;

    /// <summary>Updates <paramref name="w"/> (and <paramref name="buffer"/>, empty without momentum) from <paramref name="grad"/>.</summary>
    public static void Step<T>(Span<T> w, ReadOnlySpan<T> grad, Span<T> buffer, SgdSettings settings, bool first)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(w.Length, grad.Length, buffer.Length, settings);
        fixed (T* pw = w, pg = grad, pb = buffer)
            Threading.For(w.Length, MinPerPart, new Range<T>(pw, pg, pb, new Factors<T>(settings), first));
    }

    /// <summary>The plain loop <see cref="Step{T}"/> is tested against.</summary>
    public static void StepReference<T>(Span<T> w, ReadOnlySpan<T> grad, Span<T> buffer, SgdSettings settings, bool first)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(w.Length, grad.Length, buffer.Length, settings);
        var f = new Factors<T>(settings);
        fixed (T* pw = w, pg = grad, pb = buffer)
            for (int j = 0; j < w.Length; j++) Element(pw, pg, pb, j, f, first);
    }

    static void Element<T>(T* w, T* grad, T* buffer, int j, in Factors<T> f, bool first) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T g = grad[j] + f.Decay * w[j];
        if (!f.HasMomentum)
        {
            w[j] -= f.Lr * g;
            return;
        }
        buffer[j] = first ? g : f.Mu * buffer[j] + f.Keep * g;
        w[j] -= f.Lr * (f.Nesterov ? g + f.Mu * buffer[j] : buffer[j]);
    }

    static void Check(int w, int grad, int buffer, SgdSettings settings)
    {
        if (grad != w) throw new ArgumentException($"SGD step: the gradient has {grad} values, the parameter {w}");
        if (buffer != (settings.Momentum == 0 ? 0 : w))
            throw new ArgumentException($"SGD step: the momentum buffer has {buffer} values, expected {(settings.Momentum == 0 ? 0 : w)}");
    }

    readonly struct Factors<T>(SgdSettings s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public readonly T Lr = T.CreateTruncating(s.LearningRate), Decay = T.CreateTruncating(s.WeightDecay);
        public readonly T Mu = T.CreateTruncating(s.Momentum), Keep = T.CreateTruncating(1 - s.Dampening);
        public readonly bool HasMomentum = s.Momentum != 0, Nesterov = s.Nesterov;
    }

    readonly struct Range<T>(T* w, T* grad, T* buffer, Factors<T> f, bool first) : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            var lr = Vector256.Create(f.Lr); var decay = Vector256.Create(f.Decay);
            var mu = Vector256.Create(f.Mu); var keep = Vector256.Create(f.Keep);
            int j = start;
            for (; j <= end - Vector256<T>.Count; j += Vector256<T>.Count)
            {
                var wj = Vector256.Load(w + j);
                var g = Vector256.Load(grad + j) + decay * wj;
                if (!f.HasMomentum)
                {
                    Vector256.Store(wj - lr * g, w + j);
                    continue;
                }
                var b = first ? g : mu * Vector256.Load(buffer + j) + keep * g;
                Vector256.Store(b, buffer + j);
                Vector256.Store(wj - lr * (f.Nesterov ? g + mu * b : b), w + j);
            }
            for (; j < end; j++) Element(w, grad, buffer, j, f, first);
        }
    }
}
