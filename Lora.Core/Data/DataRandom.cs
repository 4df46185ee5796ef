namespace Lora.Core.Data;

/// <summary>A small seeded generator (xoshiro256**, seeded through SplitMix64) for shuffles and splits.</summary>
/// <remarks>
/// Our own rather than System.Random so the same seed gives the same order on every .NET version and platform.
/// A struct with no allocation, so an epoch's reshuffle allocates nothing.
/// </remarks>
internal struct DataRandom
{
    ulong s0, s1, s2, s3;

    /// <summary>Seeds from <paramref name="seed"/> and a stream number (e.g. the epoch), giving independent sequences.</summary>
    public DataRandom(ulong seed, ulong stream = 0)
    {
        ulong x = seed ^ (stream * 0xD1B54A32D192ED03UL);
        s0 = SplitMix(ref x); s1 = SplitMix(ref x); s2 = SplitMix(ref x); s3 = SplitMix(ref x);
    }

    static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(s1 * 5, 7) * 9;
        ulong t = s1 << 17;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3;
        s2 ^= t;
        s3 = ulong.RotateLeft(s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, bound) without modulo bias (Lemire's multiply-and-reject).</summary>
    public int NextInt(int bound)
    {
        if (bound <= 0) throw new ArgumentOutOfRangeException(nameof(bound));
        ulong m = (uint)bound;
        ulong product = (NextUInt64() >> 32) * m;
        if ((uint)product < m)
        {
            uint threshold = (uint)((0x1_0000_0000UL - m) % m);
            while ((uint)product < threshold) product = (NextUInt64() >> 32) * m;
        }
        return (int)(product >> 32);
    }

    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle(Span<int> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
