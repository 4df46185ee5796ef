using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Lora.Kernels;

/// <summary>Seeded dropout masks from a counter-based generator: element i's bit depends only on (seed, i).</summary>
/// <remarks>
/// The uniform for element i is u = (H(seed, offset + i) &gt;&gt; 8)·2⁻²⁴ ∈ [0, 1), where H is two rounds of a 32-bit
/// integer mixer (multiply–xorshift) keyed by both halves of the seed. The element is kept when u ≥ p and then
/// scaled by 1/(1 − p) (inverted dropout), so E[mask] = 1. Because no state is carried from one element to the next,
/// any split of the index range over threads gives the same bits, and the vector path equals the scalar twin exactly.
/// </remarks>
public static class DropoutKernels
{
    /// <summary>mask[i] = 1/(1 − p) if element offset + i is kept, else 0. p in [0, 1]; p = 1 drops everything.</summary>
    public static void Mask(ulong seed, long offset, float p, Span<float> mask) => Mask(seed, offset, p, mask, Vector256.IsHardwareAccelerated);

    /// <summary>Scalar twin of <see cref="Mask(ulong, long, float, Span{float})"/>; gives identical bits.</summary>
    public static void MaskScalar(ulong seed, long offset, float p, Span<float> mask) => Mask(seed, offset, p, mask, false);

    /// <summary>The 32 random bits for one counter value.</summary>
    public static uint Bits(ulong seed, long counter)
    {
        (uint k0, uint k1) = Keys(seed);
        return Mix(Mix((uint)counter ^ k0) + k1 + (uint)((ulong)counter >> 32));
    }

    static void Mask(ulong seed, long offset, float p, Span<float> mask, bool vector)
    {
        if (!(p >= 0f && p <= 1f)) throw new ArgumentException($"dropout probability must be in [0, 1], got {p}.", nameof(p));
        if (offset < 0) throw new ArgumentException($"offset must be non-negative, got {offset}.", nameof(offset));
        if (p == 1f) { mask.Clear(); return; }
        float scale = 1f / (1f - p);
        (uint k0, uint k1) = Keys(seed);
        int n = mask.Length, i = 0;
        ref float m = ref MemoryMarshal.GetReference(mask);
        if (vector)
        {
            var lane = Vector256.Create(0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u);
            var vk0 = Vector256.Create(k0);
            var vp = Vector256.Create(p);
            var vscale = Vector256.Create(scale);
            var unit = Vector256.Create(1f / (1 << 24));
            for (; i <= n - 8; i += 8)
            {
                long c = offset + i;
                // The high word is constant across the 8 lanes only if they do not straddle a 2³² boundary.
                if ((uint)c > uint.MaxValue - 7) break;
                var ctr = Vector256.Create((uint)c) + lane;
                var h = Mix(Mix(ctr ^ vk0) + Vector256.Create(k1 + (uint)((ulong)c >> 32)));
                var u = Vector256.ConvertToSingle(Vector256.ShiftRightLogical(h, 8).AsInt32()) * unit;
                (Vector256.GreaterThanOrEqual(u, vp) & vscale).StoreUnsafe(ref m, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            long c = offset + i;
            uint h = Mix(Mix((uint)c ^ k0) + k1 + (uint)((ulong)c >> 32));
            float u = (h >> 8) * (1f / (1 << 24));
            Unsafe.Add(ref m, i) = u >= p ? scale : 0f;
        }
    }

    static (uint, uint) Keys(ulong seed)
    {
        // SplitMix64's finaliser spreads the seed so that nearby seeds give unrelated keys.
        ulong z = seed + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return ((uint)z, (uint)(z >> 32));
    }

    static uint Mix(uint x)
    {
        x ^= x >> 16; x *= 0x7FEB352Du;
        x ^= x >> 15; x *= 0x846CA68Bu;
        return x ^ (x >> 16);
    }

    static Vector256<uint> Mix(Vector256<uint> x)
    {
        x ^= Vector256.ShiftRightLogical(x, 16); x *= Vector256.Create(0x7FEB352Du);
        x ^= Vector256.ShiftRightLogical(x, 15); x *= Vector256.Create(0x846CA68Bu);
        return x ^ Vector256.ShiftRightLogical(x, 16);
    }
}
