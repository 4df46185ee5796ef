using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Lora.Kernels;

// LoraLowRank.Dot on AVX-512 with Dot's own chains: each zmm accumulator holds two of the AVX2 kernels' 8-lane
// chains side by side (row i of x against rank rows j and j + 1), so the bits are those of Dot3x4, and twice the
// lanes run per FMA.
internal static unsafe partial class LoraLowRank
{
    /// <summary>Whether <see cref="Dot"/> runs its groups of four rank rows on the paired AVX-512 tile (tests and A/B
    /// measurements; both settings give the same bits).</summary>
    internal static bool WideDot = MicroKernel.UseAvx512 && Avx512DQ.IsSupported;

    /// <summary>Rows of x per paired tile.</summary>
    const int DotWideRows = 6;

    // m's first r4 rows (r4 a multiple of 4) in pairs: for each group of four rows j0.. and each whole 8-column block
    // t, the 32 floats m[j0, 8t..8t+8), m[j0+1, ..), m[j0+2, ..), m[j0+3, ..), so one zmm load gives rows j0 | j0+1
    // and the next rows j0+2 | j0+3 of that block.
    static void PackPairs(int r4, int c, float* m, float* dst)
    {
        int blocks = c / 8;
        for (int j0 = 0; j0 < r4; j0 += 4)
            for (int t = 0; t < blocks; t++, dst += 32)
                for (int q = 0; q < 4; q++) Avx.Store(dst + 8 * q, Avx.LoadVector256(m + (nint)(j0 + q) * c + 8 * t));
    }

    // Rows i0..i1 of y: rank rows in groups of four on the paired tile (six rows of x at a time, then one), the
    // r mod 4 rank rows left on Dot1, as DotGroup gives them.
    static void DotRowsWide(ref Job job, int i0, int i1)
    {
        int r = job.R, c = job.C, r4 = r & ~3;
        float* x = job.A, m = job.B, y = job.Out;
        nint groupFloats = (nint)(c / 8) * 32;
        int i = i0;
        for (; i + DotWideRows <= i1; i += DotWideRows)
            for (int j0 = 0; j0 < r4; j0 += 4) DotPairTile<Six>(i, j0, c, r, x, m, job.P + j0 / 4 * groupFloats, y);
        for (; i < i1; i++)
            for (int j0 = 0; j0 < r4; j0 += 4) DotPairTile<One>(i, j0, c, r, x, m, job.P + j0 / 4 * groupFloats, y);
        for (i = i0; i < i1; i++)
            for (int j = r4; j < r; j++) y[(nint)i * r + j] = Dot1(c, x + (nint)i * c, m + (nint)j * c);
    }

    interface IRows { static abstract int N { get; } }
    struct Six : IRows { public static int N => 6; }
    struct One : IRows { public static int N => 1; }

    // y[i..i+N, j0..j0+4) from x rows i.. against the paired rank rows at mp; lanes 0–7 of a01 are the chain of
    // (row, j0), lanes 8–15 that of (row, j0 + 1), each finished as Dot3x4 finishes it.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void DotPairTile<TRows>(int i, int j0, int c, int r, float* x, float* m, float* mp, float* y) where TRows : struct, IRows
    {
        float* x0 = x + (nint)i * c, x1 = x0 + c, x2 = x1 + c, x3 = x2 + c, x4 = x3 + c, x5 = x4 + c;
        Vector512<float> a001 = default, a023 = default, a101 = default, a123 = default, a201 = default, a223 = default;
        Vector512<float> a301 = default, a323 = default, a401 = default, a423 = default, a501 = default, a523 = default;
        int blocks = c / 8, p = 0;
        for (int t = 0; t < blocks; t++, p += 8, mp += 32)
        {
            var m01 = Vector512.Load(mp);
            var m23 = Vector512.Load(mp + 16);
            var u = Avx512DQ.BroadcastVector256ToVector512(x0 + p);
            a001 = Avx512F.FusedMultiplyAdd(u, m01, a001); a023 = Avx512F.FusedMultiplyAdd(u, m23, a023);
            if (TRows.N > 1)
            {
                u = Avx512DQ.BroadcastVector256ToVector512(x1 + p);
                a101 = Avx512F.FusedMultiplyAdd(u, m01, a101); a123 = Avx512F.FusedMultiplyAdd(u, m23, a123);
                u = Avx512DQ.BroadcastVector256ToVector512(x2 + p);
                a201 = Avx512F.FusedMultiplyAdd(u, m01, a201); a223 = Avx512F.FusedMultiplyAdd(u, m23, a223);
                u = Avx512DQ.BroadcastVector256ToVector512(x3 + p);
                a301 = Avx512F.FusedMultiplyAdd(u, m01, a301); a323 = Avx512F.FusedMultiplyAdd(u, m23, a323);
                u = Avx512DQ.BroadcastVector256ToVector512(x4 + p);
                a401 = Avx512F.FusedMultiplyAdd(u, m01, a401); a423 = Avx512F.FusedMultiplyAdd(u, m23, a423);
                u = Avx512DQ.BroadcastVector256ToVector512(x5 + p);
                a501 = Avx512F.FusedMultiplyAdd(u, m01, a501); a523 = Avx512F.FusedMultiplyAdd(u, m23, a523);
            }
        }
        float* m0 = m + (nint)j0 * c;
        FinishPairs(a001, a023, c, p, x0, m0, y + (nint)i * r + j0);
        if (TRows.N > 1)
        {
            FinishPairs(a101, a123, c, p, x1, m0, y + (nint)(i + 1) * r + j0);
            FinishPairs(a201, a223, c, p, x2, m0, y + (nint)(i + 2) * r + j0);
            FinishPairs(a301, a323, c, p, x3, m0, y + (nint)(i + 3) * r + j0);
            FinishPairs(a401, a423, c, p, x4, m0, y + (nint)(i + 4) * r + j0);
            FinishPairs(a501, a523, c, p, x5, m0, y + (nint)(i + 5) * r + j0);
        }
    }

    // y[0..4) of one row from its two paired accumulators; m0 is rank row j0, the others c apart.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void FinishPairs(Vector512<float> a01, Vector512<float> a23, int c, int p, float* x, float* m0, float* y)
    {
        y[0] = Finish(a01.GetLower(), c, p, x, m0);
        y[1] = Finish(a01.GetUpper(), c, p, x, m0 + c);
        y[2] = Finish(a23.GetLower(), c, p, x, m0 + 2 * c);
        y[3] = Finish(a23.GetUpper(), c, p, x, m0 + 3 * c);
    }
}
