namespace Lora.Kernels;

/// <summary>
/// Seeded inverted dropout on the LoRA path (x → dropout(x) → A), applied only in training: pass
/// <see cref="None"/> (or p = 0) in evaluation.
/// </summary>
/// <remarks>
/// Element (i, p) of the n×k input is kept with probability 1 − P and then scaled by 1/(1 − P); its mask is
/// <see cref="DropoutKernels.Mask(ulong, long, float, Span{float})"/>(Seed, i·k + p, P), a counter-based generator,
/// so the backward regenerates exactly the forward's mask from the seed and the bits never depend on the thread
/// count or on how rows are blocked.
/// </remarks>
public readonly struct LoraDropout
{
    /// <summary>Creates a dropout with drop probability <paramref name="p"/> in [0, 1) and a seed.</summary>
    /// <exception cref="ArgumentException"><paramref name="p"/> is outside [0, 1).</exception>
    public LoraDropout(float p, ulong seed)
    {
        if (!(p >= 0f && p < 1f)) throw new ArgumentException($"LoRA dropout probability must be in [0, 1), got {p}.", nameof(p));
        P = p;
        Seed = seed;
    }

    /// <summary>No dropout (evaluation, or a layer configured without it).</summary>
    public static LoraDropout None => default;

    /// <summary>The probability of dropping an element.</summary>
    public float P { get; }

    /// <summary>The seed of the mask; use a new one every training step.</summary>
    public ulong Seed { get; }

    /// <summary>True when elements are dropped (P &gt; 0).</summary>
    public bool IsActive => P > 0f;
}
