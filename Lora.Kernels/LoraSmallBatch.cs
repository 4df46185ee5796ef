using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Lora.Kernels.GemmBlocking;

namespace Lora.Kernels;

/// <summary>
/// The small-batch (m ≤ 16) fused LoRA path, AVX2/FMA (and AVX-512 tiles for the row groups where the CPU has it,
/// LoraSmallBatchWide.cs, with the same bits): C (m×n) = Σ_segments A_s·op(B_s) + beta·C + bias, where
/// each op(B_s) is read from NR-column packed panels (the frozen W from <see cref="PackedWeight"/>, the low-rank
/// operand packed here per call) and the tiny A_s (row-major) straight from its storage.
/// </summary>
/// <remarks>
/// At small m the layer is bound by reading W, so W must be streamed exactly once: each part owns whole panels
/// (16 output columns); for a KB-long stretch of a panel (KB·16 floats = 16 KB, kept in L1) every group of up to
/// 6 rows accumulates into a 6×16 register tile, parked in a 16×16 stack tile between stretches. A panel is one
/// contiguous run of memory, so the hardware prefetcher streams it. Each element is one FMA chain over the inner
/// dimension in order (segment 0, then segment 1), so its bits do not depend on the split over threads.
/// </remarks>
internal static unsafe partial class LoraSmallBatch
{
    const int KB = 256;

    /// <summary>How far ahead of the stretch being computed the first row group requests W (floats): the next stretch.</summary>
    const int PrefetchAhead = KB * NR;

    /// <summary>Above this many bytes of packed panels (a quarter of this machine's L3) the first row group prefetches
    /// W's next stretch: streamed from DRAM, W and the FMAs hardly overlapped without it (m = 4–16 × 4096 × 4096:
    /// 1.1–1.3× faster with it); from L3 the extra requests only cost (0.87–0.95× at 1024 × 1024,
    /// docs/kernels.md). A field for tuning.</summary>
    internal static long PrefetchMinBytes = 8L << 20;

    /// <summary>Rows from which the prefetch runs: with fewer, the FMAs per stretch are too few to hide anything
    /// behind, and at m = 2 the prefetching ran 0.93–1.13× as fast as the hardware prefetcher alone.</summary>
    const int PrefetchMinRows = 4;

    struct Plan
    {
        public int M, N;
        public Stretch S0, S1;
        public float Beta;
        public bool Prefetch;
        public float* Bias, C;
        public nint Ldc;
    }

    struct Stretch
    {
        public int K;
        public float* A;      // (M, K) row-major, row stride Lda
        public nint Lda;
        public float* Panels; // ⌈N/NR⌉ panels of K×NR, panel t at t·K·NR
    }

    /// <summary>Runs m (1..16) rows; the segments' A operands must not be transposed.</summary>
    public static void Run(int m, int n, in GemmSegment seg0, in GemmSegment seg1, float beta, float* bias, float* c)
    {
        long need = 16;
        if (seg0.PackedB == null) need += GemmPackedB.Size(seg0.K, n);
        if (seg1.PackedB == null) need += GemmPackedB.Size(seg1.K, n);
        float* scratch = LoraBuffers.Current.Panels(need);
        var plan = new Plan { M = m, N = n, Beta = beta, Bias = bias, C = c, Ldc = n };
        plan.Prefetch = m >= PrefetchMinRows && 4L * GemmPackedB.Size(seg0.K + seg1.K, n) > PrefetchMinBytes;
        plan.S0 = Prepare(seg0, n, ref scratch);
        plan.S1 = Prepare(seg1, n, ref scratch);
        int units = (n + NR - 1) / NR;
        int parts = GemmDriver.Parts(2L * m * n * (seg0.K + seg1.K), units);
        WorkerPool.Run(&RunPart, &plan, parts);
    }

    static Stretch Prepare(in GemmSegment seg, int n, ref float* scratch)
    {
        if (seg.A.Trans) throw new InvalidOperationException("small-batch LoRA path needs row-major A operands.");
        var s = new Stretch { K = seg.K, A = seg.A.Ptr, Lda = seg.A.Ld, Panels = seg.PackedB };
        if (seg.K > 0 && seg.PackedB == null)
        {
            GemmPacking.PackB(seg.B, 0, seg.K, 0, n, scratch, (nint)seg.K * NR);
            s.Panels = scratch;
            scratch += GemmPackedB.Size(seg.K, n);
        }
        return s;
    }

    static void RunPart(void* state, int part, int parts)
    {
        ref Plan plan = ref *(Plan*)state;
        int units = (plan.N + NR - 1) / NR;
        var (t0, t1) = WorkerPool.Share(units, 1, part, parts);
        float* tile = stackalloc float[SmallM * NR];
        int t = t0;
        if (plan.M == 1)
        {
            // One row: four panels at once, so that four streams of W are in flight and eight FMA chains hide the latency.
            for (; t + 4 <= t1; t += 4)
            {
                bool first = true;
                Accumulate4(plan.S0, t, plan.S0.A, tile, ref first);
                Accumulate4(plan.S1, t, plan.S1.A, tile, ref first);
                for (int q = 0; q < 4; q++) Store(ref plan, t + q, tile + q * NR);
            }
        }
        else if (plan.M <= 3)
        {
            // Two or three rows: two panels at once, two streams of W in flight (one stream alone read about 13 GB/s
            // of the 21–24 four reach), with 8–12 independent chains instead of the even/odd split.
            for (; t + 2 <= t1; t += 2)
            {
                AccumulatePair(ref plan, plan.S0, t, tile, plan.S0.K > 0);
                AccumulatePair(ref plan, plan.S1, t, tile, plan.S0.K == 0);
                Store(ref plan, t, tile);
                Store(ref plan, t + 1, tile + PairOffset);
            }
        }
        for (; t < t1; t++)
        {
            bool first = true;
            Accumulate(ref plan, plan.S0, t, tile, ref first);
            Accumulate(ref plan, plan.S1, t, tile, ref first);
            Store(ref plan, t, tile);
        }
    }

    /// <summary>Where the second panel's rows sit in the stack tile of <see cref="AccumulatePair"/>.</summary>
    const int PairOffset = 8 * NR;

    // Panels t, t+1 of one stretch for 2–3 rows: tile (panel t) and tile + PairOffset (panel t+1).
    static void AccumulatePair(ref Plan plan, in Stretch s, int t, float* tile, bool first)
    {
        nint stride = (nint)s.K * NR;
        float* panel = s.Panels + t * stride;
        for (int pb = 0; pb < s.K; pb += KB, first = false)
        {
            int kb = Math.Min(KB, s.K - pb);
            if (plan.M == 2) Pair<R2>(kb, s.A + pb, s.Lda, panel + (nint)pb * NR, stride, tile, first);
            else Pair<R3>(kb, s.A + pb, s.Lda, panel + (nint)pb * NR, stride, tile, first);
        }
    }

    static void Accumulate(ref Plan plan, in Stretch s, int t, float* tile, ref bool first)
    {
        float* panel = s.Panels + (nint)t * s.K * NR;
        for (int pb = 0; pb < s.K; pb += KB)
        {
            int kb = Math.Min(KB, s.K - pb);
            float* b = panel + (nint)pb * NR;
            if (Wide)
            {
                AccumulateWide(ref plan, s.A + pb, s.Lda, b, tile, kb, first);
                first = false;
                continue;
            }
            for (int i0 = 0; i0 < plan.M; i0 += 6)
            {
                float* a = s.A + i0 * s.Lda + pb;
                float* tl = tile + i0 * NR;
                // The first group requests W's next stretch (the panels are contiguous) while it computes on this one.
                if (i0 == 0 && plan.Prefetch) Group<Yes>(plan.M, plan.M <= 3, kb, a, s.Lda, b, tl, first);
                else Group<No>(plan.M - i0, plan.M <= 3, kb, a, s.Lda, b, tl, first);
            }
            first = false;
        }
    }

    // oneChain (m ≤ 3): the panels outside the groups of four (m = 1) or pairs (m = 2–3) must sum exactly as those
    // do, one chain per element, or an element's bits would depend on where the thread split put the groups.
    static void Group<TPf>(int rows, bool oneChain, int kb, float* a, nint lda, float* b, float* tl, bool first) where TPf : struct, IFlag
    {
        switch (Math.Min(6, rows))
        {
            case 6: Tile<R6, TPf>(kb, a, lda, b, tl, first); break;
            case 5: Tile<R5, TPf>(kb, a, lda, b, tl, first); break;
            case 4: Tile<R4, TPf>(kb, a, lda, b, tl, first); break;
            case 3: if (oneChain) Tile<R3, TPf>(kb, a, lda, b, tl, first); else TileSplit<R3, TPf>(kb, a, lda, b, tl, first); break;
            case 2: if (oneChain) Tile<R2, TPf>(kb, a, lda, b, tl, first); else TileSplit<R2, TPf>(kb, a, lda, b, tl, first); break;
            default: if (oneChain) Tile<R1, TPf>(kb, a, lda, b, tl, first); else TileSplit<R1, TPf>(kb, a, lda, b, tl, first); break;
        }
    }

    /// <summary>C[:, 16t..] = tile + beta·C + bias for the panel's columns that exist.</summary>
    static void Store(ref Plan plan, int t, float* tile)
    {
        int j0 = t * NR, cols = Math.Min(NR, plan.N - j0);
        for (int i = 0; i < plan.M; i++)
        {
            float* c = plan.C + i * plan.Ldc + j0;
            float* acc = tile + i * NR;
            if (cols == NR)
            {
                for (int h = 0; h < NR; h += 8)
                {
                    var v = Vector256.Load(acc + h);
                    if (plan.Beta != 0f) v = Fma.MultiplyAdd(Vector256.Load(c + h), Vector256.Create(plan.Beta), v);
                    if (plan.Bias != null) v += Vector256.Load(plan.Bias + j0 + h);
                    Vector256.Store(v, c + h);
                }
            }
            else
            {
                for (int j = 0; j < cols; j++)
                {
                    float v = acc[j];
                    if (plan.Beta != 0f) v = MathF.FusedMultiplyAdd(c[j], plan.Beta, v);
                    if (plan.Bias != null) v += plan.Bias[j0 + j];
                    c[j] = v;
                }
            }
        }
    }
}
