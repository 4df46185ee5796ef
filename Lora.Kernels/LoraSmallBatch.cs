using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Lora.Kernels.GemmBlocking;

namespace Lora.Kernels;

/// <summary>
/// The small-batch (m ≤ 16) fused LoRA path, AVX2/FMA only: C (m×n) = Σ_segments A_s·op(B_s) + beta·C + bias, where
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
internal static unsafe class LoraSmallBatch
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
        for (; t < t1; t++)
        {
            bool first = true;
            Accumulate(ref plan, plan.S0, t, tile, ref first);
            Accumulate(ref plan, plan.S1, t, tile, ref first);
            Store(ref plan, t, tile);
        }
    }

    static void Accumulate(ref Plan plan, in Stretch s, int t, float* tile, ref bool first)
    {
        float* panel = s.Panels + (nint)t * s.K * NR;
        for (int pb = 0; pb < s.K; pb += KB)
        {
            int kb = Math.Min(KB, s.K - pb);
            float* b = panel + (nint)pb * NR;
            for (int i0 = 0; i0 < plan.M; i0 += 6)
            {
                float* a = s.A + i0 * s.Lda + pb;
                float* tl = tile + i0 * NR;
                // The first group requests W's next stretch (the panels are contiguous) while it computes on this one.
                if (i0 == 0 && plan.Prefetch) Group<Yes>(plan.M, plan.M == 1, kb, a, s.Lda, b, tl, first);
                else Group<No>(plan.M - i0, plan.M == 1, kb, a, s.Lda, b, tl, first);
            }
            first = false;
        }
    }

    static void Group<TPf>(int rows, bool single, int kb, float* a, nint lda, float* b, float* tl, bool first) where TPf : struct, IFlag
    {
        switch (Math.Min(6, rows))
        {
            case 6: Tile<R6, TPf>(kb, a, lda, b, tl, first); break;
            case 5: Tile<R5, TPf>(kb, a, lda, b, tl, first); break;
            case 4: Tile<R4, TPf>(kb, a, lda, b, tl, first); break;
            case 3: TileSplit<R3, TPf>(kb, a, lda, b, tl, first); break;
            case 2: TileSplit<R2, TPf>(kb, a, lda, b, tl, first); break;
            // With m = 1 the panels outside groups of four must sum exactly as Accumulate4 does (one chain),
            // or an element's bits would depend on where the thread split put the groups.
            default: if (single) Tile<R1, TPf>(kb, a, lda, b, tl, first); else TileSplit<R1, TPf>(kb, a, lda, b, tl, first); break;
        }
    }

    /// <summary>One row, four panels t..t+3: tile[q·16 + j] (=|+=) Σ_p a[p]·panel_{t+q}[p·16 + j].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Accumulate4(in Stretch s, int t, float* a, float* tile, ref bool first)
    {
        nint stride = (nint)s.K * NR;
        float* panel = s.Panels + t * stride;
        for (int pb = 0; pb < s.K; pb += KB)
        {
            int kb = Math.Min(KB, s.K - pb);
            float* b = panel + (nint)pb * NR, ap = a + pb;
            Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
            if (!first)
            {
                c0 = Vector256.Load(tile); c1 = Vector256.Load(tile + 8); c2 = Vector256.Load(tile + 16); c3 = Vector256.Load(tile + 24);
                c4 = Vector256.Load(tile + 32); c5 = Vector256.Load(tile + 40); c6 = Vector256.Load(tile + 48); c7 = Vector256.Load(tile + 56);
            }
            for (int p = 0; p < kb; p++, b += NR)
            {
                var av = Vector256.Create(ap[p]);
                c0 = Fma.MultiplyAdd(av, Vector256.Load(b), c0); c1 = Fma.MultiplyAdd(av, Vector256.Load(b + 8), c1);
                c2 = Fma.MultiplyAdd(av, Vector256.Load(b + stride), c2); c3 = Fma.MultiplyAdd(av, Vector256.Load(b + stride + 8), c3);
                c4 = Fma.MultiplyAdd(av, Vector256.Load(b + 2 * stride), c4); c5 = Fma.MultiplyAdd(av, Vector256.Load(b + 2 * stride + 8), c5);
                c6 = Fma.MultiplyAdd(av, Vector256.Load(b + 3 * stride), c6); c7 = Fma.MultiplyAdd(av, Vector256.Load(b + 3 * stride + 8), c7);
            }
            Vector256.Store(c0, tile); Vector256.Store(c1, tile + 8); Vector256.Store(c2, tile + 16); Vector256.Store(c3, tile + 24);
            Vector256.Store(c4, tile + 32); Vector256.Store(c5, tile + 40); Vector256.Store(c6, tile + 48); Vector256.Store(c7, tile + 56);
            first = false;
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

    /// <summary>
    /// As <see cref="Tile{TR, TPf}"/> for TR ≤ 3, with separate accumulators for even and odd p, added at the end: with
    /// one row, a single FMA chain per 8 columns would wait on the FMA latency (4 cycles) for every 64 bytes of W
    /// and stall the stream; two chains per register double the rate (and the loads in flight).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void TileSplit<TR, TPf>(int kb, float* a, nint lda, float* b, float* t, bool first) where TR : struct, ICount where TPf : struct, IFlag
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> e00 = default, e01 = default, e10 = default, e11 = default, e20 = default, e21 = default;
        if (!first)
        {
            c00 = Vector256.Load(t); c01 = Vector256.Load(t + 8);
            if (TR.Value > 1) { c10 = Vector256.Load(t + 16); c11 = Vector256.Load(t + 24); }
            if (TR.Value > 2) { c20 = Vector256.Load(t + 32); c21 = Vector256.Load(t + 40); }
        }
        int p = 0;
        for (; p + 2 <= kb; p += 2, b += 2 * NR)
        {
            if (TPf.On) { Sse.Prefetch0(b + PrefetchAhead); Sse.Prefetch0(b + PrefetchAhead + NR); }
            Vector256<float> b0 = Vector256.Load(b), b1 = Vector256.Load(b + 8), b2 = Vector256.Load(b + 16), b3 = Vector256.Load(b + 24);
            Vector256<float> av = Vector256.Create(a[p]), aw = Vector256.Create(a[p + 1]);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            e00 = Fma.MultiplyAdd(aw, b2, e00); e01 = Fma.MultiplyAdd(aw, b3, e01);
            if (TR.Value > 1)
            {
                av = Vector256.Create(a[lda + p]); aw = Vector256.Create(a[lda + p + 1]);
                c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
                e10 = Fma.MultiplyAdd(aw, b2, e10); e11 = Fma.MultiplyAdd(aw, b3, e11);
            }
            if (TR.Value > 2)
            {
                av = Vector256.Create(a[2 * lda + p]); aw = Vector256.Create(a[2 * lda + p + 1]);
                c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
                e20 = Fma.MultiplyAdd(aw, b2, e20); e21 = Fma.MultiplyAdd(aw, b3, e21);
            }
        }
        if (p < kb)
        {
            Vector256<float> b0 = Vector256.Load(b), b1 = Vector256.Load(b + 8);
            Vector256<float> av = Vector256.Create(a[p]);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            if (TR.Value > 1) { av = Vector256.Create(a[lda + p]); c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11); }
            if (TR.Value > 2) { av = Vector256.Create(a[2 * lda + p]); c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21); }
        }
        Vector256.Store(c00 + e00, t); Vector256.Store(c01 + e01, t + 8);
        if (TR.Value > 1) { Vector256.Store(c10 + e10, t + 16); Vector256.Store(c11 + e11, t + 24); }
        if (TR.Value > 2) { Vector256.Store(c20 + e20, t + 32); Vector256.Store(c21 + e21, t + 40); }
    }

    /// <summary>t[TR×16] (=|+=) Σ_p a[r·lda + p]·b[p·16 + 0..16] over p &lt; kb; first: start from zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile<TR, TPf>(int kb, float* a, nint lda, float* b, float* t, bool first) where TR : struct, ICount where TPf : struct, IFlag
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        if (!first)
        {
            c00 = Vector256.Load(t); c01 = Vector256.Load(t + 8);
            if (TR.Value > 1) { c10 = Vector256.Load(t + 16); c11 = Vector256.Load(t + 24); }
            if (TR.Value > 2) { c20 = Vector256.Load(t + 32); c21 = Vector256.Load(t + 40); }
            if (TR.Value > 3) { c30 = Vector256.Load(t + 48); c31 = Vector256.Load(t + 56); }
            if (TR.Value > 4) { c40 = Vector256.Load(t + 64); c41 = Vector256.Load(t + 72); }
            if (TR.Value > 5) { c50 = Vector256.Load(t + 80); c51 = Vector256.Load(t + 88); }
        }
        for (int p = 0; p < kb; p++, b += NR)
        {
            if (TPf.On) Sse.Prefetch0(b + PrefetchAhead);
            Vector256<float> b0 = Vector256.Load(b), b1 = Vector256.Load(b + 8);
            Vector256<float> av = Vector256.Create(a[p]);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            if (TR.Value > 1) { av = Vector256.Create(a[lda + p]); c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11); }
            if (TR.Value > 2) { av = Vector256.Create(a[2 * lda + p]); c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21); }
            if (TR.Value > 3) { av = Vector256.Create(a[3 * lda + p]); c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31); }
            if (TR.Value > 4) { av = Vector256.Create(a[4 * lda + p]); c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41); }
            if (TR.Value > 5) { av = Vector256.Create(a[5 * lda + p]); c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51); }
        }
        Vector256.Store(c00, t); Vector256.Store(c01, t + 8);
        if (TR.Value > 1) { Vector256.Store(c10, t + 16); Vector256.Store(c11, t + 24); }
        if (TR.Value > 2) { Vector256.Store(c20, t + 32); Vector256.Store(c21, t + 40); }
        if (TR.Value > 3) { Vector256.Store(c30, t + 48); Vector256.Store(c31, t + 56); }
        if (TR.Value > 4) { Vector256.Store(c40, t + 64); Vector256.Store(c41, t + 72); }
        if (TR.Value > 5) { Vector256.Store(c50, t + 80); Vector256.Store(c51, t + 88); }
    }
}
