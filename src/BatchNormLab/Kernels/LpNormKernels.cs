using System.Numerics;

namespace BatchNormLab.Kernels;

/// <summary>
/// ℓp normalisation in training mode (<see cref="Nn.LpNorm"/>), fused: per channel of an (N, C, S) view, the
/// statistics in one or two passes and the output in one; the backward's sums in one pass and dx in one.
/// The same formulas as <see cref="LpNormReference"/>, which it is tested against. Channels are split among
/// threads whole, and each channel is summed in the same order whatever the thread count: bitwise the same results.
/// Sums run in T along a row of S values (vector lanes), then in double across rows.
/// </summary>
public static unsafe class LpNormKernels
{
    /// <summary>Channels per part: a part's work should cover waking a thread.</summary>
    const int MinValuesPerPart = 1 << 15;

    /// <summary>y = γ·(x − μ)/D + β per channel; <paramref name="mean"/> gets μ (0 when not centred), <paramref name="moment"/> M (mean |c|ᵖ, or max |c| for p = ∞).</summary>
    public static void ForwardTrain<T>(ReadOnlySpan<T> x, int n, int c, int s, double p, bool centred, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta, double eps,
        Span<T> y, double[] mean, double[] moment) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(x.Length, n, c, s, p, gamma.Length, beta.Length, mean.Length, moment.Length);
        if (y.Length != x.Length) throw new ArgumentException($"LpNorm: y has {y.Length} values, x {x.Length}");
        fixed (T* px = x, py = y, pg = gamma, pb = beta)
            Threading.For(c, Math.Max(1, MinValuesPerPart / Math.Max(1, n * s)), new Forward<T>
            {
                X = px, Y = py, Gamma = gamma.IsEmpty ? null : pg, Beta = beta.IsEmpty ? null : pb, Of = new(n, c, s, p, centred, eps, mean, moment),
            });
    }

    /// <summary>dx, dγ, dβ of <see cref="ForwardTrain{T}"/> from its <paramref name="mean"/> and <paramref name="moment"/> (see <see cref="LpNormReference.BackwardTrain"/> for the formulas).</summary>
    public static void BackwardTrain<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, int n, int c, int s, double p, bool centred, ReadOnlySpan<T> gamma,
        double[] mean, double[] moment, double eps, Span<T> dx, Span<T> dGamma, Span<T> dBeta) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(x.Length, n, c, s, p, gamma.Length, 0, mean.Length, moment.Length);
        if (dy.Length != x.Length || dx.Length != x.Length) throw new ArgumentException($"LpNorm backward: dy has {dy.Length} values, dx {dx.Length}, x {x.Length}");
        if (!dGamma.IsEmpty && dGamma.Length != c || !dBeta.IsEmpty && dBeta.Length != c) throw new ArgumentException($"LpNorm backward: dγ, dβ need {c} values");
        fixed (T* pdy = dy, px = x, pdx = dx, pg = gamma, pdg = dGamma, pdb = dBeta)
            Threading.For(c, Math.Max(1, MinValuesPerPart / Math.Max(1, n * s)), new Backward<T>
            {
                Dy = pdy, X = px, Dx = pdx, Gamma = gamma.IsEmpty ? null : pg, DGamma = dGamma.IsEmpty ? null : pdg, DBeta = dBeta.IsEmpty ? null : pdb,
                Of = new(n, c, s, p, centred, eps, mean, moment),
            });
    }

    static void Check(int length, int n, int c, int s, double p, int gamma, int beta, int mean, int moment)
    {
        if (p is not (1 or 2 or double.PositiveInfinity)) throw new ArgumentOutOfRangeException(nameof(p), p, "LpNorm supports p = 1, 2 or ∞");
        if ((long)n * c * s != length) throw new ArgumentException($"LpNorm: {length} values do not fill ({n}, {c}, {s})");
        if (gamma != 0 && gamma != c || beta != 0 && beta != c || mean != c || moment != c) throw new ArgumentException($"LpNorm: γ, β, mean and moment need {c} values");
    }

    /// <summary>The (N, C, S) view, the norm, and the per-channel statistics both passes share.</summary>
    readonly record struct Layout(int N, int C, int S, double P, bool Centred, double Eps, double[] Mean, double[] Moment)
    {
        /// <summary>Values per channel.</summary>
        public double Count => (double)N * S;

        /// <summary>Where sample <paramref name="i"/>'s row of channel <paramref name="ch"/> starts.</summary>
        public long Row(int i, int ch) => ((long)i * C + ch) * S;

        /// <summary>D = (M + ε)^(1/q): q = 2 for p = 2, else 1.</summary>
        public double Divisor(double moment) => P == 2 ? Math.Sqrt(moment + Eps) : moment + Eps;
    }

    struct Forward<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X, Y, Gamma, Beta;
        public Layout Of;

        public readonly void Run(int start, int end)
        {
            var (n, s, p) = (Of.N, Of.S, Of.P);
            for (int ch = start; ch < end; ch++)
            {
                double mu = 0;
                if (Of.Centred)
                {
                    for (int i = 0; i < n; i++) mu += Sum(X + Of.Row(i, ch), s);
                    mu /= Of.Count;
                }
                T muT = T.CreateTruncating(mu);
                double m = 0;
                for (int i = 0; i < n; i++)
                {
                    T* row = X + Of.Row(i, ch);
                    m = p switch
                    {
                        1 => m + SumAbs(row, s, muT),
                        2 => m + SumSquares(row, s, muT),
                        _ => Math.Max(m, MaxAbs(row, s, muT)),
                    };
                }
                if (p != double.PositiveInfinity) m /= Of.Count;
                (Of.Mean[ch], Of.Moment[ch]) = (mu, m);
                double a = (Gamma is null ? 1 : double.CreateTruncating(Gamma[ch])) / Of.Divisor(m);
                T aT = T.CreateTruncating(a), bT = Beta is null ? T.Zero : Beta[ch];
                for (int i = 0; i < n; i++) ScaleShift(X + Of.Row(i, ch), Y + Of.Row(i, ch), s, muT, aT, bT);
            }
        }
    }

    struct Backward<T> : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* Dy, X, Dx, Gamma, DGamma, DBeta;
        public Layout Of;

        public readonly void Run(int start, int end)
        {
            var (n, s, p, count) = (Of.N, Of.S, Of.P, Of.Count);
            for (int ch = start; ch < end; ch++)
            {
                double mu = Of.Mean[ch], big = Of.Moment[ch], gamma = Gamma is null ? 1 : double.CreateTruncating(Gamma[ch]);
                T muT = T.CreateTruncating(mu);
                // Σ dy, Σ dy·c, and Σ sign(c) (p = 1) or Σ c (p = 2)
                double sumDy = 0, sumDyC = 0, sumDMoment = 0;
                for (int i = 0; i < n; i++)
                {
                    long offset = Of.Row(i, ch);
                    var (dyRow, dycRow, other) = Sums(Dy + offset, X + offset, s, muT, p);
                    (sumDy, sumDyC, sumDMoment) = (sumDy + dyRow, sumDyC + dycRow, sumDMoment + other);
                }
                double d = Of.Divisor(big), q = p == 2 ? 2 : 1;
                if (DGamma is not null) DGamma[ch] = T.CreateTruncating(sumDyC / d);
                if (DBeta is not null) DBeta[ch] = T.CreateTruncating(sumDy);
                double a = gamma / d, k = -gamma * sumDyC / (d * q * (big + Of.Eps));
                // dx = a·dy + coefficient·c (p = 2) or ·sign(c) (p = 1), − shift; p = ∞ adds K·sign at the first largest |c| after.
                long first = -1;
                double firstSign = 0;
                if (p == double.PositiveInfinity)
                    for (int i = 0; i < n && first < 0; i++)
                    {
                        long offset = Of.Row(i, ch);
                        int j = FirstAbsEqual(X + offset, s, muT, T.CreateTruncating(big));
                        if (j >= 0) (first, firstSign) = (offset + j, Math.Sign(double.CreateTruncating(X[offset + j] - muT)));
                    }
                double coefficient = p switch { 1 => k / count, 2 => 2 * k / count, _ => 0 };
                double shift = !Of.Centred ? 0 : a * sumDy / count + p switch
                {
                    1 => k * sumDMoment / (count * count),
                    2 => 2 * k * sumDMoment / (count * count),
                    _ => k * firstSign / count,
                };
                T aT = T.CreateTruncating(a), coefficientT = T.CreateTruncating(coefficient), shiftT = T.CreateTruncating(shift);
                for (int i = 0; i < n; i++)
                {
                    long offset = Of.Row(i, ch);
                    InputGradient(Dy + offset, X + offset, Dx + offset, s, muT, aT, coefficientT, shiftT, p == 1);
                }
                if (first >= 0) Dx[first] += T.CreateTruncating(k * firstSign);
            }
        }
    }

    static double Sum<T>(T* row, int s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int j = 0;
        var acc = Vector<T>.Zero;
        for (; j <= s - Vector<T>.Count; j += Vector<T>.Count) acc += Vector.Load(row + j);
        double sum = Lanes(acc);
        for (; j < s; j++) sum += double.CreateTruncating(row[j]);
        return sum;
    }

    static double SumAbs<T>(T* row, int s, T mu) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int j = 0;
        var (acc, m) = (Vector<T>.Zero, new Vector<T>(mu));
        for (; j <= s - Vector<T>.Count; j += Vector<T>.Count) acc += Vector.Abs(Vector.Load(row + j) - m);
        double sum = Lanes(acc);
        for (; j < s; j++) sum += double.CreateTruncating(T.Abs(row[j] - mu));
        return sum;
    }

    static double SumSquares<T>(T* row, int s, T mu) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int j = 0;
        var (acc, m) = (Vector<T>.Zero, new Vector<T>(mu));
        for (; j <= s - Vector<T>.Count; j += Vector<T>.Count)
        {
            var v = Vector.Load(row + j) - m;
            acc += v * v;
        }
        double sum = Lanes(acc);
        for (; j < s; j++)
        {
            var v = row[j] - mu;
            sum += double.CreateTruncating(v * v);
        }
        return sum;
    }

    static double MaxAbs<T>(T* row, int s, T mu) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int j = 0;
        var (acc, m) = (Vector<T>.Zero, new Vector<T>(mu));
        for (; j <= s - Vector<T>.Count; j += Vector<T>.Count) acc = Vector.Max(acc, Vector.Abs(Vector.Load(row + j) - m));
        T max = T.Zero;
        for (int lane = 0; lane < Vector<T>.Count; lane++) max = T.Max(max, acc[lane]);
        for (; j < s; j++) max = T.Max(max, T.Abs(row[j] - mu));
        return double.CreateTruncating(max);
    }

    static int FirstAbsEqual<T>(T* row, int s, T mu, T value) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int j = 0; j < s; j++)
            if (T.Abs(row[j] - mu) == value) return j;
        return -1;
    }

    // Σ dy, Σ dy·c, and Σ sign(c) (p = 1) or Σ c (p = 2), c = x − μ
    static (double Dy, double DyC, double Other) Sums<T>(T* dy, T* x, int s, T mu, double p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int j = 0;
        var (sumDy, sumDyC, other, m, one) = (Vector<T>.Zero, Vector<T>.Zero, Vector<T>.Zero, new Vector<T>(mu), Vector<T>.One);
        for (; j <= s - Vector<T>.Count; j += Vector<T>.Count)
        {
            var (g, c) = (Vector.Load(dy + j), Vector.Load(x + j) - m);
            sumDy += g;
            sumDyC += g * c;
            if (p == 1) other += Vector.ConditionalSelect(Vector.GreaterThan(c, Vector<T>.Zero), one, Vector<T>.Zero) - Vector.ConditionalSelect(Vector.LessThan(c, Vector<T>.Zero), one, Vector<T>.Zero);
            else if (p == 2) other += c;
        }
        var (a, b, o) = (Lanes(sumDy), Lanes(sumDyC), Lanes(other));
        for (; j < s; j++)
        {
            T c = x[j] - mu;
            a += double.CreateTruncating(dy[j]);
            b += double.CreateTruncating(dy[j] * c);
            o += p == 1 ? T.Sign(c) : p == 2 ? double.CreateTruncating(c) : 0;
        }
        return (a, b, o);
    }

    // y = a·(x − μ) + b
    static void ScaleShift<T>(T* x, T* y, int s, T mu, T a, T b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int j = 0;
        var (m, av, bv) = (new Vector<T>(mu), new Vector<T>(a), new Vector<T>(b));
        for (; j <= s - Vector<T>.Count; j += Vector<T>.Count) Vector.Store((Vector.Load(x + j) - m) * av + bv, y + j);
        for (; j < s; j++) y[j] = (x[j] - mu) * a + b;
    }

    // dx = a·dy + coefficient·sign(c) (signs) or ·c − shift, c = x − μ
    static void InputGradient<T>(T* dy, T* x, T* dx, int s, T mu, T a, T coefficient, T shift, bool signs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int j = 0;
        var (m, av, kv, sv, one) = (new Vector<T>(mu), new Vector<T>(a), new Vector<T>(coefficient), new Vector<T>(shift), Vector<T>.One);
        for (; j <= s - Vector<T>.Count; j += Vector<T>.Count)
        {
            var c = Vector.Load(x + j) - m;
            if (signs) c = Vector.ConditionalSelect(Vector.GreaterThan(c, Vector<T>.Zero), one, Vector<T>.Zero) - Vector.ConditionalSelect(Vector.LessThan(c, Vector<T>.Zero), one, Vector<T>.Zero);
            Vector.Store(av * Vector.Load(dy + j) + kv * c - sv, dx + j);
        }
        for (; j < s; j++)
        {
            T c = x[j] - mu;
            if (signs) c = T.CreateTruncating(T.Sign(c));
            dx[j] = a * dy[j] + coefficient * c - shift;
        }
    }

    static double Lanes<T>(Vector<T> v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        for (int lane = 0; lane < Vector<T>.Count; lane++) sum += double.CreateTruncating(v[lane]);
        return sum;
    }
}
