using static Lora.Kernels.GemmBlocking;

namespace Lora.Kernels;

/// <summary>
/// op(B) (K×N) packed once into the micro-kernel's B layout and reused by many GEMM calls: the frozen-weight
/// building block of the fused LoRA kernels. A weight W (d×k) serves y = x·Wᵀ as <c>Pack(Transpose.Yes, k, d, W, k)</c>
/// and dx = dy·W as <c>Pack(Transpose.No, d, k, W, k)</c>.
/// </summary>
/// <remarks>
/// Layout: ⌈N/NR⌉ panels of K×NR floats (p-major, zero-padded past column N), panel t at t·K·NR. The driver reads
/// the (pc, jc) block of it in place (<see cref="GemmSegment.PackedB"/>), so KC/NC blocking needs no repacking.
/// Storage is a pinned, 64-byte aligned array owned by this object; repacking the same shape allocates nothing.
/// </remarks>
internal sealed unsafe class GemmPackedB
{
    float[] _array = [];
    float* _data;

    /// <summary>Inner dimension of op(B).</summary>
    public int K { get; private set; }

    /// <summary>Columns of op(B).</summary>
    public int N { get; private set; }

    /// <summary>
    /// The packed panels (valid after <see cref="Pack"/>). A raw pointer does not keep this object alive: whoever
    /// puts it in a <see cref="GemmPlan"/> must hold the object (a field, or <c>GC.KeepAlive</c>) until the call returns.
    /// </summary>
    public float* Data => _data;

    /// <summary>Floats needed for a K×N operand.</summary>
    public static long Size(int k, int n) => (long)((n + NR - 1) / NR) * NR * k;

    /// <summary>Packs op(B) (k×n), b stored with leading dimension ldb; arguments as for <see cref="Gemm.Sgemm"/>.</summary>
    public void Pack(Transpose trans, int k, int n, ReadOnlySpan<float> b, int ldb)
    {
        if (k < 0 || n < 0) throw new ArgumentException($"packed B shape ({k}, {n}) must be non-negative.");
        int rows = trans == Transpose.No ? k : n, cols = trans == Transpose.No ? n : k;
        if (ldb < Math.Max(1, cols))
            throw new ArgumentException($"ldb = {ldb} is smaller than the {cols} columns of b ({rows}×{cols}).", nameof(ldb));
        if (rows > 0 && cols > 0 && b.Length < (long)(rows - 1) * ldb + cols)
            throw new ArgumentException($"b has {b.Length} elements but a {rows}×{cols} matrix with ldb = {ldb} needs {(long)(rows - 1) * ldb + cols}.", nameof(b));
        long size = Size(k, n);
        if (size > int.MaxValue - 64) throw new ArgumentException($"packed B ({k}×{n}) is too large.");
        if (_array.Length < size + 16)
        {
            _array = GC.AllocateUninitializedArray<float>((int)size + 16, pinned: true);
            fixed (float* p = _array) _data = (float*)(((nint)p + 63) & ~(nint)63);
        }
        K = k;
        N = n;
        if (size == 0) return;
        fixed (float* pb = b)
            GemmPacking.PackB(new GemmOperand(pb, ldb, trans == Transpose.Yes), 0, k, 0, n, _data, (nint)k * NR);
    }
}
