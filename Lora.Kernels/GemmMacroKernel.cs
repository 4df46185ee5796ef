using System.Runtime.CompilerServices;
using static Lora.Kernels.GemmBlocking;

namespace Lora.Kernels;

/// <summary>
/// A short second stretch of the inner dimension run inside the same micro-kernel calls as a k-block (the fused
/// LoRA layer's low-rank term): K steps of packed A panels (panel t at A + t·K·MR) and packed B panels (panel t at
/// B + t·K·NR), A and B pointing at the block's first row panel and first column panel. K = 0: none.
/// </summary>
internal unsafe struct GemmTail
{
    /// <summary>Steps of the stretch (0 = no tail).</summary>
    public int K;
    /// <summary>Packed A panels of the stretch (K×MR each, consecutive), from the block's first row.</summary>
    public float* A;
    /// <summary>Packed B panels of the stretch (K×NR each, consecutive, 32-byte aligned), from the block's first column.</summary>
    public float* B;
}

/// <summary>The macro-kernel: one packed mc×kc block of A times one packed kc×nc block of B into C.</summary>
internal static unsafe class GemmMacroKernel
{
    /// <summary>On by default; a field only so that the benchmark can time the zero-padded edge path in one run.</summary>
    internal static bool PartialRows = true;

    /// <summary>True (where the CPU has AVX-512) when pairs of B panels run the 12×32 AVX-512 tile; a field only so
    /// that the tests and the benchmark can run the 6×16 path on the same machine (same bits either way).</summary>
    internal static bool Wide = MicroKernel.UseAvx512;

    /// <summary>On by default: the rows left below the pairs of A panels run <see cref="WideEdge"/>; a field only so
    /// that the benchmark can time them on the 6×16 path in the same run (same bits).</summary>
    internal static bool WideEdges = true;

    /// <summary>On by default: on pre-packed weights the 12×32 tile calls prefetch the next pair of B panels into L2
    /// (<see cref="MicroKernelAvx512.Kernel12x32{TNext}"/>), and on the 6×16 path the first four calls on a panel the
    /// next panel (<see cref="MicroKernelAvx2.Kernel6x16Tail{TNext}"/>); a field only so that the benchmark can time it
    /// (same bits).</summary>
    internal static bool NextPanels = true;

    /// <summary>On by default (with <see cref="Wide"/>): a single B panel runs the 12×16 AVX-512 tile over pairs of A
    /// panels; a field only so that the benchmark can time the 6×16 path in the same run (same bits).</summary>
    internal static bool WideSingle = true;

    /// <summary>Floats of the edge-tile scratch that <see cref="Run(int, int, int, float*, nint, float*, nint, float*, nint, float, float, float*, float*)"/>
    /// needs: a 12×32 tile (the 6×16 edge tile and its bias row fit in it too).</summary>
    public const int TileFloats = 2 * MR * 2 * NR;

    /// <summary>
    /// C (mc×nc, row stride ldc) = alpha·Ap·Bp + beta·C (+ bias). ap: first packed A panel, the next ones every
    /// aPanelStride floats (<see cref="GemmPacking.PackA"/>);
    /// bp: first packed B panel, the next ones every bPanelStride floats. beta == 0 never reads C.
    /// tile: <see cref="TileFloats"/> floats of scratch for edge tiles. bias: nc values or null.
    /// </summary>
    /// <remarks>
    /// Loop order jr (B panel, kept in L1) outside ir (A panels, streamed from L2). A partial panel of A against a
    /// full panel of B runs <see cref="MicroKernelAvx2Rows"/> on its live rows only; other edge tiles run the same
    /// micro-kernel on a zero-padded copy of the C tile. Either way an element's bits never depend on its tile.
    /// With AVX-512, two full B panels at a time run <see cref="MicroKernelAvx512"/> over two A panels at a time;
    /// the 3–11 rows left over run <see cref="WideEdge"/>, 1–2 rows the 6×16 path; a single B panel runs
    /// <see cref="Single"/> over pairs of A panels and the 6×16 path below them: the same bits as the 6×16 path
    /// everywhere.
    /// </remarks>
    public static void Run(int mc, int nc, int kc, float* ap, nint aPanelStride, float* bp, nint bPanelStride,
        float* c, nint ldc, float alpha, float beta, float* bias, float* tile)
        => Run(mc, nc, kc, ap, aPanelStride, bp, bPanelStride, default, c, ldc, alpha, beta, bias, tile, false);

    /// <summary>As above, with <paramref name="tail"/>'s stretch accumulated after the kc steps in every micro-kernel
    /// call (<see cref="MicroKernel.RunTail"/>): C = alpha·(Ap·Bp + A2·B2) + beta·C (+ bias), one pass over C.
    /// prefetchNext: the B panels come from memory (a pre-packed weight, which does not fit in L2), so each 12×32 tile
    /// call asks a slice of the next pair into L2 (<see cref="NextSlice"/>) and the first call on it does not wait on
    /// L3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int mc, int nc, int kc, float* ap, nint aPanelStride, float* bp, nint bPanelStride, in GemmTail tail,
        float* c, nint ldc, float alpha, float beta, float* bias, float* tile, bool prefetchNext)
    {
        int k2 = tail.K;
        nint a2Stride = (nint)k2 * MR, b2Stride = (nint)k2 * NR;
        float* b2 = tail.B;
        bool wide = Wide;
        for (int jr = 0; jr < nc;)
        {
            float* biasJ = bias == null ? null : bias + jr;
            if (wide && nc - jr >= 2 * NR)
            {
                int ir = 0;
                float* a = ap, a2 = tail.A;
                bool hasNext = prefetchNext && nc - jr >= 4 * NR, dense = mc < 8 * 2 * MR;
                for (int call = 0; ir + 2 * MR <= mc; ir += 2 * MR, a += 2 * aPanelStride, a2 += 2 * a2Stride, call++)
                {
                    float* pf = hasNext ? NextSlice(call, dense, kc, bp, bPanelStride) : null;
                    if (pf != null && dense)
                        MicroKernelAvx512.Kernel12x32<NextFour>(kc, a, aPanelStride, bp, bPanelStride, k2, a2, a2Stride, b2, b2Stride,
                            c + ir * ldc + jr, ldc, alpha, beta, biasJ, pf);
                    else if (pf != null)
                        MicroKernelAvx512.Kernel12x32<NextOne>(kc, a, aPanelStride, bp, bPanelStride, k2, a2, a2Stride, b2, b2Stride,
                            c + ir * ldc + jr, ldc, alpha, beta, biasJ, pf);
                    else
                        MicroKernelAvx512.Kernel12x32(kc, a, aPanelStride, bp, bPanelStride, k2, a2, a2Stride, b2, b2Stride,
                            c + ir * ldc + jr, ldc, alpha, beta, biasJ);
                }
                if (ir < mc && (!WideEdges || mc - ir <= 2))
                {
                    Panel(ir, mc, NR, kc, a, aPanelStride, bp, k2, a2, a2Stride, b2, c + jr, ldc, alpha, beta, biasJ, tile);
                    Panel(ir, mc, NR, kc, a, aPanelStride, bp + bPanelStride, k2, a2, a2Stride, b2 + b2Stride, c + jr + NR, ldc,
                        alpha, beta, biasJ == null ? null : biasJ + NR, tile);
                }
                else if (ir < mc)
                    WideEdge(mc - ir, kc, a, aPanelStride, bp, bPanelStride, k2, a2, a2Stride, b2, b2Stride, c + ir * ldc + jr, ldc,
                        alpha, beta, biasJ, tile);
                jr += 2 * NR; bp += 2 * bPanelStride; b2 += 2 * b2Stride;
            }
            else
            {
                int nr = Math.Min(NR, nc - jr), ir = 0;
                float* a = ap, a2 = tail.A;
                if (wide && WideSingle)
                    for (; ir + 2 * MR <= mc; ir += 2 * MR, a += 2 * aPanelStride, a2 += 2 * a2Stride)
                        Single(nr, kc, a, aPanelStride, bp, k2, a2, a2Stride, b2, c + ir * ldc + jr, ldc, alpha, beta, biasJ, tile);
                // On the 6×16 path the tile calls on this panel prefetch the next one, as the 12×32 calls do a pair.
                float* nextPanel = prefetchNext && !wide && nc - jr >= 2 * NR ? bp + bPanelStride : null;
                Panel(ir, mc, nr, kc, a, aPanelStride, bp, k2, a2, a2Stride, b2, c + jr, ldc, alpha, beta, biasJ, tile, nextPanel);
                jr += NR; bp += bPanelStride; b2 += b2Stride;
            }
        }
    }

    /// <summary>
    /// What tile call <paramref name="call"/> on the pair of B panels at <paramref name="b"/> prefetches, or null for
    /// nothing. A <see cref="NextOne"/> tile call asks for kc/4 lines, a quarter of one panel's kc×16 floats, so calls
    /// 0–3 cover the next pair's first panel (b + 2·stride on) and 4–7 its second (b + 3·stride on), each panel's
    /// stretch of this k-block only. With fewer than eight calls per pair (<paramref name="dense"/>: under 96 rows) a
    /// <see cref="NextFour"/> call asks for a whole panel's stretch, calls 0 and 1 one panel each.
    /// </summary>
    static float* NextSlice(int call, bool dense, int kc, float* b, nint bStride) =>
        dense ? (call < 2 ? b + (2 + call) * bStride : null)
        : call < 4 ? b + 2 * bStride + (nint)call * (kc / 4) * 16
        : call < 8 ? b + 3 * bStride + (nint)(call - 4) * (kc / 4) * 16
        : null;

    /// <summary>
    /// The 3–11 rows left below the pairs of A panels, against a pair of full B panels: exactly 6 run the 6×32 tile
    /// in place; otherwise the 12×32 (7–11 rows) or 6×32 tile runs on the zero-padded panels into
    /// <paramref name="tile"/> (C's live rows copied in when beta ≠ 0) and the live rows are copied back. The padded
    /// rows' work is wasted, but at AVX-512 speed. Against the 6×16 path for those rows (two 6×16 tiles and a
    /// partial-row tile per pair of B panels, 8.5 % of the MLP step in perf record for 8 of m = 128 rows), in the same
    /// run (<c>quick gemm --alt narrow-edges --reps 21</c>, NN × 1024 × 1024): m = 56 and 66 2–7 % faster, m = 128
    /// 0–3 %; with 1 row left (m = 61) 1–5 % slower, so 1–2 rows keep the 6×16 path. Same bits either way.
    /// </summary>
    static void WideEdge(int rows, int kc, float* a, nint aStride, float* b, nint bStride, int k2, float* a2, nint a2Stride,
        float* b2, nint b2Stride, float* c, nint ldc, float alpha, float beta, float* bias, float* tile)
    {
        if (rows == MR)
        {
            MicroKernelAvx512.Kernel6x32(kc, a, b, bStride, k2, a2, b2, b2Stride, c, ldc, alpha, beta, bias);
            return;
        }
        const int Ld = 2 * NR;
        int height = rows > MR ? 2 * MR : MR;
        if (beta != 0f)
        {
            for (int r = 0; r < rows; r++) new ReadOnlySpan<float>(c + r * ldc, Ld).CopyTo(new Span<float>(tile + r * Ld, Ld));
            new Span<float>(tile + rows * Ld, (height - rows) * Ld).Clear();
        }
        if (height == 2 * MR) MicroKernelAvx512.Kernel12x32(kc, a, aStride, b, bStride, k2, a2, a2Stride, b2, b2Stride, tile, Ld, alpha, beta, bias);
        else MicroKernelAvx512.Kernel6x32(kc, a, b, bStride, k2, a2, b2, b2Stride, tile, Ld, alpha, beta, bias);
        for (int r = 0; r < rows; r++) new ReadOnlySpan<float>(tile + r * Ld, Ld).CopyTo(new Span<float>(c + r * ldc, Ld));
    }

    /// <summary>
    /// Twelve rows (a pair of A panels) against a single B panel of nr ≤ 16 live columns: the 12×16 tile, in place
    /// when the panel is full, else on a zero-padded copy in <paramref name="tile"/> (C's live columns copied in when
    /// beta ≠ 0, the bias into a padded row), as <see cref="Edge"/> does for the 6×16 tile. Same bits either way.
    /// </summary>
    static void Single(int nr, int kc, float* a, nint aStride, float* b, int k2, float* a2, nint a2Stride, float* b2,
        float* c, nint ldc, float alpha, float beta, float* bias, float* tile)
    {
        if (nr == NR)
        {
            MicroKernelAvx512.Kernel12x16(kc, a, aStride, b, k2, a2, a2Stride, b2, c, ldc, alpha, beta, bias);
            return;
        }
        const int Rows = 2 * MR;
        float* tileBias = tile + Rows * NR;
        new Span<float>(tile, Rows * NR + NR).Clear();
        if (beta != 0f)
            for (int r = 0; r < Rows; r++) new ReadOnlySpan<float>(c + r * ldc, nr).CopyTo(new Span<float>(tile + r * NR, nr));
        if (bias != null) new ReadOnlySpan<float>(bias, nr).CopyTo(new Span<float>(tileBias, nr));
        MicroKernelAvx512.Kernel12x16(kc, a, aStride, b, k2, a2, a2Stride, b2, tile, NR, alpha, beta, bias == null ? null : tileBias);
        for (int r = 0; r < Rows; r++) new ReadOnlySpan<float>(tile + r * NR, nr).CopyTo(new Span<float>(c + r * ldc, nr));
    }

    /// <summary>Rows ir..mc of one B panel's nr columns (c: the panel's first column, row 0; a, a2: the packed A
    /// panels of row ir).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Panel(int ir, int mc, int nr, int kc, float* a, nint aPanelStride, float* bp, int k2, float* a2, nint a2Stride,
        float* b2, float* c, nint ldc, float alpha, float beta, float* biasJ, float* tile, float* nextPanel = null)
    {
        for (int call = 0; ir < mc; ir += MR, a += aPanelStride, a2 += a2Stride, call++)
        {
            int mr = Math.Min(MR, mc - ir);
            float* cij = c + ir * ldc;
            if (mr == MR && nr == NR)
            {
                // Calls 0–3 ask a quarter each of the next panel's stretch into L2 (kc/4 lines per call).
                if (nextPanel != null && call < 4)
                    MicroKernel.RunTailNext(kc, a, bp, k2, a2, b2, cij, ldc, alpha, beta, biasJ, nextPanel + (nint)call * (kc / 4) * 16);
                else if (k2 == 0) MicroKernel.Run(kc, a, bp, cij, ldc, alpha, beta, biasJ);
                else MicroKernel.RunTail(kc, a, bp, k2, a2, b2, cij, ldc, alpha, beta, biasJ);
            }
            else if (nr == NR && MicroKernel.UseAvx2 && PartialRows)
                MicroKernelAvx2Rows.RunTail(mr, kc, a, bp, k2, a2, b2, cij, ldc, alpha, beta, biasJ);
            else Edge(mr, nr, kc, a, bp, k2, a2, b2, cij, ldc, alpha, beta, biasJ, tile);
        }
    }

    static void Edge(int mr, int nr, int kc, float* a, float* b, int k2, float* a2, float* b2, float* c, nint ldc,
        float alpha, float beta, float* bias, float* tile)
    {
        float* tileBias = tile + MR * NR;
        new Span<float>(tile, MR * NR + NR).Clear();
        if (beta != 0f)
            for (int r = 0; r < mr; r++) new ReadOnlySpan<float>(c + r * ldc, nr).CopyTo(new Span<float>(tile + r * NR, nr));
        if (bias != null) new ReadOnlySpan<float>(bias, nr).CopyTo(new Span<float>(tileBias, nr));
        MicroKernel.RunTail(kc, a, b, k2, a2, b2, tile, NR, alpha, beta, bias == null ? null : tileBias);
        for (int r = 0; r < mr; r++) new ReadOnlySpan<float>(tile + r * NR, nr).CopyTo(new Span<float>(c + r * ldc, nr));
    }
}
