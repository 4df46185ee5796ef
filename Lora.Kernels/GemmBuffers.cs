namespace Lora.Kernels;

/// <summary>
/// Per-thread pack buffers, 64-byte aligned, kept for the life of the thread so that a GEMM call allocates
/// nothing after the first call on that thread. Arrays live on the pinned object heap (never moved), so raw
/// pointers into them stay valid; the GC frees them when the thread ends.
/// </summary>
internal sealed unsafe class GemmBuffers
{
    [ThreadStatic] static GemmBuffers? t_current;

    /// <summary>The buffers of the calling thread (created on first use).</summary>
    public static GemmBuffers Current => t_current ??= new GemmBuffers();

    AlignedScratch _a, _b, _shared, _scratch, _tile;

    /// <summary>Room for a packed MC×KC block of A.</summary>
    public float* PackA(int floats) => _a.Get(floats);

    /// <summary>Room for a packed KC×NC block of B.</summary>
    public float* PackB(int floats) => _b.Get(floats);

    /// <summary>Room for the B blocks that the parts of a threaded call started on this thread pack together.</summary>
    public float* SharedB(long floats) => _shared.Get(floats);

    /// <summary>Room for the small-m path's packed A and partial sums.</summary>
    public float* Scratch(int floats) => _scratch.Get(floats);

    /// <summary>Room for edge tiles (C, bias) of the micro-kernel.</summary>
    public float* Tile(int floats) => _tile.Get(floats);
}
