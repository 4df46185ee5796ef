namespace Lora.Kernels;

/// <summary>A raw view of a GEMM operand: op(X)[row, col] = Trans ? X[col·Ld + row] : X[row·Ld + col].</summary>
/// <remarks>Pointers come from pinned spans (<c>fixed</c>) held for the whole call, workers included.</remarks>
internal readonly unsafe struct GemmOperand(float* ptr, nint ld, bool trans)
{
    public readonly float* Ptr = ptr;
    public readonly nint Ld = ld;
    public readonly bool Trans = trans;

    /// <summary>Address of op(X)[row, col].</summary>
    public float* At(nint row, nint col) => Trans ? Ptr + col * Ld + row : Ptr + row * Ld + col;
}
