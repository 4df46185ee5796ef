using Lora.Kernels;

namespace Lora.Tests.Kernels;

/// <summary>
/// The internal pieces the fused LoRA kernels build on: a pre-packed B, an inner dimension made of two segments,
/// and the per-column bias epilogue, each against the double oracle (and pre-packing bitwise against packing per block).
/// </summary>
public unsafe class GemmBuildingBlockTests
{
    [Theory]
    [InlineData(Transpose.No, 37, 45, 300)]
    [InlineData(Transpose.Yes, 37, 45, 300)]
    [InlineData(Transpose.Yes, 100, 33, 17)]
    [InlineData(Transpose.No, 19, 4100, 40)] // crosses an NC block
    [InlineData(Transpose.Yes, 130, 40, 513)]
    [InlineData(Transpose.No, 130, 40, 513)]
    public void PrePackedBMatchesPackingPerBlockBitwise(Transpose tb, int m, int n, int k)
    {
        int ldb = tb == Transpose.No ? n : k;
        float[] a = GemmOracle.Random(m * k, 1), b = GemmOracle.Random(k * n, 2);
        float[] expected = new float[m * n], c = new float[m * n];
        var packed = new GemmPackedB();
        packed.Pack(tb, k, n, b, ldb);
        // The same driver with B packed per block (Sgemm itself may take the small-m strip path, blocked differently).
        fixed (float* pa = a, pb = b, pe = expected, pc = c)
        {
            var perBlock = new GemmPlan
            {
                M = m, N = n, Alpha = 1.5f, Beta = 0f, C = pe, Ldc = n,
                Segment0 = new GemmSegment { K = k, A = new GemmOperand(pa, k, false), B = new GemmOperand(pb, ldb, tb == Transpose.Yes) },
            };
            GemmDriver.Run(ref perBlock);
            var plan = new GemmPlan
            {
                M = m, N = n, Alpha = 1.5f, Beta = 0f, C = pc, Ldc = n,
                Segment0 = new GemmSegment { K = k, A = new GemmOperand(pa, k, false), PackedB = packed.Data },
            };
            GemmDriver.Run(ref plan);
        }
        GemmOracle.AssertSgemm(Transpose.No, tb, m, n, k, 1.5f, a, k, b, ldb, 0f, new float[m * n], c, n);
        GC.KeepAlive(packed); // plan held only a raw pointer into it
        Assert.Equal(expected, c);
    }

    [Theory]
    [InlineData(50, 70, 300, 8, true)]
    [InlineData(23, 17, 5, 64, false)]
    [InlineData(130, 40, 513, 3, true)]
    [InlineData(130, 40, 513, 0, true)]
    [InlineData(130, 40, 513, 3, false)]
    [InlineData(10, 40, 513, 3, true)]
    public void TwoSegmentsAndBiasMatchTheConcatenatedProduct(int m, int n, int k0, int k1, bool prepack)
    {
        // C = [A0 | A1]·[B0 ; B1] + bias, with B0 given as W (n×k0, used transposed) like a LoRA weight and B1 as
        // the low-rank factor (n×k1, transposed). The oracle sees one product over k0 + k1 + 1: the bias is the
        // last inner column (A column of ones times a B row of bias), which bounds its one extra rounding.
        int k = k0 + k1 + 1;
        float[] a0 = GemmOracle.Random(m * k0, 1), a1 = GemmOracle.Random(m * k1, 2);
        float[] w = GemmOracle.Random(n * k0, 3), bl = GemmOracle.Random(n * k1, 4), bias = GemmOracle.Random(n, 5);
        var (aCat, bCat) = GemmOracle.Concatenated(m, n, k0, k1, a0, a1, w, bl, bias);
        float[] c0 = GemmOracle.Random(m * n, 6), c = (float[])c0.Clone();
        var packed = new GemmPackedB();
        packed.Pack(Transpose.Yes, k0, n, w, k0);
        fixed (float* pa0 = a0, pa1 = a1, pw = w, pbl = bl, pbias = bias, pc = c)
        {
            var plan = new GemmPlan
            {
                M = m, N = n, Alpha = 1f, Beta = 0f, C = pc, Ldc = n, Bias = pbias,
                Segment0 = new GemmSegment
                {
                    K = k0, A = new GemmOperand(pa0, k0, false), B = new GemmOperand(pw, k0, true),
                    PackedB = prepack ? packed.Data : null,
                },
                Segment1 = new GemmSegment { K = k1, A = new GemmOperand(pa1, k1, false), B = new GemmOperand(pbl, k1, true) },
            };
            GemmDriver.Run(ref plan);
        }
        GC.KeepAlive(packed);
        GemmOracle.AssertSgemm(Transpose.No, Transpose.No, m, n, k, 1f, aCat, k, bCat, n, 0f, c0, c, n);
    }

    [Fact]
    public void SmallMPathAddsBias()
    {
        if (!MicroKernel.UseAvx2) return; // the small-m path exists only with AVX2/FMA
        int m = 3, n = 41, k = 70;
        float[] a = GemmOracle.Random(m * k, 1), b = GemmOracle.Random(n * k, 2), bias = GemmOracle.Random(n, 3);
        float[] aCat = new float[m * (k + 1)], bCat = new float[n * (k + 1)]; // B stored n×(k+1), used transposed
        for (int i = 0; i < m; i++) { a.AsSpan(i * k, k).CopyTo(aCat.AsSpan(i * (k + 1))); aCat[i * (k + 1) + k] = 1f; }
        for (int j = 0; j < n; j++) { b.AsSpan(j * k, k).CopyTo(bCat.AsSpan(j * (k + 1))); bCat[j * (k + 1) + k] = bias[j]; }
        foreach (bool trans in new[] { false, true })
        {
            float[] bt = trans ? b : Transposed(b, n, k);
            float[] c0 = new float[m * n], c = new float[m * n];
            fixed (float* pa = a, pb = bt, pbias = bias, pc = c)
            {
                var plan = new SmallMPlan
                {
                    M = m, N = n, K = k, A = new GemmOperand(pa, k, false), B = new GemmOperand(pb, trans ? k : n, trans),
                    Alpha = 1f, Beta = 0f, C = pc, Ldc = n, Bias = pbias,
                };
                GemmSmallM.Run(ref plan);
            }
            GemmOracle.AssertSgemm(Transpose.No, Transpose.Yes, m, n, k + 1, 1f, aCat, k + 1, bCat, k + 1, 0f, c0, c, n);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(64)]
    public void PartialPanelKernelMatchesTheZeroPaddedTileBitwise(int kc)
    {
        if (!MicroKernel.UseAvx2) return; // the partial-row kernel is AVX2/FMA only; the fallback always pads
        // Rows mr..5 of the A panel hold NaN: the padded 6×16 tile must not see them either (it sees zeros), and
        // the partial kernel must not read them into any live row.
        const int MR = GemmBlocking.MR, NR = GemmBlocking.NR, ldc = NR + 3;
        float* a = stackalloc float[kc * MR + 16], b = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(kc * NR * 4), 32);
        try
        {
            float[] bias = GemmOracle.Random(NR, 9);
            for (int mr = 1; mr < MR; mr++)
                foreach (float beta in new[] { 0f, 0.5f })
                    foreach (bool withBias in new[] { false, true })
                    {
                        float[] av = GemmOracle.Random(kc * MR, mr), bv = GemmOracle.Random(kc * NR, 10 + mr);
                        float[] c0 = GemmOracle.Random(MR * ldc, 20 + mr), rows = (float[])c0.Clone(), padded = new float[MR * NR];
                        for (int r = 0; r < mr; r++) Array.Copy(c0, r * ldc, padded, r * NR, NR);
                        fixed (float* pc = rows, pt = padded, pbias = bias)
                        {
                            for (int i = 0; i < kc * NR; i++) b[i] = bv[i];
                            for (int p = 0; p < kc; p++)
                                for (int r = 0; r < MR; r++) a[p * MR + r] = r < mr ? av[p * MR + r] : float.NaN;
                            MicroKernelAvx2Rows.Run(mr, kc, a, b, pc, ldc, 1.25f, beta, withBias ? pbias : null);
                            for (int p = 0; p < kc; p++)
                                for (int r = mr; r < MR; r++) a[p * MR + r] = 0f;
                            MicroKernelAvx2.Kernel6x16(kc, a, b, pt, NR, 1.25f, beta, withBias ? pbias : null);
                        }
                        for (int r = 0; r < MR; r++)
                            for (int j = 0; j < ldc; j++)
                            {
                                // Live rows equal the padded tile bit for bit; dead rows and the padding of C are untouched.
                                float expected = r < mr && j < NR ? padded[r * NR + j] : c0[r * ldc + j];
                                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(rows[r * ldc + j]),
                                    $"mr = {mr}, beta = {beta}, bias = {withBias}: C[{r}, {j}] = {rows[r * ldc + j]:R}, expected {expected:R}");
                            }
                    }
        }
        finally { System.Runtime.InteropServices.NativeMemory.AlignedFree(b); }
    }

    static float[] Transposed(float[] x, int rows, int cols)
    {
        var t = new float[x.Length];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) t[j * rows + i] = x[i * cols + j];
        return t;
    }
}
