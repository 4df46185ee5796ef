using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Lora.Kernels.GemmBlocking;

namespace Lora.Kernels;

/// <summary>
/// Chooses the MR×NR micro-kernel: AVX2/FMA (<see cref="MicroKernelAvx2"/>) when the CPU has it, otherwise the
/// portable <see cref="Vector{T}"/>/scalar twin below. Both share one contract, so the driver is the same.
/// </summary>
internal static unsafe class MicroKernel
{
    /// <summary>True when the AVX2/FMA kernels run (false under DOTNET_EnableAVX2=0 or DOTNET_EnableHWIntrinsic=0).</summary>
    public static readonly bool UseAvx2 = Avx2.IsSupported && Fma.IsSupported;

    /// <summary>True when the AVX-512 tile (<see cref="MicroKernelAvx512"/>) can run as well (false under
    /// DOTNET_EnableAVX512=0 and whenever <see cref="UseAvx2"/> is false).</summary>
    public static readonly bool UseAvx512 = UseAvx2 && Avx512F.IsSupported && Vector512.IsHardwareAccelerated;

    /// <summary>C[MR×NR] = alpha·Ap·Bp + beta·C (+ bias); beta == 0 never reads C. See <see cref="MicroKernelAvx2.Kernel6x16"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta, float* bias)
    {
        if (UseAvx2) MicroKernelAvx2.Kernel6x16(kc, a, b, c, ldc, alpha, beta, bias);
        else Portable(kc, a, b, 0, null, null, c, ldc, alpha, beta, bias);
    }

    /// <summary>As <see cref="Run"/> over two stretches, kc steps of (a, b) then k2 of (a2, b2), into one set of
    /// accumulators and one epilogue. See <see cref="MicroKernelAvx2.Kernel6x16Tail"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RunTail(int kc, float* a, float* b, int k2, float* a2, float* b2, float* c, nint ldc, float alpha, float beta, float* bias)
    {
        if (UseAvx2) MicroKernelAvx2.Kernel6x16Tail(kc, a, b, k2, a2, b2, c, ldc, alpha, beta, bias);
        else Portable(kc, a, b, k2, a2, b2, c, ldc, alpha, beta, bias);
    }

    /// <summary>As <see cref="RunTail"/>, asking kc/4 lines from <paramref name="next"/> on into L2 along the way
    /// (<see cref="MicroKernelAvx2.Kernel6x16Tail{TNext}"/>); the same bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RunTailNext(int kc, float* a, float* b, int k2, float* a2, float* b2, float* c, nint ldc, float alpha, float beta, float* bias, float* next)
    {
        if (UseAvx2) MicroKernelAvx2.Kernel6x16Tail<NextOne>(kc, a, b, k2, a2, b2, c, ldc, alpha, beta, bias, next);
        else Portable(kc, a, b, k2, a2, b2, c, ldc, alpha, beta, bias);
    }

    /// <summary>The fallback tile: Vector&lt;float&gt; rows when accelerated, plain scalar otherwise (no FMA).</summary>
    static void Portable(int kc, float* a, float* b, int k2, float* a2, float* b2, float* c, nint ldc, float alpha, float beta, float* bias)
    {
        float* acc = stackalloc float[MR * NR];
        new Span<float>(acc, MR * NR).Clear();
        Accumulate(kc, a, b, acc);
        if (k2 > 0) Accumulate(k2, a2, b2, acc);
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++)
            {
                float* cij = c + r * ldc + j;
                float v = beta == 0f ? alpha * acc[r * NR + j] : alpha * acc[r * NR + j] + beta * *cij;
                *cij = bias == null ? v : v + bias[j];
            }
    }

    /// <summary>acc[MR×NR] += Ap·Bp over kc steps, p in order.</summary>
    static void Accumulate(int kc, float* a, float* b, float* acc)
    {
        int w = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated && NR % w == 0)
        {
            for (int p = 0; p < kc; p++, a += MR, b += NR)
                for (int r = 0; r < MR; r++)
                {
                    var av = new Vector<float>(a[r]);
                    for (int j = 0; j < NR; j += w)
                    {
                        ref Vector<float> cv = ref Unsafe.AsRef<Vector<float>>(acc + r * NR + j);
                        cv += av * Unsafe.ReadUnaligned<Vector<float>>(b + j);
                    }
                }
        }
        else
        {
            for (int p = 0; p < kc; p++, a += MR, b += NR)
                for (int r = 0; r < MR; r++)
                {
                    float av = a[r];
                    for (int j = 0; j < NR; j++) acc[r * NR + j] += av * b[j];
                }
        }
    }
}

/// <summary>How many cache lines of the next B panels a micro-kernel asks into L2 every four k steps of its first
/// stretch: 0, 1 or 4, a constant of each instantiation, so the JIT drops the prefetch code of <see cref="NoNext"/>.</summary>
internal interface INextLines { static abstract int Lines { get; } }
internal struct NoNext : INextLines { public static int Lines => 0; }
internal struct NextOne : INextLines { public static int Lines => 1; }
internal struct NextFour : INextLines { public static int Lines => 4; }
