namespace Lora.Kernels;

/// <summary>
/// A frozen weight W (d×k, PyTorch's out×in layout) held in the layout the fused LoRA kernels read, so that
/// packing is paid once and reused every step. Call <see cref="Pack"/> again whenever W changes.
/// </summary>
/// <remarks>This first version keeps a plain row-major copy; the packed micro-kernel layout replaces it.</remarks>
public sealed class PackedWeight
{
    readonly float[] _w;

    /// <summary>Allocates storage for a d×k weight; call <see cref="Pack"/> before use.</summary>
    public PackedWeight(int outFeatures, int inFeatures)
    {
        if (outFeatures < 0 || inFeatures < 0)
            throw new ArgumentException($"PackedWeight shape ({outFeatures}, {inFeatures}) must be non-negative.");
        OutFeatures = outFeatures;
        InFeatures = inFeatures;
        _w = new float[(long)outFeatures * inFeatures];
    }

    /// <summary>d, the number of rows of W.</summary>
    public int OutFeatures { get; }

    /// <summary>k, the number of columns of W.</summary>
    public int InFeatures { get; }

    /// <summary>Packs W (d×k row-major) into this buffer.</summary>
    public void Pack(ReadOnlySpan<float> w)
    {
        if (w.Length != _w.Length)
            throw new ArgumentException($"PackedWeight.Pack: w has {w.Length} elements, expected ({OutFeatures}, {InFeatures}).", nameof(w));
        w.CopyTo(_w);
    }

    internal ReadOnlySpan<float> RowMajor => _w;
}
