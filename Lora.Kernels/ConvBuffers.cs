namespace Lora.Kernels;

/// <summary>
/// Per-thread scratch of the convolution kernels (<see cref="LoraConv"/>), kept for the life of the thread so that a
/// call allocates nothing after warm-up. The calling thread's "shared" buffers hold the operands packed once per call
/// and read by every part; each part (the caller's included) uses the "part" buffers of its own thread.
/// </summary>
internal sealed unsafe class ConvBuffers
{
    [ThreadStatic] static ConvBuffers? t_current;

    /// <summary>The buffers of the calling thread (created on first use).</summary>
    public static ConvBuffers Current => t_current ??= new ConvBuffers();

    AlignedScratch _stack, _stackA, _low, _lowRaw, _cols, _colsDrop, _hExt, _packB, _tile, _g, _dcols, _image;

    /// <summary>Shared: packed panels of the stacked rows [W; A] (or W alone).</summary>
    public float* Stack(long floats) => _stack.Get(floats);

    /// <summary>Shared: packed panels of A alone (dropout: A reads the dropped input).</summary>
    public float* StackA(long floats) => _stackA.Get(floats);

    /// <summary>Shared: packed panels of [s·B | bias].</summary>
    public float* Low(long floats) => _low.Get(floats);

    /// <summary>Shared: [W; A] or [s·B | bias] row-major before packing, or s·g in the backward.</summary>
    public float* LowRaw(long floats) => _lowRaw.Get(floats);

    /// <summary>Part: the unfolded columns of x.</summary>
    public float* Cols(long floats) => _cols.Get(floats);

    /// <summary>Part: the unfolded columns of the dropped input.</summary>
    public float* ColsDrop(long floats) => _colsDrop.Get(floats);

    /// <summary>Part: h with a row of ones under it (the bias rides the low-rank stretch).</summary>
    public float* HExt(long floats) => _hExt.Get(floats);

    /// <summary>Part: one packed KC×NC block of the columns.</summary>
    public float* PackB(long floats) => _packB.Get(floats);

    /// <summary>Part: an MR×NR edge tile.</summary>
    public float* Tile(long floats) => _tile.Get(floats);

    /// <summary>Backward: g = Bᵀ·dy of one image.</summary>
    public float* G(long floats) => _g.Get(floats);

    /// <summary>Backward: the column gradient of one image.</summary>
    public float* DCols(long floats) => _dcols.Get(floats);

    /// <summary>Backward with dropout: one image's low-rank input gradient before the mask, and the mask.</summary>
    public float* Image(long floats) => _image.Get(floats);
}
