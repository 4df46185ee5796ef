namespace Lora.Kernels;

/// <summary>
/// Per-thread scratch of the fused LoRA kernels (s·h, s·dy·B, packed low-rank panels, masked dropout rows), kept
/// for the life of the thread so that a call allocates nothing after warm-up. Separate from the GEMM's own
/// buffers because the LoRA kernels call GEMM while holding these.
/// </summary>
internal sealed unsafe class LoraBuffers
{
    [ThreadStatic] static LoraBuffers? t_current;

    /// <summary>The buffers of the calling thread (created on first use).</summary>
    public static LoraBuffers Current => t_current ??= new LoraBuffers();

    AlignedScratch _scaled, _panels, _rows, _mask, _transposed, _tailA, _tailB, _outerScaled, _outerStrip, _outerWide, _dotPairs;

    /// <summary>Room for s·h (n×r) or s·dy·B (n×r).</summary>
    public float* Scaled(long floats) => _scaled.Get(floats);

    /// <summary>Room for a low-rank operand packed into panels (small-batch path).</summary>
    public float* Panels(long floats) => _panels.Get(floats);

    /// <summary>Room for the low-rank stretch's A operand (s·h or s·dy·B) packed into MR-row panels (GEMM path).</summary>
    public float* TailA(long floats) => _tailA.Get(floats);

    /// <summary>Room for the low-rank stretch's B operand (Bᵀ or A) packed into NR-column panels (GEMM path).</summary>
    public float* TailB(long floats) => _tailB.Get(floats);

    /// <summary>Room for a block of rows of s·(dy·B)·A (dropout backward).</summary>
    public float* Rows(long floats) => _rows.Get(floats);

    /// <summary>Room for Bᵀ (r×d), for g = dy·B.</summary>
    public float* Transposed(long floats) => _transposed.Get(floats);

    /// <summary>Room for s·u of a thin outer product, its rank rows padded (<see cref="LoraLowRank.Outer"/>).</summary>
    public float* OuterScaled(long floats) => _outerScaled.Get(floats);

    /// <summary>Room for a strip of columns of a thin outer product's long operand (<see cref="LoraLowRank.Outer"/>).</summary>
    public float* OuterStrip(long floats) => _outerStrip.Get(floats);

    /// <summary>Room for the r×c transpose of a thin outer product's c×r result (<see cref="LoraLowRank.OuterTransposed"/>
    /// on the AVX-512 tile).</summary>
    public float* OuterWide(long floats) => _outerWide.Get(floats);

    /// <summary>Room for a thin dot product's rank rows in pairs (<see cref="LoraLowRank.Dot"/> on AVX-512).</summary>
    public float* DotPairs(long floats) => _dotPairs.Get(floats);

    /// <summary>Room for a block of rows of the dropout mask.</summary>
    public float* Mask(long floats) => _mask.Get(floats);
}
