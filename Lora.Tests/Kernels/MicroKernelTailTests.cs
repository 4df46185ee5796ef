using System.Runtime.InteropServices;
using Lora.Kernels;

namespace Lora.Tests.Kernels;

/// <summary>
/// The two-stretch micro-kernels (a short second A/B panel pair accumulated into the same registers, one epilogue)
/// and the driver's use of them for a pre-packed second segment: bitwise against the one-stretch kernels on the
/// concatenated panels, and the driver against the double oracle.
/// </summary>
public unsafe class MicroKernelTailTests
{
    const int MR = GemmBlocking.MR, NR = GemmBlocking.NR;

    static bool Same(float x, float y) => BitConverter.SingleToInt32Bits(x) == BitConverter.SingleToInt32Bits(y);

    [Theory]
    [InlineData(1, 1)]
    [InlineData(6, 8)]
    [InlineData(9, 3)]
    [InlineData(64, 64)]
    public void TailKernelsEqualOneKernelOverTheConcatenatedPanelsBitwise(int kc, int k2)
    {
        // Each element is one FMA chain over kc + k2 steps in order either way, so the bits must agree exactly, for
        // the full tile (AVX2 or the portable fallback, whichever runs), the AVX2 6×16 tile and every partial row count.
        int k = kc + k2, ldc = NR + 5;
        float* a = (float*)NativeMemory.AlignedAlloc((nuint)(k * MR + 16) * 4, 64);
        float* b = (float*)NativeMemory.AlignedAlloc((nuint)(k * NR + 16) * 4, 64);
        float* a2 = (float*)NativeMemory.AlignedAlloc((nuint)(k2 * MR + 16) * 4, 64);
        float* b2 = (float*)NativeMemory.AlignedAlloc((nuint)(k2 * NR + 16) * 4, 64);
        try
        {
            float[] av = GemmOracle.Random(k * MR, kc), bv = GemmOracle.Random(k * NR, k2 + 100), bias = GemmOracle.Random(NR, 7);
            for (int i = 0; i < k * MR; i++) a[i] = av[i];
            for (int i = 0; i < k * NR; i++) b[i] = bv[i];
            for (int i = 0; i < k2 * MR; i++) a2[i] = av[kc * MR + i];
            for (int i = 0; i < k2 * NR; i++) b2[i] = bv[kc * NR + i];
            foreach (float beta in new[] { 0f, 0.75f })
                foreach (bool withBias in new[] { false, true })
                    fixed (float* pbias = bias)
                    {
                        float* bi = withBias ? pbias : null;
                        string what = $"kc = {kc}, k2 = {k2}, beta = {beta}, bias = {withBias}";
                        Compare((c, l) => MicroKernel.Run(k, a, b, c, l, 1.25f, beta, bi),
                            (c, l) => MicroKernel.RunTail(kc, a, b, k2, a2, b2, c, l, 1.25f, beta, bi), MR, ldc, what);
                        if (!MicroKernel.UseAvx2) continue;
                        Compare((c, l) => MicroKernelAvx2.Kernel6x16(k, a, b, c, l, 1.25f, beta, bi),
                            (c, l) => MicroKernelAvx2.Kernel6x16Tail(kc, a, b, k2, a2, b2, c, l, 1.25f, beta, bi), MR, ldc, what);
                        for (int mr = 1; mr < MR; mr++)
                        {
                            int rows = mr;
                            Compare((c, l) => MicroKernelAvx2Rows.Run(rows, k, a, b, c, l, 1.25f, beta, bi),
                                (c, l) => MicroKernelAvx2Rows.RunTail(rows, kc, a, b, k2, a2, b2, c, l, 1.25f, beta, bi), MR, ldc, $"{what}, mr = {mr}");
                        }
                    }
        }
        finally
        {
            NativeMemory.AlignedFree(a); NativeMemory.AlignedFree(b); NativeMemory.AlignedFree(a2); NativeMemory.AlignedFree(b2);
        }
    }

    delegate void Tile(float* c, nint ldc);

    static void Compare(Tile one, Tile two, int rows, int ldc, string what)
    {
        float[] c1 = GemmOracle.Random(rows * ldc, 5), c2 = (float[])c1.Clone();
        fixed (float* p1 = c1, p2 = c2)
        {
            one(p1, ldc);
            two(p2, ldc);
        }
        for (int i = 0; i < c1.Length; i++)
            Assert.True(Same(c1[i], c2[i]), $"{what}: C[{i / ldc}, {i % ldc}] = {c2[i]:R}, one stretch gives {c1[i]:R}");
    }

    [Theory]
    [InlineData(50, 70, 300, 8, 0)]     // one k-block of 300 plus the tail
    [InlineData(131, 45, 300, 64, 128)] // k-blocks 128, 128, 44 (the last with the tail); partial rows and columns
    [InlineData(23, 33, 5, 1, 0)]
    public void PrePackedSecondSegmentRidesAlongTheLastKBlock(int m, int n, int k0, int k1, int kc)
    {
        // C = [A0 | A1]·[W | L]ᵀ + bias + 0.5·C0 with W pre-packed (a LoRA weight) and A1, L pre-packed whole: the
        // driver must fold segment 1 into segment 0's last k-block (plan.Tail) and agree with the double oracle; the
        // oracle's extra inner column of ones times the bias row bounds the bias's one rounding.
        int k = k0 + k1 + 1;
        float[] a0 = GemmOracle.Random(m * k0, 1), a1 = GemmOracle.Random(m * k1, 2);
        float[] w = GemmOracle.Random(n * k0, 3), l = GemmOracle.Random(n * k1, 4), bias = GemmOracle.Random(n, 5);
        var (aCat, bCat) = GemmOracle.Concatenated(m, n, k0, k1, a0, a1, w, l, bias);
        float[] c0 = GemmOracle.Random(m * n, 6), c = (float[])c0.Clone();
        var packedW = new GemmPackedB();
        packedW.Pack(Transpose.Yes, k0, n, w, k0);
        var packedL = new GemmPackedB();
        packedL.Pack(Transpose.Yes, k1, n, l, k1);
        float* packedA1 = (float*)NativeMemory.AlignedAlloc((nuint)(((m + MR - 1) / MR * MR * k1 + 16) * 4), 64);
        try
        {
            fixed (float* pa0 = a0, pa1 = a1, pbias = bias, pc = c)
            {
                GemmPacking.PackA(new GemmOperand(pa1, k1, false), 0, m, 0, k1, packedA1, (nint)k1 * MR);
                var plan = new GemmPlan
                {
                    M = m, N = n, Alpha = 1f, Beta = 0.5f, C = pc, Ldc = n, Bias = pbias, Kc = kc,
                    Segment0 = new GemmSegment { K = k0, A = new GemmOperand(pa0, k0, false), PackedB = packedW.Data },
                    Segment1 = new GemmSegment { K = k1, PackedA = packedA1, PackedB = packedL.Data },
                };
                GemmDriver.Run(ref plan);
                Assert.Equal(k1, plan.Tail.K); // it did ride along
                Assert.Equal(0, plan.Segment1.K);
            }
        }
        finally
        {
            NativeMemory.AlignedFree(packedA1);
        }
        GC.KeepAlive(packedW);
        GC.KeepAlive(packedL);
        GemmOracle.AssertSgemm(Transpose.No, Transpose.No, m, n, k, 1f, aCat, k, bCat, n, 0.5f, c0, c, n);
    }
}
