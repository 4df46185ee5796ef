namespace Lora.Kernels;

/// <summary>Single-precision general matrix multiply with BLAS semantics over row-major spans.</summary>
public static class Gemm
{
    /// <summary>C (m×n) = alpha·op(A)·op(B) + beta·C, row-major.</summary>
    /// <remarks>
    /// op(A) is m×k and op(B) is k×n; A is stored m×k (No) or k×m (Yes) with row stride lda, B k×n or n×k with
    /// row stride ldb, C m×n with row stride ldc. <c>beta == 0</c> overwrites C (NaN or Inf already in C does not
    /// leak); <c>alpha == 0</c> or <c>k == 0</c> only scales C; <c>m == 0</c> or <c>n == 0</c> is a no-op.
    /// Elements of a row of C beyond column n are never touched.
    /// Runs on <see cref="KernelThreads.Count"/> threads; the result is bitwise the same for any thread count.
    /// After the first call on a thread, a call allocates nothing on the managed heap.
    /// Implementation: packed Goto/BLIS blocking around a 6×16 AVX2/FMA micro-kernel, B-streaming paths for
    /// m ≤ 48 (and, through the transpose, for skinny n ≤ 8), and a portable fallback without AVX2/FMA (docs/kernels.md).
    /// </remarks>
    /// <exception cref="ArgumentException">Negative sizes, a leading dimension smaller than its row, a span too
    /// short for the matrix it describes, or C overlapping A or B.</exception>
    public static unsafe void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        GemmArguments.Check(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        if (m == 0 || n == 0) return;
        fixed (float* pa = a, pb = b, pc = c)
        {
            if (alpha == 0f || k == 0)
            {
                ScaleC(m, n, beta, pc, ldc);
                return;
            }
            var opA = new GemmOperand(pa, lda, transA == Transpose.Yes);
            var opB = new GemmOperand(pb, ldb, transB == Transpose.Yes);
            if (GemmSmallN.Applies(m, n, k))
            {
                GemmSmallN.Run(m, n, k, opA, opB, alpha, beta, pc, ldc);
                return;
            }
            if (m <= Math.Max(GemmBlocking.SmallM, GemmBlocking.StripMaxM) && MicroKernel.UseAvx2 && m > GemmBlocking.AxpyMaxM)
            {
                GemmSmallM.RunStrips(m, n, k, opA, opB, alpha, beta, pc, ldc, null);
                return;
            }
            if (m <= GemmBlocking.SmallM && MicroKernel.UseAvx2)
            {
                var small = new SmallMPlan { M = m, N = n, K = k, A = opA, B = opB, Alpha = alpha, Beta = beta, C = pc, Ldc = ldc };
                GemmSmallM.Run(ref small);
                return;
            }
            var plan = new GemmPlan
            {
                M = m, N = n, Alpha = alpha, Beta = beta, C = pc, Ldc = ldc,
                Segment0 = new GemmSegment { K = k, A = opA, B = opB },
            };
            GemmDriver.Run(ref plan);
        }
    }

    /// <summary>C = beta·C over the m×n window (beta == 0 writes zeros, so NaN in C does not survive).</summary>
    static unsafe void ScaleC(int m, int n, float beta, float* c, nint ldc)
    {
        if (beta == 1f) return;
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + i * ldc, n);
            if (beta == 0f) row.Clear();
            else for (int j = 0; j < row.Length; j++) row[j] *= beta;
        }
    }
}
