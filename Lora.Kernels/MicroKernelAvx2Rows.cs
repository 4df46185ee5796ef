using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Lora.Kernels.GemmBlocking;

namespace Lora.Kernels;

/// <summary>
/// The micro-kernel for a partial panel of A (the last mr &lt; MR rows of op(A)) against a full NR-column panel of
/// B: only the mr live rows are computed and written straight into C, instead of a 6×16 tile on zero padding
/// copied through scratch (<see cref="GemmMacroKernel"/>'s edge path). For m = 16 that is a third of the tiles.
/// </summary>
/// <remarks>
/// Row r is the same FMA chain over p = 0..kc−1 (broadcast a[p·MR + r] times the two B vectors) and the same
/// epilogue as in <see cref="MicroKernelAvx2.Kernel6x16"/>, so every element has the same bits as on the edge path.
/// </remarks>
internal static unsafe class MicroKernelAvx2Rows
{
    /// <summary>C[mr×16] = alpha·Ap·Bp + beta·C (+ bias) for 1 ≤ mr &lt; MR; arguments as for Kernel6x16.</summary>
    public static void Run(int mr, int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta, float* bias)
        => RunTail(mr, kc, a, b, 0, null, null, c, ldc, alpha, beta, bias);

    /// <summary>As <see cref="Run"/> over two stretches, kc steps of (a, b) then k2 of (a2, b2), into the same
    /// accumulators before the one epilogue (<see cref="MicroKernelAvx2.Kernel6x16Tail"/>'s partial-row twin).</summary>
    public static void RunTail(int mr, int kc, float* a, float* b, int k2, float* a2, float* b2, float* c, nint ldc, float alpha, float beta, float* bias)
    {
        switch (mr)
        {
            case 1: Kernel<R1>(kc, a, b, k2, a2, b2, c, ldc, alpha, beta, bias); break;
            case 2: Kernel<R2>(kc, a, b, k2, a2, b2, c, ldc, alpha, beta, bias); break;
            case 3: Kernel<R3>(kc, a, b, k2, a2, b2, c, ldc, alpha, beta, bias); break;
            case 4: Kernel<R4>(kc, a, b, k2, a2, b2, c, ldc, alpha, beta, bias); break;
            default: Kernel<R5>(kc, a, b, k2, a2, b2, c, ldc, alpha, beta, bias); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel<TR>(int kc, float* a, float* b, int k2, float* a2, float* b2, float* c, nint ldc, float alpha, float beta, float* bias) where TR : struct, ICount
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default;
        for (int stretch = 0; stretch < 2; stretch++, kc = k2, a = a2, b = b2)
        {
            int p = 0;
            for (; p + 2 <= kc; p += 2, a += 2 * MR, b += 2 * NR)
            {
                Step<TR>(a, b, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41);
                Step<TR>(a + MR, b + NR, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41);
            }
            if (p < kc) Step<TR>(a, b, ref c00, ref c01, ref c10, ref c11, ref c20, ref c21, ref c30, ref c31, ref c40, ref c41);
        }
        var va = Vector256.Create(alpha);
        var vb = Vector256.Create(beta);
        Store(c, c00, c01, va, vb, beta, bias);
        if (TR.Value > 1) Store(c + ldc, c10, c11, va, vb, beta, bias);
        if (TR.Value > 2) Store(c + 2 * ldc, c20, c21, va, vb, beta, bias);
        if (TR.Value > 3) Store(c + 3 * ldc, c30, c31, va, vb, beta, bias);
        if (TR.Value > 4) Store(c + 4 * ldc, c40, c41, va, vb, beta, bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Step<TR>(float* a, float* b, ref Vector256<float> c00, ref Vector256<float> c01, ref Vector256<float> c10,
        ref Vector256<float> c11, ref Vector256<float> c20, ref Vector256<float> c21, ref Vector256<float> c30,
        ref Vector256<float> c31, ref Vector256<float> c40, ref Vector256<float> c41) where TR : struct, ICount
    {
        Vector256<float> b0 = Avx.LoadAlignedVector256(b), b1 = Avx.LoadAlignedVector256(b + 8);
        Vector256<float> av = Vector256.Create(a[0]);
        c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
        if (TR.Value > 1) { av = Vector256.Create(a[1]); c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11); }
        if (TR.Value > 2) { av = Vector256.Create(a[2]); c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21); }
        if (TR.Value > 3) { av = Vector256.Create(a[3]); c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31); }
        if (TR.Value > 4) { av = Vector256.Create(a[4]); c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41); }
    }

    // The epilogue of Kernel6x16 (StoreNoBias / Store) for one row: the same operations, so the same bits.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(float* c, Vector256<float> acc0, Vector256<float> acc1, Vector256<float> alpha, Vector256<float> beta, float betaScalar, float* bias)
    {
        Vector256<float> r0 = betaScalar == 0f ? acc0 * alpha : Fma.MultiplyAdd(acc0, alpha, Vector256.Load(c) * beta);
        Vector256<float> r1 = betaScalar == 0f ? acc1 * alpha : Fma.MultiplyAdd(acc1, alpha, Vector256.Load(c + 8) * beta);
        if (bias != null)
        {
            r0 += Vector256.Load(bias);
            r1 += Vector256.Load(bias + 8);
        }
        Vector256.Store(r0, c);
        Vector256.Store(r1, c + 8);
    }
}
