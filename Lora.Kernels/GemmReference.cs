namespace Lora.Kernels;

/// <summary>The plain scalar twin of <see cref="Gemm.Sgemm"/>: the fallback and the test oracle.</summary>
public static class GemmReference
{
    /// <summary>C (m×n) = alpha·op(A)·op(B) + beta·C, row-major, with no blocking or vectorisation.</summary>
    /// <remarks>Same semantics as <see cref="Gemm.Sgemm"/>; arguments are assumed valid.</remarks>
    public static void SgemmReference(Transpose transA, Transpose transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float acc = 0f;
                if (alpha != 0f)
                {
                    for (int p = 0; p < k; p++)
                    {
                        float av = transA == Transpose.No ? a[i * lda + p] : a[p * lda + i];
                        float bv = transB == Transpose.No ? b[p * ldb + j] : b[j * ldb + p];
                        acc += av * bv;
                    }
                }
                ref float cij = ref c[i * ldc + j];
                // beta == 0 must overwrite, so NaN/Inf already in C never leaks through 0·NaN.
                cij = beta == 0f ? alpha * acc : alpha * acc + beta * cij;
            }
        }
    }
}
