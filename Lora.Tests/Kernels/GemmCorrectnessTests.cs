using Lora.Kernels;

namespace Lora.Tests.Kernels;

/// <summary>Sgemm against the MathNet double-precision oracle over shapes, strides, scalars and transposes.</summary>
public class GemmCorrectnessTests
{
    // The size list: register-tile edges (5..7, 15..17), cache-block edges and a large odd size.
    static readonly int[] Sizes = [0, 1, 2, 5, 6, 7, 15, 16, 17, 31, 63, 64, 65, 127, 255, 257, 1023];
    static readonly int[] SmallSizes = [0, 1, 2, 5, 6, 7, 15, 16, 17, 31];

    public static TheoryData<Transpose, Transpose> AllCombos()
    {
        var data = new TheoryData<Transpose, Transpose>();
        foreach (var c in GemmOracle.Combos) data.Add(c[0], c[1]);
        return data;
    }

    [Theory, MemberData(nameof(AllCombos))]
    public void EverySmallShape(Transpose ta, Transpose tb)
    {
        // Every (m, n, k) up to 31: both the small-m path and the packed path's edge tiles.
        foreach (int m in SmallSizes)
            foreach (int n in SmallSizes)
                foreach (int k in SmallSizes)
                    GemmOracle.Check(ta, tb, m, n, k, seed: m * 1000 + n * 10 + k);
    }

    public static TheoryData<Transpose, Transpose, int, int, int> SweepShapes()
    {
        // Each size of the list appears as m, as n and as k, paired with sizes far from it in the list;
        // the product m·n·k stays moderate so the double oracle is quick.
        var data = new TheoryData<Transpose, Transpose, int, int, int>();
        int count = Sizes.Length;
        foreach (var c in GemmOracle.Combos)
            for (int i = 0; i < count; i++)
            {
                int m = Sizes[i], n = Sizes[(i + 6) % count], k = Sizes[(i + 11) % count];
                data.Add(c[0], c[1], m, n, k);
            }
        // Shapes with 1023 in each position and two large dimensions.
        foreach (var c in GemmOracle.Combos)
        {
            data.Add(c[0], c[1], 1023, 257, 65);
            data.Add(c[0], c[1], 127, 1023, 255);
            data.Add(c[0], c[1], 65, 127, 1023);
            data.Add(c[0], c[1], 16, 1023, 1023);
            data.Add(c[0], c[1], 1023, 17, 1023);
        }
        return data;
    }

    [Theory, MemberData(nameof(SweepShapes))]
    public void SizeSweep(Transpose ta, Transpose tb, int m, int n, int k) => GemmOracle.Check(ta, tb, m, n, k, seed: m + n + k);

    public static TheoryData<Transpose, Transpose, float, float> Scalars()
    {
        var data = new TheoryData<Transpose, Transpose, float, float>();
        float[] values = [0f, 1f, -0.5f];
        foreach (var c in GemmOracle.Combos)
            foreach (float alpha in values)
                foreach (float beta in values)
                    data.Add(c[0], c[1], alpha, beta);
        return data;
    }

    [Theory, MemberData(nameof(Scalars))]
    public void AlphaBeta(Transpose ta, Transpose tb, float alpha, float beta)
    {
        // beta == 0 starts from a NaN-filled C: nothing of it may leak. Shapes cover the small-m and packed paths.
        float? fill = beta == 0f ? float.NaN : null;
        foreach ((int m, int n, int k) in new[] { (3, 37, 29), (16, 33, 300), (45, 50, 270), (130, 70, 9) })
            GemmOracle.Check(ta, tb, m, n, k, alpha, beta, cFill: fill, seed: m + 7);
    }

    [Fact]
    public void ZeroAlphaIgnoresNaNInInputs()
    {
        // alpha == 0 only scales C, so A and B are never read: BLAS semantics.
        float[] a = [float.NaN, float.NaN, float.NaN, float.NaN], b = [float.NaN, 1, 2, 3], c = [1, 2, 3, 4];
        Gemm.Sgemm(Transpose.No, Transpose.No, 2, 2, 2, 0f, a, 2, b, 2, 2f, c, 2);
        Assert.Equal([2f, 4f, 6f, 8f], c);
    }

    public static TheoryData<Transpose, Transpose, int, int, int> StrideShapes()
    {
        var data = new TheoryData<Transpose, Transpose, int, int, int>();
        foreach (var c in GemmOracle.Combos)
        {
            data.Add(c[0], c[1], 7, 19, 33);    // small-m path
            data.Add(c[0], c[1], 37, 45, 300);  // packed path, crosses a k-block
        }
        return data;
    }

    [Theory, MemberData(nameof(StrideShapes))]
    public void LeadingDimensionsLargerThanRows(Transpose ta, Transpose tb, int m, int n, int k)
    {
        // Padding columns of C are filled and must come back untouched (checked by the oracle), for beta 0 and 1.
        GemmOracle.Check(ta, tb, m, n, k, 1f, 0f, padA: 3, padB: 5, padC: 7, seed: 11);
        GemmOracle.Check(ta, tb, m, n, k, -0.5f, 1f, padA: 1, padB: 17, padC: 1, seed: 12);
    }

    [Fact]
    public void SmallExactProduct()
    {
        // Small integers: every rounding is exact, so the result must equal the hand product bit for bit.
        float[] a = [1, 2, 3, 4, 5, 6], b = [7, 8, 9, 10, 11, 12], c = new float[4];
        Gemm.Sgemm(Transpose.No, Transpose.No, 2, 2, 3, 1f, a, 3, b, 2, 0f, c, 2);
        Assert.Equal([58f, 64f, 139f, 154f], c);
    }

    [Fact]
    public void OracleRejectsAWrongProduct()
    {
        // The checker must be able to fail: one element off by 0.01 (the bound here is ~1e-5) is rejected.
        int m = 9, n = 11, k = 13;
        float[] a = GemmOracle.Random(m * k, 1), b = GemmOracle.Random(k * n, 2), c0 = new float[m * n], c = new float[m * n];
        Gemm.Sgemm(Transpose.No, Transpose.No, m, n, k, 1f, a, k, b, n, 0f, c, n);
        c[5] += 0.01f;
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() =>
            GemmOracle.AssertSgemm(Transpose.No, Transpose.No, m, n, k, 1f, a, k, b, n, 0f, c0, c, n));
    }
}
