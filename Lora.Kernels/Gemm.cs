namespace Lora.Kernels;

/// <summary>Single-precision general matrix multiply with BLAS semantics over row-major spans.</summary>
public static class Gemm
{
    /// <summary>C (m×n) = alpha·op(A)·op(B) + beta·C, row-major.</summary>
    /// <remarks>
    /// op(A) is m×k and op(B) is k×n. <c>beta == 0</c> overwrites C (NaN or Inf already in C does not leak);
    /// <c>alpha == 0</c> or <c>k == 0</c> only scales C; <c>m == 0</c> or <c>n == 0</c> is a no-op.
    /// Elements of a row of C beyond column n are never touched.
    /// </remarks>
    /// <exception cref="ArgumentException">Negative sizes, a leading dimension smaller than its row, a span too
    /// short for the matrix it describes, or C overlapping A or B.</exception>
    public static void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        GemmArguments.Check(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        if (m == 0 || n == 0) return;
        GemmReference.SgemmReference(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}
