namespace Lora.Kernels;

/// <summary>
/// A frozen weight W (d×k, PyTorch's out×in layout) packed once into the micro-kernel's panel layout, in both
/// orientations the LoRA layer reads it: Wᵀ for the forward (y = x·Wᵀ) and W for the input gradient (dx = dy·W).
/// Packing is paid once and reused every step; call <see cref="Pack"/> again whenever W changes (merge, unmerge,
/// full fine-tuning). Repacking the same shape allocates nothing.
/// </summary>
/// <remarks>
/// Forward orientation: op(B) = Wᵀ (k×d) as ⌈d/16⌉ panels of k×16 floats (panel t holds output columns
/// 16t..16t+15, row p of the panel is W[16t..16t+15, p]); backward orientation: op(B) = W (d×k) as ⌈k/16⌉
/// panels of d×16. Both are zero-padded past the last column, so together they take about 2·d·k floats.
/// Until the first <see cref="Pack"/>, W is zero. docs/kernels.md draws the layout.
/// </remarks>
public sealed class PackedWeight
{
    readonly GemmPackedB _forward = new(), _backward = new();

    /// <summary>Allocates storage for a d×k weight (W = 0 until <see cref="Pack"/>).</summary>
    /// <exception cref="ArgumentException">A negative dimension.</exception>
    public PackedWeight(int outFeatures, int inFeatures)
    {
        if (outFeatures < 0 || inFeatures < 0)
            throw new ArgumentException($"PackedWeight shape ({outFeatures}, {inFeatures}) must be non-negative.");
        OutFeatures = outFeatures;
        InFeatures = inFeatures;
        Pack(new float[(long)outFeatures * inFeatures]);
        Version = 0;
    }

    /// <summary>d, the number of rows of W (output features).</summary>
    public int OutFeatures { get; }

    /// <summary>k, the number of columns of W (input features).</summary>
    public int InFeatures { get; }

    /// <summary>How many times <see cref="Pack"/> has been called (0 after construction): a cheap staleness check.</summary>
    public long Version { get; private set; }

    /// <summary>Packs W (d×k row-major) into both orientations.</summary>
    /// <exception cref="ArgumentException"><paramref name="w"/> does not hold d·k elements.</exception>
    public void Pack(ReadOnlySpan<float> w)
    {
        int d = OutFeatures, k = InFeatures;
        if (w.Length != (long)d * k)
            throw new ArgumentException($"PackedWeight.Pack: w has {w.Length} elements, expected ({d}, {k}).", nameof(w));
        int ld = Math.Max(1, k);
        _forward.Pack(Transpose.Yes, k, d, w, ld);   // op(B) = Wᵀ, k×d: y = x·Wᵀ
        _backward.Pack(Transpose.No, d, k, w, ld);   // op(B) = W,  d×k: dx = dy·W
        Version++;
    }

    /// <summary>Wᵀ (k×d) in packed panels.</summary>
    internal GemmPackedB Forward => _forward;

    /// <summary>W (d×k) in packed panels.</summary>
    internal GemmPackedB Backward => _backward;
}
