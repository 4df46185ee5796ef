namespace Lora.Kernels;

/// <summary>Whether a GEMM operand is used as stored or transposed (BLAS's <c>transA</c>/<c>transB</c>).</summary>
public enum Transpose
{
    /// <summary>op(X) = X.</summary>
    No,
    /// <summary>op(X) = Xᵀ.</summary>
    Yes,
}
