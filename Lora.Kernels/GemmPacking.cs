using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Lora.Kernels.GemmBlocking;

namespace Lora.Kernels;

/// <summary>
/// Packing of op(A) and op(B) blocks into the micro-kernel's panel layouts. Transposes cost only here: the
/// micro-kernel always reads the same layout. Edges are zero-padded to full panels so the micro-kernel never
/// branches on shape.
/// </summary>
/// <remarks>
/// Packed A block (mc×kc): panels of MR rows, panel t at offset t·panelStride, element (r, p) at p·MR + r.
/// Packed B block (kc×nc): panels of NR columns, panel t at offset t·panelStride, element (p, c) at p·NR + c.
/// panelStride is kc·NR for a per-call block; a pre-packed whole matrix uses K·NR (see <see cref="GemmPackedB"/>).
/// </remarks>
internal static unsafe class GemmPacking
{
    static bool Simd => MicroKernel.UseAvx2;

    /// <summary>
    /// Packs op(A)[i0..i0+mc, p0..p0+kc] into MR-row panels, panel t at dst + t·panelStride (kc·MR for a block,
    /// K·MR for a whole pre-packed A). Needs 16 floats of slack after the last panel.
    /// </summary>
    public static void PackA(in GemmOperand a, int i0, int mc, int p0, int kc, float* dst, nint panelStride)
    {
        for (int ir = 0; ir < mc; ir += MR, dst += panelStride)
        {
            int mr = Math.Min(MR, mc - ir);
            if (!a.Trans) PackARows(a.At(i0 + ir, p0), a.Ld, mr, kc, dst);
            else PackACols(a.At(i0 + ir, p0), a.Ld, mr, kc, dst);
        }
    }

    // op(A) rows are contiguous along p (A not transposed): a 6×8 block is transposed per step.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PackARows(float* src, nint ld, int mr, int kc, float* dst)
    {
        int p = 0;
        if (Simd && mr == MR)
        {
            for (; p + 8 <= kc; p += 8)
            {
                Vector256<float> r0 = Vector256.Load(src + p), r1 = Vector256.Load(src + ld + p),
                    r2 = Vector256.Load(src + 2 * ld + p), r3 = Vector256.Load(src + 3 * ld + p),
                    r4 = Vector256.Load(src + 4 * ld + p), r5 = Vector256.Load(src + 5 * ld + p),
                    r6 = Vector256<float>.Zero, r7 = Vector256<float>.Zero;
                Transpose8x8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
                // Each 8-wide store spills 2 floats into the next p slot, overwritten by the next store;
                // the last one lands in the slack after the panel (or in the next panel, packed later).
                float* d = dst + p * MR;
                Vector256.Store(r0, d); Vector256.Store(r1, d + 6); Vector256.Store(r2, d + 12); Vector256.Store(r3, d + 18);
                Vector256.Store(r4, d + 24); Vector256.Store(r5, d + 30); Vector256.Store(r6, d + 36); Vector256.Store(r7, d + 42);
            }
        }
        for (; p < kc; p++)
        {
            float* d = dst + p * MR;
            int r = 0;
            for (; r < mr; r++) d[r] = src[r * ld + p];
            for (; r < MR; r++) d[r] = 0f;
        }
    }

    // op(A) = Aᵀ: for each p the mr values are contiguous in memory.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PackACols(float* src, nint ld, int mr, int kc, float* dst)
    {
        for (int p = 0; p < kc; p++, src += ld, dst += MR)
        {
            int r = 0;
            if (mr == MR)
            {
                if (Simd) { Vector128.Store(Vector128.Load(src), dst); r = 4; }
                for (; r < MR; r++) dst[r] = src[r];
            }
            else
            {
                for (; r < mr; r++) dst[r] = src[r];
                for (; r < MR; r++) dst[r] = 0f;
            }
        }
    }

    /// <summary>
    /// Packs op(B)[p0..p0+kc, j0..j0+nc] into NR-column panels, panel t at dst + t·panelStride.
    /// prefetch: when B is not transposed, also prefetch each row this many floats ahead (0 = off); the small-m
    /// strip path packs narrow strips of many rows, more streams than the hardware prefetchers follow.
    /// </summary>
    public static void PackB(in GemmOperand b, int p0, int kc, int j0, int nc, float* dst, nint panelStride, int prefetch = 0)
    {
        for (int jr = 0; jr < nc; jr += NR, dst += panelStride)
        {
            int nr = Math.Min(NR, nc - jr);
            if (!b.Trans) PackBRows(b.At(p0, j0 + jr), b.Ld, nr, kc, dst, prefetch);
            else PackBCols(b.At(p0, j0 + jr), b.Ld, nr, kc, dst);
        }
    }

    // op(B) = B: the NR values of each p are contiguous.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PackBRows(float* src, nint ld, int nr, int kc, float* dst, int prefetch)
    {
        if (Simd && nr == NR)
        {
            for (int p = 0; p < kc; p++, src += ld, dst += NR)
            {
                if (prefetch != 0) Sse.Prefetch0(src + prefetch); // never faults, even past the matrix
                Vector256.Store(Vector256.Load(src), dst);
                Vector256.Store(Vector256.Load(src + 8), dst + 8);
            }
            return;
        }
        for (int p = 0; p < kc; p++, src += ld, dst += NR)
        {
            int c = 0;
            for (; c < nr; c++) dst[c] = src[c];
            for (; c < NR; c++) dst[c] = 0f;
        }
    }

    // op(B) = Bᵀ: column c of the panel is row c of the stored matrix, contiguous along p; 8×8 blocks are transposed.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PackBCols(float* src, nint ld, int nr, int kc, float* dst)
    {
        int p = 0;
        if (Simd && nr == NR)
        {
            for (; p + 8 <= kc; p += 8)
            {
                for (int half = 0; half < 2; half++)
                {
                    float* s = src + half * 8 * ld + p;
                    Vector256<float> r0 = Vector256.Load(s), r1 = Vector256.Load(s + ld), r2 = Vector256.Load(s + 2 * ld),
                        r3 = Vector256.Load(s + 3 * ld), r4 = Vector256.Load(s + 4 * ld), r5 = Vector256.Load(s + 5 * ld),
                        r6 = Vector256.Load(s + 6 * ld), r7 = Vector256.Load(s + 7 * ld);
                    Transpose8x8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
                    float* d = dst + p * NR + half * 8;
                    Vector256.Store(r0, d); Vector256.Store(r1, d + NR); Vector256.Store(r2, d + 2 * NR); Vector256.Store(r3, d + 3 * NR);
                    Vector256.Store(r4, d + 4 * NR); Vector256.Store(r5, d + 5 * NR); Vector256.Store(r6, d + 6 * NR); Vector256.Store(r7, d + 7 * NR);
                }
            }
        }
        for (; p < kc; p++)
        {
            float* d = dst + p * NR;
            int c = 0;
            for (; c < nr; c++) d[c] = src[c * ld + p];
            for (; c < NR; c++) d[c] = 0f;
        }
    }

    /// <summary>dst (cols×rows, row-major) = srcᵀ for src (rows×cols, row-major): whole 8×8 blocks in registers (with
    /// AVX2), the edges one element at a time.</summary>
    internal static void Transpose(int rows, int cols, float* src, float* dst)
    {
        int r8 = MicroKernel.UseAvx2 ? rows & ~7 : 0, c8 = MicroKernel.UseAvx2 ? cols & ~7 : 0;
        for (int i = 0; i < r8; i += 8)
            for (int j = 0; j < c8; j += 8) TransposeBlock8(src + (nint)i * cols + j, cols, dst + (nint)j * rows + i, rows);
        for (int i = 0; i < rows; i++)
            for (int j = i < r8 ? c8 : 0; j < cols; j++) dst[(nint)j * rows + i] = src[(nint)i * cols + j];
    }

    /// <summary>dst[j, q] = src[q, j] for an 8×8 block: src rows lds apart, dst rows ldd apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void TransposeBlock8(float* src, nint lds, float* dst, nint ldd)
    {
        Vector256<float> r0 = Avx.LoadVector256(src), r1 = Avx.LoadVector256(src + lds), r2 = Avx.LoadVector256(src + 2 * lds),
            r3 = Avx.LoadVector256(src + 3 * lds), r4 = Avx.LoadVector256(src + 4 * lds), r5 = Avx.LoadVector256(src + 5 * lds),
            r6 = Avx.LoadVector256(src + 6 * lds), r7 = Avx.LoadVector256(src + 7 * lds);
        Transpose8x8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
        Avx.Store(dst, r0); Avx.Store(dst + ldd, r1); Avx.Store(dst + 2 * ldd, r2); Avx.Store(dst + 3 * ldd, r3);
        Avx.Store(dst + 4 * ldd, r4); Avx.Store(dst + 5 * ldd, r5); Avx.Store(dst + 6 * ldd, r6); Avx.Store(dst + 7 * ldd, r7);
    }

    /// <summary>In-register 8×8 transpose: afterwards r_j holds what was column j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose8x8(ref Vector256<float> r0, ref Vector256<float> r1, ref Vector256<float> r2, ref Vector256<float> r3,
        ref Vector256<float> r4, ref Vector256<float> r5, ref Vector256<float> r6, ref Vector256<float> r7)
    {
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        r0 = Avx.Permute2x128(u0, u4, 0x20); r1 = Avx.Permute2x128(u1, u5, 0x20);
        r2 = Avx.Permute2x128(u2, u6, 0x20); r3 = Avx.Permute2x128(u3, u7, 0x20);
        r4 = Avx.Permute2x128(u0, u4, 0x31); r5 = Avx.Permute2x128(u1, u5, 0x31);
        r6 = Avx.Permute2x128(u2, u6, 0x31); r7 = Avx.Permute2x128(u3, u7, 0x31);
    }
}
