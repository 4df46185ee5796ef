using MathNet.Numerics.LinearAlgebra;

namespace Lora.Tests.Kernels;

/// <summary>
/// The independent oracle for the LoRA kernel tests: the unfused formulas in double precision (MathNet.Numerics)
/// and elementwise error bounds derived from floating-point analysis, never tuned.
/// </summary>
/// <remarks>
/// A float sum of m products (each product rounded or fused, partial sums of cache blocks added, one scale and
/// one bias or accumulate add) is within γ(2m + 4)·Σ|terms| of the exact value, γ(j) = j·u/(1 − j·u), u = 2⁻²⁴
/// (Higham, Accuracy and Stability, §3.1; 2m covers the portable path without FMA, where product and sum each
/// round). An intermediate computed in float and reused (h = xd·Aᵀ in the forward, g = dy·B in the backward)
/// carries its own bound, propagated through the absolute values of the consuming product:
/// |ŷ − y| ≤ γ(2(k + r) + 4)·(|x||W|ᵀ + |s||ĥ||B|ᵀ + |b|) + |s|·γ(2k + 4)·(|xd||A|ᵀ)|B|ᵀ, and likewise for each gradient.
/// Double's own rounding (2⁻⁵³ relative) is far below these bounds and is ignored.
/// </remarks>
internal static class LoraOracle
{
    public const double U = 1.0 / (1 << 24);

    public static double Gamma(int terms)
    {
        double j = 2.0 * terms + 4;
        return j * U / (1 - j * U);
    }

    public static Matrix<double> M(int rows, int cols, ReadOnlySpan<float> v)
    {
        var m = Matrix<double>.Build.Dense(rows, cols);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) m[i, j] = v[i * cols + j];
        return m;
    }

    public static Matrix<double> Abs(Matrix<double> m) => m.PointwiseAbs();

    /// <summary>Row vector bias broadcast over n rows (zeros when empty).</summary>
    public static Matrix<double> Rows(int n, int d, ReadOnlySpan<float> bias)
    {
        var m = Matrix<double>.Build.Dense(n, d);
        if (!bias.IsEmpty)
            for (int i = 0; i < n; i++)
                for (int j = 0; j < d; j++) m[i, j] = bias[j];
        return m;
    }

    public static float[] Random(int count, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var x = new float[count];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return x;
    }

    /// <summary>Asserts |actual − expected| ≤ bound elementwise, naming the worst offender.</summary>
    public static void Close(ReadOnlySpan<float> actual, Matrix<double> expected, Matrix<double> bound, string what)
    {
        int rows = expected.RowCount, cols = expected.ColumnCount;
        Assert.Equal(rows * cols, actual.Length);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
            {
                double e = expected[i, j], a = actual[i * cols + j], err = Math.Abs(a - e);
                if (!(err <= bound[i, j]))
                    Assert.Fail($"{what}[{i}, {j}] = {a:R}, expected {e:R} ± {bound[i, j]:E3} (error {err:E3}, shape ({rows}, {cols})).");
            }
    }

    public static void BitwiseEqual(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}[{i}]: {actual[i]:R} differs from {expected[i]:R}.");
    }
}
