using Lora.Kernels;
using MathNet.Numerics.LinearAlgebra.Double;

namespace Lora.Tests.Kernels;

/// <summary>
/// The independent oracle for SGEMM tests: the product in double precision by MathNet.Numerics, and an error
/// bound derived from floating-point analysis rather than tuned.
/// </summary>
/// <remarks>
/// Each element of C is a sum of k products. Along any path of the computation there are at most: k roundings of
/// the products (none with FMA), k of the additions, one alpha·partial-sum and one accumulate-into-C per k-block
/// (at most k blocks), one beta·C and one final add: ops ≤ 4k + 2. With unit roundoff ε = 2^-24 the classical
/// bound is |ĉ − c| ≤ γ·(|alpha|·Σ_p |a_ip||b_pj| + |beta|·|c_ij|), γ = ops·ε / (1 − ops·ε).
/// Double's own error (2^-53 relative) is far below this and is ignored. Elements are compared one by one.
/// </remarks>
internal static class GemmOracle
{
    const double Eps = 1.0 / (1 << 24);

    public static float[] Random(int count, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var x = new float[count];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return x;
    }

    /// <summary>A (rows×cols, leading dimension ld) stored in a span of exactly the needed length, padding random.</summary>
    public static float[] Matrix(int rows, int cols, int ld, int seed) =>
        Random(rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols, seed);

    static DenseMatrix Op(Transpose t, int rows, int cols, float[] x, int ld, bool abs)
    {
        // rows×cols is the shape of op(X).
        var mat = new DenseMatrix(rows, cols);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
            {
                double v = t == Transpose.No ? x[i * ld + j] : x[j * ld + i];
                mat[i, j] = abs ? Math.Abs(v) : v;
            }
        return mat;
    }

    /// <summary>Asserts c (result) against alpha·op(A)·op(B) + beta·c0 within the derived bound; padding of c must equal c0's.</summary>
    public static void AssertSgemm(Transpose ta, Transpose tb, int m, int n, int k, float alpha, float[] a, int lda,
        float[] b, int ldb, float beta, float[] c0, float[] c, int ldc)
    {
        DenseMatrix prod = m > 0 && n > 0 ? (DenseMatrix)(Op(ta, m, k, a, lda, false) * Op(tb, k, n, b, ldb, false)) : new DenseMatrix(Math.Max(m, 1), Math.Max(n, 1));
        DenseMatrix absProd = m > 0 && n > 0 ? (DenseMatrix)(Op(ta, m, k, a, lda, true) * Op(tb, k, n, b, ldb, true)) : prod;
        double ops = 4.0 * k + 2;
        double gamma = ops * Eps / (1 - ops * Eps);
        var inside = new bool[c.Length];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                int idx = i * ldc + j;
                inside[idx] = true;
                bool scaleOnly = alpha == 0f || k == 0;
                double old = beta == 0f ? 0 : beta * (double)c0[idx];
                double expected = (scaleOnly ? 0 : alpha * prod[i, j]) + old;
                double bound = gamma * ((scaleOnly ? 0 : Math.Abs(alpha) * absProd[i, j]) + Math.Abs(old));
                double got = c[idx];
                if (!(Math.Abs(got - expected) <= bound))
                    Assert.Fail($"Sgemm({ta}, {tb}, m={m}, n={n}, k={k}, alpha={alpha}, beta={beta}, lda={lda}, ldb={ldb}, ldc={ldc}): " +
                        $"C[{i},{j}] = {got:R}, expected {expected:R} ± {bound:G3} (error {Math.Abs(got - expected):G3}).");
            }
        for (int idx = 0; idx < c.Length; idx++)
            if (!inside[idx] && BitConverter.SingleToInt32Bits(c[idx]) != BitConverter.SingleToInt32Bits(c0[idx]))
                Assert.Fail($"Sgemm({ta}, {tb}, m={m}, n={n}, k={k}, ldc={ldc}) wrote element {idx} outside the m×n window.");
    }

    /// <summary>Runs Sgemm on random data (C prefilled with cFill or random) and checks it against the oracle.</summary>
    public static void Check(Transpose ta, Transpose tb, int m, int n, int k, float alpha = 1f, float beta = 0f,
        int padA = 0, int padB = 0, int padC = 0, float? cFill = null, int seed = 1)
    {
        int aCols = ta == Transpose.No ? k : m, aRows = ta == Transpose.No ? m : k;
        int bCols = tb == Transpose.No ? n : k, bRows = tb == Transpose.No ? k : n;
        int lda = Math.Max(1, aCols + padA), ldb = Math.Max(1, bCols + padB), ldc = Math.Max(1, n + padC);
        float[] a = Matrix(aRows, aCols, lda, seed), b = Matrix(bRows, bCols, ldb, seed + 1);
        // C gets one extra row of slack beyond the window, to catch writes past the end.
        float[] c0 = Random(m * ldc + 3, seed + 2);
        if (cFill is float fill) Array.Fill(c0, fill);
        float[] c = (float[])c0.Clone();
        Gemm.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        AssertSgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, c, ldc);
    }

    /// <summary>The one product the oracle checks a two-segment plan with bias against: [A0 | A1 | 1] (m×(k0+k1+1))
    /// times [W ; L ; bias] stored k×n, from A0 (m×k0), A1 (m×k1), W (n×k0) and L (n×k1) both used transposed. The
    /// bias as a last inner column (ones times the bias row) bounds its one extra rounding.</summary>
    public static (float[] A, float[] B) Concatenated(int m, int n, int k0, int k1, float[] a0, float[] a1, float[] w, float[] l, float[] bias)
    {
        int k = k0 + k1 + 1;
        float[] aCat = new float[m * k], bCat = new float[k * n];
        for (int i = 0; i < m; i++)
        {
            a0.AsSpan(i * k0, k0).CopyTo(aCat.AsSpan(i * k));
            a1.AsSpan(i * k1, k1).CopyTo(aCat.AsSpan(i * k + k0));
            aCat[i * k + k - 1] = 1f;
        }
        for (int j = 0; j < n; j++)
        {
            for (int p = 0; p < k0; p++) bCat[p * n + j] = w[j * k0 + p];
            for (int p = 0; p < k1; p++) bCat[(k0 + p) * n + j] = l[j * k1 + p];
            bCat[(k - 1) * n + j] = bias[j];
        }
        return (aCat, bCat);
    }

    public static readonly Transpose[][] Combos =
        [[Transpose.No, Transpose.No], [Transpose.No, Transpose.Yes], [Transpose.Yes, Transpose.No], [Transpose.Yes, Transpose.Yes]];
}
