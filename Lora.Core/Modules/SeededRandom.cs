namespace Lora.Core.Modules;

/// <summary>
/// A small, fast, seedable generator (xoshiro256** seeded through SplitMix64) whose sequence is fixed by this
/// file, not by the runtime, so a seed reproduces the same initial weights, shuffles and dropout masks everywhere.
/// </summary>
/// <remarks>
/// Not thread-safe: give each consumer its own instance (<see cref="Fork"/> derives independent streams).
/// Uniform floats take the top 24 bits, so <see cref="NextSingle"/> is exactly k·2⁻²⁴ for k in [0, 2²⁴).
/// </remarks>
public sealed class SeededRandom
{
    // The same xoshiro256** core as the data pipeline's shuffles (stream 0 seeds it exactly as before).
    Data.DataRandom _core;
    double _spareGaussian;
    bool _hasSpare;

    /// <summary>Creates a generator whose whole sequence is determined by <paramref name="seed"/>.</summary>
    public SeededRandom(ulong seed) => _core = new Data.DataRandom(seed);

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64() => _core.NextUInt64();

    /// <summary>A new generator seeded from this one's next output and <paramref name="stream"/>; this one advances.</summary>
    public SeededRandom Fork(ulong stream = 0) => new(NextUInt64() ^ (stream * 0xD1B54A32D192ED03UL));

    /// <summary>Uniform in [0, 1) with 24 random bits.</summary>
    public float NextSingle() => (NextUInt64() >> 40) * (1f / (1 << 24));

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, <paramref name="maxExclusive"/>), unbiased (Lemire's multiply-and-reject).</summary>
    /// <exception cref="ArgumentException"><paramref name="maxExclusive"/> ≤ 0.</exception>
    public int NextInt(int maxExclusive)
    {
        if (maxExclusive <= 0) throw new ArgumentException($"NextInt: maxExclusive {maxExclusive} must be positive.", nameof(maxExclusive));
        ulong range = (ulong)maxExclusive;
        while (true)
        {
            ulong m = (NextUInt64() >> 32) * range;
            if ((uint)m >= (uint)((1UL << 32) % range)) return (int)(m >> 32);
        }
    }

    /// <summary>Standard normal deviate (Marsaglia's polar method, in double).</summary>
    public double NextGaussian()
    {
        if (_hasSpare) { _hasSpare = false; return _spareGaussian; }
        double u, v, s;
        do
        {
            u = 2 * NextDouble() - 1;
            v = 2 * NextDouble() - 1;
            s = u * u + v * v;
        } while (s >= 1 || s == 0);
        double f = Math.Sqrt(-2 * Math.Log(s) / s);
        _spareGaussian = v * f;
        _hasSpare = true;
        return u * f;
    }

    /// <summary>Fills <paramref name="values"/> with U(<paramref name="low"/>, <paramref name="high"/>).</summary>
    public void FillUniform(Span<float> values, float low, float high)
    {
        for (int i = 0; i < values.Length; i++) values[i] = low + (high - low) * NextSingle();
    }

    /// <summary>Fills <paramref name="values"/> with N(0, <paramref name="std"/>²).</summary>
    public void FillGaussian(Span<float> values, double std)
    {
        for (int i = 0; i < values.Length; i++) values[i] = (float)(std * NextGaussian());
    }

    /// <summary>Fisher–Yates shuffle of <paramref name="items"/> in place.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
