using Lora.Kernels;

namespace Lora.Tests.Kernels;

/// <summary>
/// Skinny products C (m×n) with n ≤ 17 < m; those with 4 < n ≤ 8 take the transposed small-m path (GemmSmallN) when AVX2 is on:
/// the r-column products of LoRA's backward (g = dy·B, dB = dyᵀ·h) that recurrent layers run once per time step.
/// Every transpose combination, every n of the window and its neighbours (so every tail of the tiles runs), against the MathNet
/// oracle and its derived bound (<see cref="GemmOracle"/>).
/// </summary>
public class RecurrentSkinnyGemmTests
{
    public static TheoryData<Transpose, Transpose, int> Cases()
    {
        var d = new TheoryData<Transpose, Transpose, int>();
        foreach (var ta in new[] { Transpose.No, Transpose.Yes })
            foreach (var tb in new[] { Transpose.No, Transpose.Yes })
                foreach (int n in new[] { 1, 4, 5, 6, 7, 8, 9, 16 })
                    d.Add(ta, tb, n);
        return d;
    }

    [Theory, MemberData(nameof(Cases))]
    public void SkinnyShapesMatchTheOracle(Transpose ta, Transpose tb, int n)
    {
        foreach (var (m, k) in new[] { (17, 1), (33, 7), (100, 40), (257, 96) })
            GemmOracle.Check(ta, tb, m, n, k, seed: m * 31 + n * 7 + k);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(1f)]
    [InlineData(-0.5f)]
    public void BetaIsAppliedAndNaNInCIsOverwrittenWhenBetaIsZero(float beta)
    {
        const int m = 40, n = 8, k = 24;
        float[] a = GemmOracle.Random(m * k, 1), b = GemmOracle.Random(k * n, 2), c0 = GemmOracle.Random(m * n, 3);
        if (beta == 0f) c0[5] = float.NaN;
        var c = (float[])c0.Clone();
        Gemm.Sgemm(Transpose.No, Transpose.No, m, n, k, 1.5f, a, k, b, n, beta, c, n);
        GemmOracle.AssertSgemm(Transpose.No, Transpose.No, m, n, k, 1.5f, a, k, b, n, beta, c0, c, n);
        Assert.DoesNotContain(c, float.IsNaN);
    }
}
