using System.Runtime.InteropServices;
using Lora.Kernels;
using static Lora.Tests.Kernels.LoraOracle;

namespace Lora.Tests.Kernels;

/// <summary>
/// The AVX-512 12×32 tile and the macro-kernel's use of it. It runs on the 6×16 kernel's own packed panels, and
/// each element is the same FMA chain and epilogue, so it must give that kernel's bits exactly: tile against tiles,
/// and whole GEMMs and fused LoRA layers with the wide tile on and off (every edge: rows left over below 12, a
/// single B panel left over, partial panels). The double-oracle tests elsewhere run through it on such CPUs.
/// On a CPU without AVX-512 there is no second path to compare, and these tests check only that the switch is off.
/// </summary>
[Collection(nameof(MacroKernelSwitches))]
public unsafe class MicroKernelAvx512Tests
{
    const int MR = GemmBlocking.MR, NR = GemmBlocking.NR;

    [Fact]
    public void TheWideTileRunsOnlyWhereTheCpuHasAvx512()
    {
        Assert.Equal(MicroKernel.UseAvx512, GemmMacroKernel.Wide);
        if (!MicroKernel.UseAvx2) Assert.False(MicroKernel.UseAvx512);
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(7, 0)]
    [InlineData(64, 0)]
    [InlineData(9, 3)]
    [InlineData(64, 8)]
    public void WideTilesEqualTheSixBySixteenTilesTheyCoverBitwise(int kc, int k2)
    {
        if (!MicroKernel.UseAvx512) return; // no AVX-512 tile on this CPU (see the class remarks)
        // Panels at strides with a gap, so that a kernel reading the wrong panel cannot pass by accident.
        nint aStride = (nint)kc * MR + 24, bStride = (nint)kc * NR + 32, a2Stride = (nint)k2 * MR + 12, b2Stride = (nint)k2 * NR + 48;
        float* a = Alloc(2 * aStride, 1), b = Alloc(2 * bStride, 2), a2 = Alloc(2 * a2Stride + 1, 3), b2 = Alloc(2 * b2Stride + 1, 4);
        try
        {
            float[] bias = GemmOracle.Random(2 * NR, 5);
            const int ldc = 2 * NR + 5;
            foreach (float beta in new[] { 0f, 0.75f })
                foreach (bool withBias in new[] { false, true })
                    fixed (float* pbias = bias)
                    {
                        float* bi = withBias ? pbias : null;
                        float[] c1 = GemmOracle.Random(2 * MR * ldc, 6), c2 = (float[])c1.Clone();
                        fixed (float* p1 = c1, p2 = c2)
                        {
                            for (int i = 0; i < 2; i++)
                                for (int j = 0; j < 2; j++)
                                    MicroKernelAvx2.Kernel6x16Tail(kc, a + i * aStride, b + j * bStride, k2, a2 + i * a2Stride, b2 + j * b2Stride,
                                        p1 + i * MR * ldc + j * NR, ldc, 1.25f, beta, bi == null ? null : bi + j * NR);
                            MicroKernelAvx512.Kernel12x32(kc, a, aStride, b, bStride, k2, a2, a2Stride, b2, b2Stride, p2, ldc, 1.25f, beta, bi);
                        }
                        BitwiseEqual(c1, c2, $"kc = {kc}, k2 = {k2}, beta = {beta}, bias = {withBias}");
                        // The variant that prefetches the next panels computes exactly the same.
                        float[] c7 = GemmOracle.Random(2 * MR * ldc, 6);
                        fixed (float* p7 = c7)
                            MicroKernelAvx512.Kernel12x32<NextOne>(kc, a, aStride, b, bStride, k2, a2, a2Stride, b2, b2Stride, p7, ldc, 1.25f, beta, bi, b + bStride);
                        BitwiseEqual(c1, c7, $"12×32 with prefetch: kc = {kc}, k2 = {k2}, beta = {beta}, bias = {withBias}");
                        float[] c9 = GemmOracle.Random(2 * MR * ldc, 6);
                        fixed (float* p9 = c9)
                            MicroKernelAvx512.Kernel12x32<NextFour>(kc, a, aStride, b, bStride, k2, a2, a2Stride, b2, b2Stride, p9, ldc, 1.25f, beta, bi, b + bStride);
                        BitwiseEqual(c1, c9, $"12×32 with dense prefetch: kc = {kc}, k2 = {k2}, beta = {beta}, bias = {withBias}");
                        float[] c8 = GemmOracle.Random(2 * MR * ldc, 6);
                        fixed (float* p8 = c8)
                            for (int i = 0; i < 2; i++)
                                for (int j = 0; j < 2; j++)
                                    MicroKernelAvx2.Kernel6x16Tail<NextOne>(kc, a + i * aStride, b + j * bStride, k2, a2 + i * a2Stride, b2 + j * b2Stride,
                                        p8 + i * MR * ldc + j * NR, ldc, 1.25f, beta, bi == null ? null : bi + j * NR, b + bStride);
                        BitwiseEqual(c1, c8, $"6×16 with prefetch: kc = {kc}, k2 = {k2}, beta = {beta}, bias = {withBias}");
                        // The 6×32 tile is the top half: its two 6×16 tiles' bits.
                        float[] c3 = GemmOracle.Random(MR * ldc, 8), c4 = (float[])c3.Clone();
                        fixed (float* p3 = c3, p4 = c4)
                        {
                            for (int j = 0; j < 2; j++)
                                MicroKernelAvx2.Kernel6x16Tail(kc, a, b + j * bStride, k2, a2, b2 + j * b2Stride, p3 + j * NR, ldc, 1.25f, beta,
                                    bi == null ? null : bi + j * NR);
                            MicroKernelAvx512.Kernel6x32(kc, a, b, bStride, k2, a2, b2, b2Stride, p4, ldc, 1.25f, beta, bi);
                        }
                        BitwiseEqual(c3, c4, $"6×32: kc = {kc}, k2 = {k2}, beta = {beta}, bias = {withBias}");
                        // The 12×16 tile is the left half: its two 6×16 tiles' bits.
                        float[] c5 = GemmOracle.Random(2 * MR * ldc, 9), c6 = (float[])c5.Clone();
                        fixed (float* p5 = c5, p6 = c6)
                        {
                            for (int i = 0; i < 2; i++)
                                MicroKernelAvx2.Kernel6x16Tail(kc, a + i * aStride, b, k2, a2 + i * a2Stride, b2, p5 + i * MR * ldc, ldc, 1.25f, beta, bi);
                            MicroKernelAvx512.Kernel12x16(kc, a, aStride, b, k2, a2, a2Stride, b2, p6, ldc, 1.25f, beta, bi);
                        }
                        BitwiseEqual(c5, c6, $"12×16: kc = {kc}, k2 = {k2}, beta = {beta}, bias = {withBias}");
                    }
        }
        finally
        {
            NativeMemory.AlignedFree(a); NativeMemory.AlignedFree(b); NativeMemory.AlignedFree(a2); NativeMemory.AlignedFree(b2);
        }
    }

    static float* Alloc(nint count, int seed)
    {
        float* p = (float*)NativeMemory.AlignedAlloc((nuint)(count + 16) * 4, 64);
        float[] v = GemmOracle.Random((int)count + 16, seed);
        for (int i = 0; i < v.Length; i++) p[i] = v[i];
        return p;
    }

    public static TheoryData<string, int, int, int> Shapes()
    {
        // m above the small-m paths (48), where the packed driver runs: pairs of A panels with 0, 1–5, 6 and 7–11 rows
        // left over, and an MC block (192) followed by a short one; n with 0–2 B panels left over after the pairs
        // (one alone: the 12×16 tile), and partial last panels; k across KC (512) so that beta = 1 k-blocks follow the first.
        var data = new TheoryData<string, int, int, int>();
        foreach (int m in new[] { 49, 54, 60, 61, 66, 71, 197 })
            foreach (int n in new[] { 10, 16, 31, 32, 33, 48, 64, 65, 80, 100 })
                data.Add(m == 197 || n == 100 ? "NT" : "NN", m, n, m == 197 ? 600 : 37);
        data.Add("TN", 72, 96, 513);
        data.Add("TT", 131, 47, 9);
        // The small-m paths (4 < m ≤ 48): row blocks for B not transposed (pairs of full 6-row tiles, balanced tiles
        // that are not), strips of 32 columns for B transposed.
        foreach (var (m, n) in new[] { (17, 96), (24, 100), (30, 33), (36, 65), (48, 64), (47, 160) })
        {
            data.Add("NN", m, n, m == 48 ? 300 : 40);
            data.Add("NT", m, n, m == 48 ? 600 : 40);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void SgemmGivesTheSameBitsWithAndWithoutTheWideTile(string op, int m, int n, int k)
    {
        var ta = op[0] == 'T' ? Transpose.Yes : Transpose.No;
        var tb = op[1] == 'T' ? Transpose.Yes : Transpose.No;
        float[] a = GemmOracle.Random(m * k, 1), b = GemmOracle.Random(k * n, 2), c0 = GemmOracle.Random(m * n, 3);
        int lda = ta == Transpose.No ? k : m, ldb = tb == Transpose.No ? n : k;
        foreach (float beta in new[] { 0f, 0.5f })
        {
            float[] narrow = Run(false), wide = Run(true);
            BitwiseEqual(narrow, wide, $"{op} {m}×{n}×{k}, beta = {beta}");
            if (beta != 0f) GemmOracle.AssertSgemm(ta, tb, m, n, k, 1.5f, a, lda, b, ldb, beta, c0, wide, n);

            float[] Run(bool useWide)
            {
                float[] c = (float[])c0.Clone();
                MacroKernelSwitches.WithWide(useWide, () => Gemm.Sgemm(ta, tb, m, n, k, 1.5f, a, lda, b, ldb, beta, c, n));
                return c;
            }
        }
    }

    [Theory]
    [InlineData(50, 70, 300, 8)]
    [InlineData(128, 96, 64, 4)]
    [InlineData(61, 33, 600, 16)]
    public void FusedLoraLayerGivesTheSameBitsWithAndWithoutTheWideTile(int n, int d, int k, int r)
    {
        // The fused forward's low-rank stretch rides in the tile's second stretch (k2 = r), and dx = [dy | s·g]·[W ; A]
        // runs the same way; every output must keep its bits.
        var lc = new LoraCase(n, d, k, r, 0.75f, bias: true, seed: 11);
        (float[] H, float[] Y, LoraCase.Grads G) Run(bool useWide)
        {
            (float[] H, float[] Y, LoraCase.Grads G) result = default;
            MacroKernelSwitches.WithWide(useWide, () =>
            {
                var (h, y) = lc.Forward();
                result = (h, y, lc.Backward(h, accumulate: true));
            });
            return result;
        }
        var narrow = Run(false);
        var wide = Run(true);
        BitwiseEqual(narrow.H, wide.H, "h");
        BitwiseEqual(narrow.Y, wide.Y, "y");
        BitwiseEqual(narrow.G.Dx, wide.G.Dx, "dx");
        BitwiseEqual(narrow.G.DA, wide.G.DA, "dA");
        BitwiseEqual(narrow.G.DB, wide.G.DB, "dB");
        lc.CheckForward(wide.H, wide.Y);
        lc.CheckBackward(wide.G, wide.H, accumulate: true);
    }

    [Theory]
    [InlineData(2, 3, 8, 8, 10, 8)]  // a 12-row pair straddling y's rows and h's
    [InlineData(1, 60, 8, 8, 24, 12)] // pairs within y and within h, two k-blocks
    [InlineData(1, 4, 7, 9, 40, 4)]  // 63 positions: one pair of B panels and a partial one
    public void FusedConvolutionGivesTheSameBitsWithAndWithoutTheWideTile(int n, int c, int h, int w, int cout, int r)
    {
        var cc = new ConvCase(n, c, h, w, cout, 3, 1, 1, r, bias: true, dropout: 0f, seed: 21);
        (float[] H, float[] Y) Run(bool useWide)
        {
            float[] hh = new float[cc.N * cc.R * cc.Plane], y = new float[cc.N * cc.Cout * cc.Plane];
            MacroKernelSwitches.WithWide(useWide, () => LoraConv.Forward(cc.N, cc.C, cc.H, cc.W, cc.Cout, cc.K, cc.K, cc.Stride,
                cc.Pad, cc.R, cc.S, cc.X, default, cc.Wt, cc.A, cc.B, cc.Bias, hh, y, default));
            return (hh, y);
        }
        var narrow = Run(false);
        var wide = Run(true);
        BitwiseEqual(narrow.H, wide.H, $"h {cc}");
        BitwiseEqual(narrow.Y, wide.Y, $"y {cc}");
        var (he, htol, ye, ytol) = cc.Forward(cc.X);
        KernelTestData.Close(wide.H, he, htol, $"h {cc}");
        KernelTestData.Close(wide.Y, ye, ytol, $"y {cc}");
    }
}

/// <summary>Runs a body with the macro-kernel's (or the thin outer products') wide-tile switch set, restoring it after. The tests that flip it share
/// one xunit collection, so they never flip it under each other; other tests running meanwhile are unaffected, as
/// both settings give the same bits.</summary>
[CollectionDefinition(nameof(MacroKernelSwitches))]
public sealed class MacroKernelSwitches
{
    static readonly object Gate = new();

    public static void WithWide(bool wide, Action body)
    {
        lock (Gate)
        {
            bool saved = GemmMacroKernel.Wide;
            GemmMacroKernel.Wide = wide && MicroKernel.UseAvx512;
            try { body(); }
            finally { GemmMacroKernel.Wide = saved; }
        }
    }

    /// <summary>As <see cref="WithWide"/>, for the small-batch path's AVX-512 tiles (<see cref="LoraSmallBatch.Wide"/>).</summary>
    public static void WithSmallBatchWide(bool wide, Action body)
    {
        lock (Gate)
        {
            bool saved = LoraSmallBatch.Wide;
            LoraSmallBatch.Wide = wide && MicroKernel.UseAvx512;
            try { body(); }
            finally { LoraSmallBatch.Wide = saved; }
        }
    }

    /// <summary>As <see cref="WithWide"/>, for the thin products' AVX-512 tiles (<see cref="LoraLowRank.Wide"/> and
    /// <see cref="LoraLowRank.WideDot"/>, both set).</summary>
    public static void WithLowRankWide(bool wide, Action body)
    {
        lock (Gate)
        {
            (bool savedOuter, bool savedDot) = (LoraLowRank.Wide, LoraLowRank.WideDot);
            LoraLowRank.Wide = wide && MicroKernel.UseAvx512;
            LoraLowRank.WideDot = wide && MicroKernel.UseAvx512 && System.Runtime.Intrinsics.X86.Avx512DQ.IsSupported;
            try { body(); }
            finally { (LoraLowRank.Wide, LoraLowRank.WideDot) = (savedOuter, savedDot); }
        }
    }
}
