namespace BatchNormLab;

/// <summary>
/// Our own reproducible generator (xoshiro256**, seeded through SplitMix64), so that a seed means the
/// same numbers on every machine and .NET version. Normal deviates by Box–Muller.
/// </summary>
public sealed class Rng
{
    ulong s0, s1, s2, s3;

    /// <summary>A generator whose state is expanded from <paramref name="seed"/> by SplitMix64; any seed, 0 included, is valid.</summary>
    public Rng(ulong seed)
    {
        ulong x = seed;
        s0 = SplitMix(ref x); s1 = SplitMix(ref x); s2 = SplitMix(ref x); s3 = SplitMix(ref x);
    }

    static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The full state, to save in a checkpoint and restore with <see cref="SetState"/>.</summary>
    public ulong[] GetState() => [s0, s1, s2, s3];

    /// <summary>Restores a state saved by <see cref="GetState"/>: four words, not all zero.</summary>
    public void SetState(IReadOnlyList<ulong> state)
    {
        if (state.Count != 4) throw new ArgumentException($"an Rng state has 4 words, got {state.Count}", nameof(state));
        (s0, s1, s2, s3) = (state[0], state[1], state[2], state[3]);
        if ((s0 | s1 | s2 | s3) == 0) throw new ArgumentException("an all-zero Rng state is invalid", nameof(state));
    }

    /// <summary>The next 64 uniformly random bits (xoshiro256**).</summary>
    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(s1 * 5, 7) * 9;
        ulong t = s1 << 17;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3;
        s2 ^= t;
        s3 = ulong.RotateLeft(s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [low, high).</summary>
    public double Uniform(double low, double high) => low + (high - low) * NextDouble();

    /// <summary>Uniform integer in [0, n), without modulo bias.</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "upper bound must be positive");
        ulong limit = ulong.MaxValue - ulong.MaxValue % (ulong)n;
        ulong v;
        do v = NextUInt64(); while (v >= limit);
        return (int)(v % (ulong)n);
    }

    /// <summary>A standard normal deviate (Box–Muller; one value per pair, so the state is just the four words).</summary>
    public double Normal()
    {
        double u1;
        do u1 = NextDouble(); while (u1 <= double.Epsilon);
        double u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        return r * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>A deviate of N(<paramref name="mean"/>, <paramref name="std"/>²).</summary>
    public double Normal(double mean, double std) => mean + std * Normal();

    /// <summary>A random permutation of 0..n−1 (Fisher–Yates).</summary>
    public int[] Permutation(int n)
    {
        var p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }
}
