using Lora.Kernels;
using MathNet.Numerics.LinearAlgebra;
using static Lora.Tests.Kernels.LoraOracle;

namespace Lora.Tests.Kernels;

/// <summary>The fused LoRA forward and backward against the unfused formulas in double precision.</summary>
public class LoraGemmTests
{
    static readonly int[] Ns = [1, 3, 16, 17, 129];
    static readonly int[] Dims = [1, 7, 64, 65, 300];
    static readonly int[] Ranks = [1, 4, 8, 64];
    static readonly float[] Scales = [0f, 0.5f, 2f];

    /// <summary>
    /// The matrix n ∈ {1, 3, 16, 17, 129} × d, k ∈ {1, 7, 64, 65, 300} × r ∈ {1, 4, 8, 64} × bias × s ∈
    /// {0, 0.5, 2} has 6000 points; the full product would take minutes. Instead this is a covering design: an
    /// orthogonal array OA(25; 5³) over (n, d, k), (i, j, (i + j) mod 5), so every pair of values of n, d and k
    /// appears together, with r, bias, s and accumulate cycled over the rows so that every value of each appears
    /// several times and with each n (n ≤ 16 runs the small-batch path, n ≥ 17 the packed GEMM driver).
    /// </summary>
    public static TheoryData<int, int, int, int, bool, float, bool> Matrix()
    {
        var data = new TheoryData<int, int, int, int, bool, float, bool>();
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++)
                data.Add(Ns[i], Dims[j], Dims[(i + j) % 5], Ranks[(i + 2 * j) % 4], (i + j) % 2 == 0, Scales[(2 * i + j) % 3], (i + 3 * j) % 2 == 1);
        return data;
    }

    [Theory, MemberData(nameof(Matrix))]
    public void ForwardAndEveryGradientMatchTheDoubleFormula(int n, int d, int k, int r, bool bias, float s, bool accumulate)
    {
        var c = new LoraCase(n, d, k, r, s, bias, seed: n * 31 + d * 7 + k + r);
        var (h, y) = c.Forward();
        c.CheckForward(h, y);
        var g = c.Backward(h, accumulate);
        c.CheckBackward(g, h, accumulate);
    }

    [Theory, MemberData(nameof(Matrix))]
    public void ScalarReferenceTwinMatchesTheDoubleFormula(int n, int d, int k, int r, bool bias, float s, bool accumulate)
    {
        var c = new LoraCase(n, d, k, r, s, bias, seed: n * 31 + d * 7 + k + r);
        float[] h = new float[n * r], y = new float[n * d];
        LoraGemmReference.Forward(n, d, k, r, s, c.X, default, c.W, c.A, c.B, c.Bias, h, y);
        c.CheckForward(h, y);
        var g = c.Initial(7);
        LoraGemmReference.Backward(n, d, k, r, s, c.X, default, c.W, c.A, c.B, h, c.Dy, g.Dx, g.DA, g.DB,
            bias ? g.DBias : default, g.DW, accumulate);
        c.CheckBackward(g, h, accumulate);
    }

    [Theory]
    [InlineData(1, 65, 300, 8)]
    [InlineData(16, 300, 64, 64)]
    [InlineData(17, 7, 65, 4)]
    [InlineData(129, 300, 300, 1)]
    public void CallerSuppliedDropoutInputFeedsOnlyTheLowRankPath(int n, int d, int k, int r)
    {
        var c = new LoraCase(n, d, k, r, 0.5f, bias: true, seed: 5);
        float[] xDrop = Random(n * k, 77);
        var (h, y) = c.Forward(xDrop);
        c.CheckForward(h, y, xDrop);
        var g = c.Initial(7);
        LoraGemm.Backward(n, d, k, r, c.S, c.X, xDrop, c.Packed, c.A, c.B, h, c.Dy, new float[n * r], g.Dx, g.DA, g.DB, g.DBias, g.DW, true);
        c.CheckBackward(g, h, true, xDrop);
    }

    [Theory]
    [InlineData(1, 300, 65, 8, true)]
    [InlineData(3, 64, 7, 4, false)]
    [InlineData(16, 65, 300, 64, true)]
    [InlineData(17, 300, 300, 1, true)]
    [InlineData(129, 7, 64, 8, false)]
    public void ZeroBGivesExactlyThePlainLayer(int n, int d, int k, int r, bool bias)
    {
        // B = 0: the low-rank stretch of the inner dimension adds exact zeros (0·v + acc = acc in IEEE arithmetic,
        // for finite v), so y is bitwise the kernel's plain x·Wᵀ + b (the same call with r = 0), and that plain
        // layer is within γ(2k + 4)·(|x||W|ᵀ + |b|) of the double formula.
        var c = new LoraCase(n, d, k, r, 2f, bias, seed: 11, zeroB: true);
        var (_, y) = c.Forward();
        var plain = new float[n * d];
        LoraGemm.Forward(n, d, k, 0, 2f, c.X, default, c.Packed, [], [], c.Bias, [], plain);
        for (int i = 0; i < y.Length; i++) Assert.True(y[i] == plain[i], $"y[{i}] = {y[i]:R} but plain = {plain[i]:R}");
        Matrix<double> x = M(n, k, c.X), w = M(d, k, c.W), b = Rows(n, d, c.Bias);
        Close(plain, x * w.Transpose() + b, Gamma(k) * (Abs(x) * Abs(w).Transpose() + Abs(b)), "plain y");
    }

    [Theory]
    [InlineData(1, 300, 65, 8, 2f)]
    [InlineData(16, 65, 300, 64, 0.5f)]
    [InlineData(129, 64, 7, 4, 2f)]
    [InlineData(17, 300, 300, 1, 0.125f)]
    public void MergeThenPlainForwardEqualsFusedForwardAndUnmergeRestoresW(int n, int d, int k, int r, float s)
    {
        var c = new LoraCase(n, d, k, r, s, bias: true, seed: 23);
        var (h, fused) = c.Forward();
        float[] w = (float[])c.W.Clone();
        var packed = new PackedWeight(d, k);
        LoraGemm.Merge(d, k, r, s, c.A, c.B, w, packed);
        var merged = new float[n * d];
        LoraGemm.Forward(n, d, k, 0, 0f, c.X, default, packed, [], [], c.Bias, [], merged);

        // Both approximate y = x·(W + s·B·A)ᵀ + b. The fused one within its forward bound (LoraCase.CheckForward);
        // the merged one within γ(2k + 4)·|x|(|W'|ᵀ) for the GEMM, plus |x|·|W' − (W + sBA)|ᵀ for W' = fl(W + fl(sBA)),
        // |W' − (W + sBA)| ≤ γ(2r + 4)·(|W| + |s||B||A|). The two may differ by the sum of both bounds.
        Matrix<double> x = M(n, k, c.X), w0 = M(d, k, c.W), a = M(r, k, c.A), b = M(d, r, c.B), bias = Rows(n, d, c.Bias);
        var wm = M(d, k, w);
        var hx = Abs(x) * Abs(a).Transpose();
        double abs = Math.Abs(s);
        var fusedBound = Gamma(k + r) * (Abs(x) * Abs(w0).Transpose() + abs * Abs(M(n, r, h)) * Abs(b).Transpose() + Abs(bias))
            + abs * Gamma(k) * hx * Abs(b).Transpose();
        var mergedBound = Gamma(k) * (Abs(x) * Abs(wm).Transpose() + Abs(bias))
            + Abs(x) * (Gamma(r) * (Abs(w0) + abs * Abs(b) * Abs(a))).Transpose();
        Close(merged, M(n, d, fused), fusedBound + mergedBound, "merged forward vs fused");

        // Unmerge: W'' = fl(W' − fl(sBA)) with the same bits of the product, so |W'' − W| ≤ 3u·(|W| + |s||B||A|).
        LoraGemm.Unmerge(d, k, r, s, c.A, c.B, w, packed);
        Close(w, w0, 3 * U * (Abs(w0) + abs * Abs(b) * Abs(a)), "unmerged W");
        var again = new float[n * d];
        LoraGemm.Forward(n, d, k, r, s, c.X, default, packed, c.A, c.B, c.Bias, new float[n * r], again);
        Assert.Equal(n * d, again.Length); // the repacked weight is usable by the fused kernel
    }
    [Theory]
    [InlineData(17, 65, 64, 8, 0f)]
    [InlineData(129, 300, 65, 4, 0.25f)]
    [InlineData(3, 7, 300, 8, 0f)]
    public void StoredDxWithAccumulatedParameterGradients(int n, int d, int k, int r, float p)
    {
        // accumulateDx: false stores dx (over garbage) while dA, dB, dBias still add: the same bits as a call that
        // overwrites every output for dx, and as a call that accumulates every output for the rest.
        var c = new LoraCase(n, d, k, r, 0.5f, bias: true, seed: 7);
        var drop = p > 0f ? new LoraDropout(p, 5) : LoraDropout.None;
        var h = new float[n * r];
        var xDrop = new float[n * k];
        LoraGemm.Forward(n, d, k, r, c.S, c.X, xDrop, c.Packed, c.A, c.B, c.Bias, h, new float[n * d], drop);
        float[] Start(int count, int seed) => Random(count, seed);
        float[] dxStored = Random(n * k, 50), dA = Start(r * k, 51), dB = Start(d * r, 52), db = Start(d, 53);
        float[] dxFresh = new float[n * k], dA1 = Start(r * k, 51), dB1 = Start(d * r, 52), db1 = Start(d, 53);
        float[] dxAcc = Start(n * k, 54), dA0 = new float[r * k], dB0 = new float[d * r], db0 = new float[d];
        LoraGemm.Backward(n, d, k, r, c.S, c.X, xDrop, c.Packed, c.A, c.B, h, c.Dy, new float[n * r],
            dxStored, dA, dB, db, default, accumulate: true, drop, accumulateDx: false);
        LoraGemm.Backward(n, d, k, r, c.S, c.X, xDrop, c.Packed, c.A, c.B, h, c.Dy, new float[n * r],
            dxFresh, dA0, dB0, db0, default, accumulate: false, drop);
        LoraGemm.Backward(n, d, k, r, c.S, c.X, xDrop, c.Packed, c.A, c.B, h, c.Dy, new float[n * r],
            dxAcc, dA1, dB1, db1, default, accumulate: true, drop);
        BitwiseEqual(dxFresh, dxStored, "dx stored");
        BitwiseEqual(dA1, dA, "dA accumulated");
        BitwiseEqual(dB1, dB, "dB accumulated");
        BitwiseEqual(db1, db, "dBias accumulated");
    }
}
