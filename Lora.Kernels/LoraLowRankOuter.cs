using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Lora.Kernels;

// The register tiles of LoraLowRank.Outer: o (r×c) = s·uᵀ·v + beta·o as 4 rank rows × 24 columns (12 accumulators)
// summed over a block of rows of v, so o is read and written once per tile and block instead of once per row of v.
internal static unsafe partial class LoraLowRank
{
    /// <summary>Columns of o per register tile (three 8-lane vectors).</summary>
    const int StripWidth = 24;

    /// <summary>Rows of v copied into strips per block: 32 × 24 floats (3 KB) per strip, read from L1 by every
    /// group of rank rows.</summary>
    const int BlockRows = 32;

    // Columns p0..p1 of o. Every element is one chain, o[j, p] ← beta·o[j, p] (0 when beta = 0, o when beta = 1),
    // then o[j, p] ← fma(s·u[i, j], v[i, p], o[j, p]) for i = 0..n-1 in order: the same bits however the columns
    // are tiled, blocked or split over threads. Each block of rows of v is copied row by row (sequential reads) into
    // 24-column strips first: the tiles reading v's columns in place cross a page per row, which measured 1–1.5 %
    // slower over a whole MLP training step although faster with v already in cache.
    static void OuterColumns(ref Job job, int p0, int p1)
    {
        int n = job.N, r = job.R, c = job.C;
        float s = job.S, beta = job.Beta;
        if (p1 <= p0) return;
        if (beta != 0f && beta != 1f)
            for (int j = 0; j < r; j++)
                for (int p = p0; p < p1; p++) job.Out[(nint)j * c + p] *= beta;
        if (n == 0)
        {
            if (beta == 0f) for (int j = 0; j < r; j++) new Span<float>(job.Out + (nint)j * c + p0, p1 - p0).Clear();
            return;
        }
        var buffers = LoraBuffers.Current;
        int width = p1 - p0, wide = WideColumns(width);
        int rp = wide > 0 ? (r + 7) & ~7 : (r + 3) & ~3; // rank rows padded to whole tiles with zero multipliers
        float* su = ScaledRanks(ref job, rp, buffers);
        if (wide > 0)
        {
            OuterWide(n, r, su, rp, job.B + p0, c, wide, job.Out + p0, c, beta == 0f);
            p0 += wide;
            width -= wide;
            if (width == 0) return;
        }
        int strips = (width + StripWidth - 1) / StripWidth;
        float* packed = buffers.OuterStrip((long)BlockRows * strips * StripWidth);
        float* tile = stackalloc float[4 * StripWidth];
        for (int i0 = 0; i0 < n; i0 += BlockRows)
        {
            int rows = Math.Min(BlockRows, n - i0);
            PackStrips(rows, job.B + (nint)i0 * c + p0, c, width, StripWidth, packed);
            bool zero = i0 == 0 && beta == 0f;
            for (int st = 0; st < strips; st++)
            {
                int p = p0 + st * StripWidth, w = Math.Min(StripWidth, p1 - p);
                float* v = packed + (nint)st * rows * StripWidth;
                for (int j0 = 0; j0 < r; j0 += 4)
                {
                    // Partial tiles (the last strip, the last rank rows) go through a scratch tile so that the
                    // vector loads and stores stay inside o.
                    float* o = job.Out + (nint)j0 * c + p, t = o;
                    nint ldo = c;
                    int jr = Math.Min(4, r - j0);
                    if (jr < 4 || w < StripWidth)
                    {
                        t = tile;
                        ldo = StripWidth;
                        if (!zero) for (int jj = 0; jj < jr; jj++) new Span<float>(o + jj * c, w).CopyTo(new Span<float>(t + jj * StripWidth, w));
                    }
                    float* uj = su + (nint)i0 * rp + j0;
                    if (zero) Tile4x24<Yes>(rows, uj, rp, v, StripWidth, t, ldo);
                    else Tile4x24<No>(rows, uj, rp, v, StripWidth, t, ldo);
                    if (t == tile)
                        for (int jj = 0; jj < jr; jj++) new Span<float>(t + jj * StripWidth, w).CopyTo(new Span<float>(o + jj * c, w));
                }
            }
        }
    }

    // su (n×width) = s·u with its r columns padded by zeros to width, in this thread's scratch: the multipliers
    // the tiles broadcast (or, in OuterTransposed, load as one vector per row).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float* ScaledRanks(ref Job job, int width, LoraBuffers buffers)
    {
        int n = job.N, r = job.R;
        float* su = buffers.OuterScaled((long)n * width);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < width; j++) su[(nint)i * width + j] = j < r ? job.S * job.A[(nint)i * r + j] : 0f;
        return su;
    }

    // Strip s of dst (rows × sw floats, at s·rows·sw) = v[0..rows, s·sw..(s+1)·sw), zero past column w; v is read
    // row by row. sw is 24 (Outer) or 12 (OuterTransposed).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PackStrips(int rows, float* v, nint ldv, int w, int sw, float* dst)
    {
        int full = w / sw, rest = w - full * sw;
        nint stripFloats = (nint)rows * sw;
        for (int i = 0; i < rows; i++, v += ldv)
        {
            float* d = dst + (nint)i * sw, src = v;
            for (int st = 0; st < full; st++, d += stripFloats, src += sw)
            {
                Avx.Store(d, Avx.LoadVector256(src));
                if (sw == 24)
                {
                    Avx.Store(d + 8, Avx.LoadVector256(src + 8));
                    Avx.Store(d + 16, Avx.LoadVector256(src + 16));
                }
                else Sse.Store(d + 8, Sse.LoadVector128(src + 8));
            }
            if (rest > 0)
            {
                int q = 0;
                for (; q < rest; q++) d[q] = src[q];
                for (; q < sw; q++) d[q] = 0f;
            }
        }
    }

    // o[0..4, 0..24) (row stride ldo) = (TZero ? 0 : o) + Σ_i su[i, 0..4]ᵀ·v[i, 0..24), i in order; su rows ldu apart,
    // v rows ldv apart.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile4x24<TZero>(int rows, float* su, int ldu, float* v, nint ldv, float* o, nint ldo)
        where TZero : struct, IFlag
    {
        Vector256<float> c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32;
        if (TZero.On)
        {
            c00 = c01 = c02 = c10 = c11 = c12 = default;
            c20 = c21 = c22 = c30 = c31 = c32 = default;
        }
        else
        {
            float* o1 = o + ldo, o2 = o1 + ldo, o3 = o2 + ldo;
            c00 = Avx.LoadVector256(o); c01 = Avx.LoadVector256(o + 8); c02 = Avx.LoadVector256(o + 16);
            c10 = Avx.LoadVector256(o1); c11 = Avx.LoadVector256(o1 + 8); c12 = Avx.LoadVector256(o1 + 16);
            c20 = Avx.LoadVector256(o2); c21 = Avx.LoadVector256(o2 + 8); c22 = Avx.LoadVector256(o2 + 16);
            c30 = Avx.LoadVector256(o3); c31 = Avx.LoadVector256(o3 + 8); c32 = Avx.LoadVector256(o3 + 16);
        }
        // Unrolled by four rows: the loop overhead otherwise costs a third of the FMA rate.
        int i = 0;
        for (; i + 4 <= rows; i += 4)
        {
            Row(su, v, ref c00, ref c01, ref c02, ref c10, ref c11, ref c12, ref c20, ref c21, ref c22, ref c30, ref c31, ref c32);
            Row(su + ldu, v + ldv, ref c00, ref c01, ref c02, ref c10, ref c11, ref c12, ref c20, ref c21, ref c22, ref c30, ref c31, ref c32);
            Row(su + 2 * ldu, v + 2 * ldv, ref c00, ref c01, ref c02, ref c10, ref c11, ref c12, ref c20, ref c21, ref c22, ref c30, ref c31, ref c32);
            Row(su + 3 * ldu, v + 3 * ldv, ref c00, ref c01, ref c02, ref c10, ref c11, ref c12, ref c20, ref c21, ref c22, ref c30, ref c31, ref c32);
            su += 4 * ldu;
            v += 4 * ldv;
        }
        for (; i < rows; i++, su += ldu, v += ldv)
            Row(su, v, ref c00, ref c01, ref c02, ref c10, ref c11, ref c12, ref c20, ref c21, ref c22, ref c30, ref c31, ref c32);
        {
            float* o1 = o + ldo, o2 = o1 + ldo, o3 = o2 + ldo;
            Avx.Store(o, c00); Avx.Store(o + 8, c01); Avx.Store(o + 16, c02);
            Avx.Store(o1, c10); Avx.Store(o1 + 8, c11); Avx.Store(o1 + 16, c12);
            Avx.Store(o2, c20); Avx.Store(o2 + 8, c21); Avx.Store(o2 + 16, c22);
            Avx.Store(o3, c30); Avx.Store(o3 + 8, c31); Avx.Store(o3 + 16, c32);
        }
    }

    // One row of v into the 4×24 tile: c[j][q] = fma(su[j], v[8q..8q+8), c[j][q]).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Row(float* su, float* v,
        ref Vector256<float> c00, ref Vector256<float> c01, ref Vector256<float> c02, ref Vector256<float> c10, ref Vector256<float> c11, ref Vector256<float> c12,
        ref Vector256<float> c20, ref Vector256<float> c21, ref Vector256<float> c22, ref Vector256<float> c30, ref Vector256<float> c31, ref Vector256<float> c32)
    {
        var v0 = Avx.LoadVector256(v); var v1 = Avx.LoadVector256(v + 8); var v2 = Avx.LoadVector256(v + 16);
        var b = Vector256.Create(su[0]);
        c00 = Fma.MultiplyAdd(b, v0, c00); c01 = Fma.MultiplyAdd(b, v1, c01); c02 = Fma.MultiplyAdd(b, v2, c02);
        b = Vector256.Create(su[1]);
        c10 = Fma.MultiplyAdd(b, v0, c10); c11 = Fma.MultiplyAdd(b, v1, c11); c12 = Fma.MultiplyAdd(b, v2, c12);
        b = Vector256.Create(su[2]);
        c20 = Fma.MultiplyAdd(b, v0, c20); c21 = Fma.MultiplyAdd(b, v1, c21); c22 = Fma.MultiplyAdd(b, v2, c22);
        b = Vector256.Create(su[3]);
        c30 = Fma.MultiplyAdd(b, v0, c30); c31 = Fma.MultiplyAdd(b, v1, c31); c32 = Fma.MultiplyAdd(b, v2, c32);
    }
}
