using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Lora.Kernels.GemmBlocking;

namespace Lora.Kernels;

/// <summary>
/// The small-m path for B not transposed (AVX2/FMA only; 4 &lt; m ≤ <see cref="GemmBlocking.StripMaxM"/>): B is
/// packed block by block, each block (RowKc rows × RowNc columns) read one whole row at a time, into NR-column
/// panels whose stride is padded off the power of two, and consumed by the usual macro-kernel right away.
/// </summary>
/// <remarks>
/// Why rows: the strip path read a 16-column strip of B down its rows; at a power-of-two row stride (n = 4096:
/// 16 KB) those lines all fall into one L1 set and a handful of L2 sets, and fetched lines evicted each other. Here
/// every row of a block is a sequential stream of RowNc·4 bytes (the hardware prefetcher's best case), four rows at a
/// time so that four streams are in flight (<see cref="PackRows"/>); the packed
/// panels are RowKc·NR + <see cref="RowPad"/> floats apart, so the NR-float stores that one B row scatters across the
/// panels fall into different sets too. Column blocks are outside the k-blocks: C's m×RowNc block stays in L2
/// while every k-block adds into it.
/// Bits: each element of C is the micro-kernel's FMA chain over the same k-blocks of RowKc in order, whatever its
/// column block or thread (the split is along n, in whole NR units), so the result does not depend on the thread
/// count; with RowKc = <see cref="GemmBlocking.StripKc"/> it is bitwise the strip path's (tested).
/// </remarks>
internal static unsafe class GemmRowBlocks
{
    /// <summary>On by default; a field only so that the benchmark and tests can compare with the strip path.</summary>
    internal static bool Enabled = true;
    /// <summary>Rows of B per block (the k-block).</summary>
    internal static int RowKc = 128;
    /// <summary>Columns of B per block (a multiple of NR): RowKc × RowNc floats, 2 MB. Whole rows of n = 4096 are
    /// read as 16 KB runs, which DRAM streams at 20–25 GB/s on one core against 14–15 GB/s for the 4 KB runs of
    /// 1024-column blocks; that outweighs a block that no longer fits the 512 KB L2 (its panels are read back from L3):
    /// m = 16 × 4096 × 4096 NN went from 0.85–1.03× OpenBLAS to 1.02–1.08× (docs/kernels.md, session 4).</summary>
    internal static int RowNc = 4096;
    /// <summary>Floats of padding after each packed panel (a multiple of 16, so panels stay 64-byte aligned).</summary>
    internal static int RowPad = 16;
    /// <summary>Row streams packed in lockstep: 4, or 1 (one row at a time).</summary>
    internal static int Streams = 4;
    /// <summary>Row tiles of nearly equal height (else MR rows and the rest); see <see cref="TileRow"/>.</summary>
    internal static bool Balanced = true;

    struct Plan
    {
        public int M, N, K, Kc, Nc, Pad, Streams, Tiles;
        public bool Balanced;
        public float* PackedA, B, C, Bias;
        public nint Ldb, Ldc;
        public float Alpha, Beta;
    }

    /// <summary>C (m×n) = alpha·op(A)·B + beta·C (+ bias), B (k×n) not transposed; requires AVX2/FMA.</summary>
    public static void Run(int m, int n, int k, in GemmOperand a, float* b, nint ldb, float alpha, float beta, float* c, nint ldc, float* bias)
    {
        int tiles = (m + MR - 1) / MR;
        bool balanced = Balanced;
        // op(A) is packed once, one MR panel (k×MR, zero-padded) per row tile.
        float* packedA = GemmBuffers.Current.Scratch(tiles * MR * k + 16);
        for (int g = 0; g < tiles; g++)
        {
            int r0 = TileRow(g, m, tiles, balanced), r1 = TileRow(g + 1, m, tiles, balanced);
            GemmPacking.PackA(a, r0, r1 - r0, 0, k, packedA + (nint)g * k * MR, (nint)k * MR);
        }
        var plan = new Plan
        {
            M = m, N = n, K = k, Kc = Math.Max(1, RowKc), Nc = Math.Max(NR, RowNc / NR * NR), Pad = RowPad, Streams = Streams,
            Tiles = tiles, Balanced = balanced,
            PackedA = packedA, B = b, Ldb = ldb, C = c, Ldc = ldc, Bias = bias, Alpha = alpha, Beta = beta,
        };
        int parts = GemmDriver.Parts(2L * m * n * k, (n + NR - 1) / NR);
        WorkerPool.Run(&RunPart, &plan, parts);
    }

    /// <summary>First row of tile g: MR-row tiles, except that a last tile of fewer than 4 rows shares rows with the one
    /// before it (6 + 2 → 4 + 4, 6 + 1 → 4 + 3): a tile of h rows has 2h accumulator chains, and fewer than 8 leave
    /// the FMA units waiting on latency, so 6 + 2 costs about as much as 6 + 4.</summary>
    static int TileRow(int g, int m, int tiles, bool balanced)
    {
        if (g >= tiles) return m;
        int last = m - (tiles - 1) * MR;
        if (!balanced || tiles == 1 || last >= 4 || g < tiles - 1) return g * MR;
        return (tiles - 2) * MR + (MR + last + 1) / 2;
    }

    static void RunPart(void* state, int part, int parts)
    {
        ref Plan plan = ref *(Plan*)state;
        var (n0, n1) = WorkerPool.Share(plan.N, NR, part, parts);
        if (n0 >= n1) return;
        int kc = plan.Kc, ncMax = plan.Nc;
        nint panelStride = (nint)kc * NR + plan.Pad;
        GemmBuffers buffers = GemmBuffers.Current;
        float* bp = buffers.PackB((int)(panelStride * (ncMax / NR)) + 16), tile = buffers.Tile(GemmMacroKernel.TileFloats);
        nint aStride = (nint)plan.K * MR;
        for (int jc = n0; jc < n1; jc += ncMax)
        {
            int nc = Math.Min(ncMax, n1 - jc);
            for (int pc = 0; pc < plan.K; pc += kc)
            {
                int kb = Math.Min(kc, plan.K - pc);
                bool first = pc == 0;
                PackRows(plan.B + pc * plan.Ldb + jc, plan.Ldb, kb, nc, bp, panelStride, plan.Streams);
                float beta = first ? plan.Beta : 1f;
                // As the macro-kernel: B panel outside (kept in L1), row tiles inside; with AVX-512, pairs of full B
                // panels against pairs of full 6-row tiles run the 12×32 tile (the same bits).
                bool wide = GemmMacroKernel.Wide;
                for (int jr = 0; jr < nc;)
                {
                    int nr = Math.Min(NR, nc - jr);
                    float* b = bp + (jr / NR) * panelStride, bias = first && plan.Bias != null ? plan.Bias + jc + jr : null;
                    bool pair = wide && nc - jr >= 2 * NR;
                    for (int g = 0; g < plan.Tiles; g++)
                    {
                        int r0 = TileRow(g, plan.M, plan.Tiles, plan.Balanced), h = TileRow(g + 1, plan.M, plan.Tiles, plan.Balanced) - r0;
                        float* a = plan.PackedA + g * aStride + (nint)pc * MR, c = plan.C + r0 * plan.Ldc + jc + jr;
                        if (pair && h == MR && g + 1 < plan.Tiles && TileRow(g + 2, plan.M, plan.Tiles, plan.Balanced) - r0 == 2 * MR)
                        {
                            MicroKernelAvx512.Kernel12x32(kb, a, aStride, b, panelStride, 0, null, 0, null, 0, c, plan.Ldc, plan.Alpha, beta, bias);
                            g++;
                        }
                        else if (pair)
                        {
                            Tile(h, nr, kb, a, aStride, b, panelStride, c, plan.Ldc, plan.Alpha, beta, bias, tile);
                            Tile(h, NR, kb, a, aStride, b + panelStride, panelStride, c + NR, plan.Ldc, plan.Alpha, beta, bias == null ? null : bias + NR, tile);
                        }
                        else Tile(h, nr, kb, a, aStride, b, panelStride, c, plan.Ldc, plan.Alpha, beta, bias, tile);
                    }
                    jr += pair ? 2 * NR : NR;
                }
            }
        }
    }

    /// <summary>One row tile (h ≤ MR rows) against one B panel of nr columns.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    static void Tile(int h, int nr, int kb, float* a, nint aStride, float* b, nint panelStride, float* c, nint ldc, float alpha,
        float beta, float* bias, float* tile)
    {
        if (nr < NR) GemmMacroKernel.Run(h, nr, kb, a, aStride, b, panelStride, c, ldc, alpha, beta, bias, tile);
        else if (h == MR) MicroKernel.Run(kb, a, b, c, ldc, alpha, beta, bias);
        else MicroKernelAvx2Rows.Run(h, kb, a, b, c, ldc, alpha, beta, bias);
    }

    /// <summary>Packs B[0..kc, 0..nc] (row stride ldb) into NR-column panels every panelStride floats, element (p, j)
    /// of panel t at p·NR + j, zero-padded past column nc. Reads each row once, left to right.</summary>
    /// <param name="streams">4: rows p, p + q, p + 2q, p + 3q (q = kc/4) are copied in lockstep, four sequential DRAM
    /// streams in flight instead of one (m = 16: 44–47 GF/s against 31–33); 1: one row after the other.</param>
    internal static void PackRows(float* b, nint ldb, int kc, int nc, float* dst, nint panelStride, int streams)
    {
        int full = nc / NR, rest = nc - full * NR;
        if (streams == 4 && kc >= 4)
        {
            int q = kc / 4;
            nint q1 = q * ldb, q2 = 2 * q1, q3 = 3 * q1, d1 = q * NR, d2 = 2 * d1, d3 = 3 * d1;
            for (int p = 0; p < q; p++, b += ldb, dst += NR)
            {
                float* s = b, d = dst;
                for (int t = 0; t < full; t++, s += NR, d += panelStride)
                {
                    Vector256<float> x0 = Vector256.Load(s), x1 = Vector256.Load(s + 8), y0 = Vector256.Load(s + q1), y1 = Vector256.Load(s + q1 + 8);
                    Vector256<float> z0 = Vector256.Load(s + q2), z1 = Vector256.Load(s + q2 + 8), w0 = Vector256.Load(s + q3), w1 = Vector256.Load(s + q3 + 8);
                    Vector256.Store(x0, d); Vector256.Store(x1, d + 8); Vector256.Store(y0, d + d1); Vector256.Store(y1, d + d1 + 8);
                    Vector256.Store(z0, d + d2); Vector256.Store(z1, d + d2 + 8); Vector256.Store(w0, d + d3); Vector256.Store(w1, d + d3 + 8);
                }
                if (rest > 0)
                    for (int r = 0; r < 4; r++)
                    {
                        int j = 0;
                        for (; j < rest; j++) d[r * d1 + j] = s[r * q1 + j];
                        for (; j < NR; j++) d[r * d1 + j] = 0f;
                    }
            }
            b += 3 * q1;
            dst += 3 * d1;
            kc -= 4 * q;
        }
        for (int p = 0; p < kc; p++, b += ldb, dst += NR)
        {
            float* s = b, d = dst;
            for (int t = 0; t < full; t++, s += NR, d += panelStride)
            {
                Vector256.Store(Vector256.Load(s), d);
                Vector256.Store(Vector256.Load(s + 8), d + 8);
            }
            if (rest > 0)
            {
                int j = 0;
                for (; j < rest; j++) d[j] = s[j];
                for (; j < NR; j++) d[j] = 0f;
            }
        }
    }
}
