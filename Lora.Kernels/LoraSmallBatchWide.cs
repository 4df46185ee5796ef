using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Lora.Kernels.GemmBlocking;

namespace Lora.Kernels;

internal struct R12 : ICount { public static int Value => 12; }

/// <summary>The small-batch path's AVX-512 tiles: a 16-column panel is one zmm per row, so a group of rows takes half
/// the FMAs of the 6×16 AVX2 tiles, and two full groups of six run together (12 chains in flight).</summary>
/// <remarks>The groups, and the even/odd split chains of the 1–3 rows left over, are those of the AVX2 tiles, and
/// each element is the same FMA chain over p, so the bits are theirs.</remarks>
internal static unsafe partial class LoraSmallBatch
{
    /// <summary>Whether the row groups of 4–16-row batches run the AVX-512 tiles (tests and A/B measurements; both
    /// settings give the same bits).</summary>
    internal static bool Wide = MicroKernel.UseAvx512;

    // One KB stretch of a panel for all the rows of the batch, as Accumulate's loop over groups of six does it.
    static void AccumulateWide(ref Plan plan, float* a, nint lda, float* b, float* tile, int kb, bool first)
    {
        int i0 = 0;
        if (plan.M - i0 >= 12)
        {
            // Two full groups of six at once: each row the chain of Tile<R6>.
            if (plan.Prefetch) Tile512<R12, Yes>(kb, a, lda, b, tile, first);
            else Tile512<R12, No>(kb, a, lda, b, tile, first);
            i0 = 12;
        }
        for (; i0 < plan.M; i0 += 6)
        {
            float* ai = a + i0 * lda, tl = tile + i0 * NR;
            int rows = plan.M - i0;
            bool oneChain = plan.M <= 3;
            if (i0 == 0 && plan.Prefetch) Group512<Yes>(rows, oneChain, kb, ai, lda, b, tl, first);
            else Group512<No>(rows, oneChain, kb, ai, lda, b, tl, first);
        }
    }

    static void Group512<TPf>(int rows, bool oneChain, int kb, float* a, nint lda, float* b, float* tl, bool first) where TPf : struct, IFlag
    {
        switch (Math.Min(6, rows))
        {
            case 6: Tile512<R6, TPf>(kb, a, lda, b, tl, first); break;
            case 5: Tile512<R5, TPf>(kb, a, lda, b, tl, first); break;
            case 4: Tile512<R4, TPf>(kb, a, lda, b, tl, first); break;
            case 3: if (oneChain) Tile512<R3, TPf>(kb, a, lda, b, tl, first); else TileSplit512<R3, TPf>(kb, a, lda, b, tl, first); break;
            case 2: if (oneChain) Tile512<R2, TPf>(kb, a, lda, b, tl, first); else TileSplit512<R2, TPf>(kb, a, lda, b, tl, first); break;
            default: if (oneChain) Tile512<R1, TPf>(kb, a, lda, b, tl, first); else TileSplit512<R1, TPf>(kb, a, lda, b, tl, first); break;
        }
    }

    /// <summary>t[TR×16] (=|+=) Σ_p a[r·lda + p]·b[p·16 + 0..16] over p &lt; kb, one zmm chain per row; first: from zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile512<TR, TPf>(int kb, float* a, nint lda, float* b, float* t, bool first) where TR : struct, ICount where TPf : struct, IFlag
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default,
            c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
        if (!first)
        {
            c0 = Vector512.Load(t);
            if (TR.Value > 1) c1 = Vector512.Load(t + 16);
            if (TR.Value > 2) c2 = Vector512.Load(t + 32);
            if (TR.Value > 3) c3 = Vector512.Load(t + 48);
            if (TR.Value > 4) c4 = Vector512.Load(t + 64);
            if (TR.Value > 5) c5 = Vector512.Load(t + 80);
            if (TR.Value > 6)
            {
                c6 = Vector512.Load(t + 96); c7 = Vector512.Load(t + 112); c8 = Vector512.Load(t + 128);
                c9 = Vector512.Load(t + 144); c10 = Vector512.Load(t + 160); c11 = Vector512.Load(t + 176);
            }
        }
        for (int p = 0; p < kb; p++, b += NR)
        {
            if (TPf.On) Sse.Prefetch0(b + PrefetchAhead);
            var bv = Vector512.Load(b);
            c0 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[p]), bv, c0);
            if (TR.Value > 1) c1 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[lda + p]), bv, c1);
            if (TR.Value > 2) c2 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[2 * lda + p]), bv, c2);
            if (TR.Value > 3) c3 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[3 * lda + p]), bv, c3);
            if (TR.Value > 4) c4 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[4 * lda + p]), bv, c4);
            if (TR.Value > 5) c5 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[5 * lda + p]), bv, c5);
            if (TR.Value > 6)
            {
                c6 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[6 * lda + p]), bv, c6);
                c7 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[7 * lda + p]), bv, c7);
                c8 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[8 * lda + p]), bv, c8);
                c9 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[9 * lda + p]), bv, c9);
                c10 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[10 * lda + p]), bv, c10);
                c11 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[11 * lda + p]), bv, c11);
            }
        }
        c0.Store(t);
        if (TR.Value > 1) c1.Store(t + 16);
        if (TR.Value > 2) c2.Store(t + 32);
        if (TR.Value > 3) c3.Store(t + 48);
        if (TR.Value > 4) c4.Store(t + 64);
        if (TR.Value > 5) c5.Store(t + 80);
        if (TR.Value > 6)
        {
            c6.Store(t + 96); c7.Store(t + 112); c8.Store(t + 128);
            c9.Store(t + 144); c10.Store(t + 160); c11.Store(t + 176);
        }
    }

    /// <summary>As <see cref="TileSplit{TR, TPf}"/> (separate chains for even and odd p, added at the end), one zmm per
    /// chain and row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void TileSplit512<TR, TPf>(int kb, float* a, nint lda, float* b, float* t, bool first) where TR : struct, ICount where TPf : struct, IFlag
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, e0 = default, e1 = default, e2 = default;
        if (!first)
        {
            c0 = Vector512.Load(t);
            if (TR.Value > 1) c1 = Vector512.Load(t + 16);
            if (TR.Value > 2) c2 = Vector512.Load(t + 32);
        }
        int p = 0;
        for (; p + 2 <= kb; p += 2, b += 2 * NR)
        {
            if (TPf.On) { Sse.Prefetch0(b + PrefetchAhead); Sse.Prefetch0(b + PrefetchAhead + NR); }
            Vector512<float> b0 = Vector512.Load(b), b1 = Vector512.Load(b + NR);
            c0 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[p]), b0, c0);
            e0 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[p + 1]), b1, e0);
            if (TR.Value > 1)
            {
                c1 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[lda + p]), b0, c1);
                e1 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[lda + p + 1]), b1, e1);
            }
            if (TR.Value > 2)
            {
                c2 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[2 * lda + p]), b0, c2);
                e2 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[2 * lda + p + 1]), b1, e2);
            }
        }
        if (p < kb)
        {
            var b0 = Vector512.Load(b);
            c0 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[p]), b0, c0);
            if (TR.Value > 1) c1 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[lda + p]), b0, c1);
            if (TR.Value > 2) c2 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[2 * lda + p]), b0, c2);
        }
        (c0 + e0).Store(t);
        if (TR.Value > 1) (c1 + e1).Store(t + 16);
        if (TR.Value > 2) (c2 + e2).Store(t + 32);
    }
}
