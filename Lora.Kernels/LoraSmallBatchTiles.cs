using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Lora.Kernels.GemmBlocking;

namespace Lora.Kernels;

/// <summary>The register tiles of the small-batch path: rows of A (row-major) against 16-column panels of W.</summary>
internal static unsafe partial class LoraSmallBatch
{
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


    /// <summary>2–3 rows, two panels (the second stride floats on): t[r·16 + j] and t[PairOffset + r·16 + j] (=|+=)
    /// Σ_p a[r·lda + p]·panel[p·16 + j], one chain per element as in <see cref="Tile{TR, TPf}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Pair<TR>(int kb, float* a, nint lda, float* b, nint stride, float* t, bool first) where TR : struct, ICount
    {
        float* u = t + PairOffset;
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            d00 = default, d01 = default, d10 = default, d11 = default, d20 = default, d21 = default;
        if (!first)
        {
            c00 = Vector256.Load(t); c01 = Vector256.Load(t + 8); d00 = Vector256.Load(u); d01 = Vector256.Load(u + 8);
            c10 = Vector256.Load(t + 16); c11 = Vector256.Load(t + 24); d10 = Vector256.Load(u + 16); d11 = Vector256.Load(u + 24);
            if (TR.Value > 2) { c20 = Vector256.Load(t + 32); c21 = Vector256.Load(t + 40); d20 = Vector256.Load(u + 32); d21 = Vector256.Load(u + 40); }
        }
        float* e = b + stride;
        for (int p = 0; p < kb; p++, b += NR, e += NR)
        {
            // The second panel's vectors are loaded per use (folded into the FMA): 12 accumulators leave no room.
            Vector256<float> b0 = Vector256.Load(b), b1 = Vector256.Load(b + 8);
            Vector256<float> av = Vector256.Create(a[p]);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            d00 = Fma.MultiplyAdd(av, Vector256.Load(e), d00); d01 = Fma.MultiplyAdd(av, Vector256.Load(e + 8), d01);
            av = Vector256.Create(a[lda + p]);
            c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            d10 = Fma.MultiplyAdd(av, Vector256.Load(e), d10); d11 = Fma.MultiplyAdd(av, Vector256.Load(e + 8), d11);
            if (TR.Value > 2)
            {
                av = Vector256.Create(a[2 * lda + p]);
                c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
                d20 = Fma.MultiplyAdd(av, Vector256.Load(e), d20); d21 = Fma.MultiplyAdd(av, Vector256.Load(e + 8), d21);
            }
        }
        Vector256.Store(c00, t); Vector256.Store(c01, t + 8); Vector256.Store(d00, u); Vector256.Store(d01, u + 8);
        Vector256.Store(c10, t + 16); Vector256.Store(c11, t + 24); Vector256.Store(d10, u + 16); Vector256.Store(d11, u + 24);
        if (TR.Value > 2) { Vector256.Store(c20, t + 32); Vector256.Store(c21, t + 40); Vector256.Store(d20, u + 32); Vector256.Store(d21, u + 40); }
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
