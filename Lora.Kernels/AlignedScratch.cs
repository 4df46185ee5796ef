using System.Runtime.CompilerServices;

namespace Lora.Kernels;

/// <summary>
/// One growable, 64-byte aligned float buffer on the pinned object heap (never moved, so raw pointers into it stay
/// valid). Grows geometrically and never shrinks, so a thread that reuses it stops allocating after warm-up.
/// </summary>
internal unsafe struct AlignedScratch
{
    float[]? _array;
    float* _aligned;
    long _capacity;

    /// <summary>A pointer to at least <paramref name="floats"/> floats; contents are not preserved when it grows.</summary>
    public float* Get(long floats)
    {
        if (floats <= _capacity) return _aligned;
        if (floats > int.MaxValue - 64) throw new ArgumentException($"scratch of {floats} floats is too large.");
        long capacity = Math.Max(floats, Math.Min(int.MaxValue - 64L, _capacity * 3 / 2));
        _array = GC.AllocateUninitializedArray<float>((int)capacity + 16, pinned: true);
        nint start = (nint)Unsafe.AsPointer(ref _array[0]);
        _aligned = (float*)((start + 63) & ~(nint)63);
        _capacity = capacity;
        return _aligned;
    }
}
