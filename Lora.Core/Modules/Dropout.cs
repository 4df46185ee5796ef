using Lora.Autograd;

namespace Lora.Core.Modules;

/// <summary>Inverted dropout with probability p in training mode, identity in evaluation mode.</summary>
/// <remarks>Each forward in training mode draws its mask from (seed, call number), so a run is reproducible from
/// its seed and independent of the thread count; <see cref="Reseed"/> restarts the sequence.</remarks>
public sealed class Dropout : Module
{
    ulong _seed, _calls;

    /// <summary>Dropout with probability <paramref name="p"/> in [0, 1).</summary>
    public Dropout(double p, ulong seed = 0)
    {
        if (!(p >= 0 && p < 1)) throw new ArgumentException($"Dropout: p = {p} must be in [0, 1).", nameof(p));
        P = (float)p;
        _seed = seed;
    }

    /// <summary>The drop probability.</summary>
    public float P { get; }

    /// <summary>The call number of the next mask (the trainer positions it per epoch).</summary>
    internal ulong Position { get => _calls; set => _calls = value; }

    /// <summary>Restarts the mask sequence from <paramref name="seed"/>.</summary>
    public void Reseed(ulong seed) { _seed = seed; _calls = 0; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x)
    {
        if (!Training || P == 0) return x;
        return Ops.Dropout(x, P, MixSeed(_seed, _calls++), training: true);
    }

    /// <summary>A well-mixed 64-bit seed from a base seed and a counter (SplitMix64 finaliser).</summary>
    public static ulong MixSeed(ulong seed, ulong counter)
    {
        ulong z = seed + (counter + 1) * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
