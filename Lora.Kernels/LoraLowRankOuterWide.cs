using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Lora.Kernels;

// The AVX-512 tile of LoraLowRank.Outer and OuterTransposed: o (r×c) += s·uᵀ·v as 8 rank rows × 32 columns in 16
// zmm accumulators, over every row of v at once, reading v in place.
internal static unsafe partial class LoraLowRank
{
    /// <summary>Whether the thin outer products run their whole 32-column strips on the 8×32 AVX-512 tile (tests and
    /// A/B measurements; both settings give the same bits).</summary>
    internal static bool Wide = MicroKernel.UseAvx512;

    /// <summary>Columns of o per AVX-512 tile (two 16-lane vectors).</summary>
    const int WideStrip = 32;

    /// <summary>Rank rows per AVX-512 tile.</summary>
    const int WideRanks = 8;

    /// <summary>The columns, from the start of a range of <paramref name="width"/>, that the AVX-512 tile takes;
    /// the rest go to the AVX2 tiles.</summary>
    static int WideColumns(int width) => Wide ? width / WideStrip * WideStrip : 0;

    // o[0..r, 0..cols) (row stride ldo) = (zero ? 0 : o) + Σ_i su[i, j]·v[i, p] for cols a multiple of 32, each
    // element the chain of OuterColumns (o, then one fma per row of v in order), so the same bits as the AVX2
    // tiles. Why no strips here: with all 8 rank rows in one tile, v is read once, so copying it into strips first
    // (as the 4-row AVX2 tiles do, which read it twice for r = 8) would only add a pass over it.
    // su: (n, rp) with rp a multiple of 8 and zeros past r; v rows ldv apart.
    static void OuterWide(int n, int r, float* su, int rp, float* v, nint ldv, int cols, float* o, nint ldo, bool zero)
    {
        float* tile = stackalloc float[WideRanks * WideStrip];
        for (int i0 = 0; i0 < n; i0 += WideBlock)
        {
            int rows = Math.Min(WideBlock, n - i0);
            bool first = zero && i0 == 0;
            float* ui = su + (nint)i0 * rp, vi = v + (nint)i0 * ldv;
            for (int p = 0; p < cols; p += WideStrip)
                for (int j0 = 0; j0 < r; j0 += WideRanks)
                {
                    int jr = Math.Min(WideRanks, r - j0);
                    float* oj = o + (nint)j0 * ldo + p;
                    if (jr == WideRanks)
                    {
                        if (first) Tile8x32<Yes>(rows, ui + j0, rp, vi + p, ldv, oj, ldo);
                        else Tile8x32<No>(rows, ui + j0, rp, vi + p, ldv, oj, ldo);
                        continue;
                    }
                    // The last, partial group of rank rows goes through a scratch tile so that every store stays
                    // inside o; its padded rows have zero multipliers and are dropped.
                    if (first) Tile8x32<Yes>(rows, ui + j0, rp, vi + p, ldv, tile, WideStrip);
                    else
                    {
                        for (int jj = 0; jj < jr; jj++) new Span<float>(oj + jj * ldo, WideStrip).CopyTo(new Span<float>(tile + jj * WideStrip, WideStrip));
                        Tile8x32<No>(rows, ui + j0, rp, vi + p, ldv, tile, WideStrip);
                    }
                    for (int jj = 0; jj < jr; jj++) new Span<float>(tile + jj * WideStrip, WideStrip).CopyTo(new Span<float>(oj + jj * ldo, WideStrip));
                }
        }
    }

    /// <summary>Rows of v per pass over all the strips (tuning).</summary>
    internal static int WideBlock = 16;

    // o[0..8, 0..32) (row stride ldo) = (TZero ? 0 : o) + Σ_i su[i, 0..8]ᵀ·v[i, 0..32), i in order; su rows ldu
    // apart, v rows ldv apart.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile8x32<TZero>(int n, float* su, int ldu, float* v, nint ldv, float* o, nint ldo) where TZero : struct, IFlag
    {
        Vector512<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
        if (TZero.On) c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = c60 = c61 = c70 = c71 = default;
        else
        {
            c00 = Vector512.Load(o); c01 = Vector512.Load(o + 16);
            c10 = Vector512.Load(o + ldo); c11 = Vector512.Load(o + ldo + 16);
            c20 = Vector512.Load(o + 2 * ldo); c21 = Vector512.Load(o + 2 * ldo + 16);
            c30 = Vector512.Load(o + 3 * ldo); c31 = Vector512.Load(o + 3 * ldo + 16);
            c40 = Vector512.Load(o + 4 * ldo); c41 = Vector512.Load(o + 4 * ldo + 16);
            c50 = Vector512.Load(o + 5 * ldo); c51 = Vector512.Load(o + 5 * ldo + 16);
            c60 = Vector512.Load(o + 6 * ldo); c61 = Vector512.Load(o + 6 * ldo + 16);
            c70 = Vector512.Load(o + 7 * ldo); c71 = Vector512.Load(o + 7 * ldo + 16);
        }
        for (int i = 0; i < n; i++, su += ldu, v += ldv)
        {
            var v0 = Vector512.Load(v);
            var v1 = Vector512.Load(v + 16);
            var b = Vector512.Create(su[0]);
            c00 = Avx512F.FusedMultiplyAdd(b, v0, c00); c01 = Avx512F.FusedMultiplyAdd(b, v1, c01);
            b = Vector512.Create(su[1]);
            c10 = Avx512F.FusedMultiplyAdd(b, v0, c10); c11 = Avx512F.FusedMultiplyAdd(b, v1, c11);
            b = Vector512.Create(su[2]);
            c20 = Avx512F.FusedMultiplyAdd(b, v0, c20); c21 = Avx512F.FusedMultiplyAdd(b, v1, c21);
            b = Vector512.Create(su[3]);
            c30 = Avx512F.FusedMultiplyAdd(b, v0, c30); c31 = Avx512F.FusedMultiplyAdd(b, v1, c31);
            b = Vector512.Create(su[4]);
            c40 = Avx512F.FusedMultiplyAdd(b, v0, c40); c41 = Avx512F.FusedMultiplyAdd(b, v1, c41);
            b = Vector512.Create(su[5]);
            c50 = Avx512F.FusedMultiplyAdd(b, v0, c50); c51 = Avx512F.FusedMultiplyAdd(b, v1, c51);
            b = Vector512.Create(su[6]);
            c60 = Avx512F.FusedMultiplyAdd(b, v0, c60); c61 = Avx512F.FusedMultiplyAdd(b, v1, c61);
            b = Vector512.Create(su[7]);
            c70 = Avx512F.FusedMultiplyAdd(b, v0, c70); c71 = Avx512F.FusedMultiplyAdd(b, v1, c71);
        }
        c00.Store(o); c01.Store(o + 16);
        c10.Store(o + ldo); c11.Store(o + ldo + 16);
        c20.Store(o + 2 * ldo); c21.Store(o + 2 * ldo + 16);
        c30.Store(o + 3 * ldo); c31.Store(o + 3 * ldo + 16);
        c40.Store(o + 4 * ldo); c41.Store(o + 4 * ldo + 16);
        c50.Store(o + 5 * ldo); c51.Store(o + 5 * ldo + 16);
        c60.Store(o + 6 * ldo); c61.Store(o + 6 * ldo + 16);
        c70.Store(o + 7 * ldo); c71.Store(o + 7 * ldo + 16);
    }

    // Rows p0..p0+cols of ot (c×r, r ≤ 8) through the 8×32 tile: ot's rows are turned into an r×cols scratch (when
    // beta ≠ 0 it must be read), the tile runs on it, and it is turned back. Each element keeps its chain, so the bits
    // are those of Tile12x8.
    static void TransposedWide(ref Job job, int p0, int cols, float* su, LoraBuffers buffers)
    {
        int r = job.R;
        bool zero = job.Beta == 0f;
        float* o = buffers.OuterWide((long)WideRanks * cols), ot = job.Out + (nint)p0 * r;
        if (!zero) GemmPacking.Transpose(cols, r, ot, o); // o = otᵀ
        OuterWide(job.N, r, su, WideRanks, job.B + p0, job.C, cols, o, cols, zero);
        GemmPacking.Transpose(r, cols, o, ot);
    }
}
