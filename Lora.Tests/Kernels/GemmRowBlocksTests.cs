using Lora.Kernels;

namespace Lora.Tests.Kernels;

/// <summary>
/// The small-m row-block path (<see cref="GemmRowBlocks"/>, B not transposed): against the double oracle, bitwise
/// against the strip path it replaced (same k-blocks, so the same FMA chains), and bitwise for 1, 2 and 3 threads.
/// Small blocks (RowKc/RowNc set below the defaults) make modest shapes cross many block edges: k-blocks with a
/// remainder, kc not a multiple of the four row streams, partial column blocks and partial panels. These tests change
/// global settings, so they run in the serial collection.
/// </summary>
[Collection(global::Lora.Tests.SerialCollection.Name)]
public class GemmRowBlocksTests
{
    public static TheoryData<int, int, int, int, int, int> Shapes() => new()
    {
        // m, n, k, RowKc, RowNc, padding of B and C
        { 16, 1000, 300, 42, 96, 0 },   // kc 42 = 4·10 + 2; blocks of 96 columns, last one 40, last panel 8
        { 5, 333, 257, 128, 1024, 3 },  // the defaults: one partial column block, three k-blocks; ld > n
        { 17, 250, 130, 33, 64, 5 },    // kc 33 = 4·8 + 1, two k-blocks; last panel 10 wide
        { 48, 200, 61, 7, 48, 0 },      // kc 7 (one four-stream row each), partial row panels of A: 48 = 8·6
        { 29, 48, 19, 4, 16, 1 },       // one-panel blocks, 29 rows: row tiles of 5 and 6
        { 7, 100, 50, 16, 32, 0 },      // row tiles of 3 and 4
    };

    static float[] Run(int m, int n, int k, int padB, int threads, bool rowBlocks, int kc, int nc, float beta, out float[] a, out float[] b, out float[] c0)
        => Run(m, n, k, padB, threads, rowBlocks, kc, nc, beta, out a, out b, out c0, out _);

    static float[] Run(int m, int n, int k, int padB, int threads, bool rowBlocks, int kc, int nc, float beta, out float[] a, out float[] b, out float[] c0, out int parts)
    {
        int ldb = n + padB, ldc = n + padB;
        a = GemmOracle.Matrix(m, k, k, 11);
        b = GemmOracle.Matrix(k, n, ldb, 12);
        c0 = GemmOracle.Random(m * ldc + 3, 13);
        float[] c = (float[])c0.Clone();
        int rowKc = GemmRowBlocks.RowKc, rowNc = GemmRowBlocks.RowNc, stripKc = GemmBlocking.StripKc;
        long minFlops = GemmDriver.MinFlopsPerPart;
        GemmDriver.MinFlopsPerPart = 1 << 12; // so that these modest shapes split over every thread
        KernelThreads.Count = threads;
        GemmRowBlocks.Enabled = rowBlocks;
        GemmRowBlocks.RowKc = kc;
        GemmRowBlocks.RowNc = nc;
        GemmBlocking.StripKc = kc;
        try
        {
            Gemm.Sgemm(Transpose.No, Transpose.No, m, n, k, 0.75f, a, k, b, ldb, beta, c, ldc);
            parts = WorkerPool.LastParts;
        }
        finally
        {
            GemmDriver.MinFlopsPerPart = minFlops;
            KernelThreads.Reset();
            GemmRowBlocks.Enabled = true;
            GemmRowBlocks.RowKc = rowKc;
            GemmRowBlocks.RowNc = rowNc;
            GemmBlocking.StripKc = stripKc;
        }
        return c;
    }

    static void AssertBitwise(float[] expected, float[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R}.");
    }

    [Theory, MemberData(nameof(Shapes))]
    public void MatchesOracleStripsAndAnyThreadCount(int m, int n, int k, int kc, int nc, int pad)
    {
        Assert.True(m > GemmBlocking.AxpyMaxM && m <= GemmBlocking.StripMaxM); // the shapes take the small-m strip entry
        foreach (float beta in new[] { 0f, -0.5f })
        {
            float[] one = Run(m, n, k, pad, 1, true, kc, nc, beta, out float[] a, out float[] b, out float[] c0);
            GemmOracle.AssertSgemm(Transpose.No, Transpose.No, m, n, k, 0.75f, a, k, b, n + pad, beta, c0, one, n + pad);
            AssertBitwise(one, Run(m, n, k, pad, 1, false, kc, nc, beta, out _, out _, out _), $"strip path, beta {beta}");
            foreach (int threads in new[] { 2, 3 })
            {
                float[] many = Run(m, n, k, pad, threads, true, kc, nc, beta, out _, out _, out _, out int parts);
                Assert.Equal(threads, parts); // the work really was split
                AssertBitwise(one, many, $"{threads} threads, beta {beta}");
            }
        }
    }
}
