using System.Runtime.InteropServices;

namespace Lora.Bench;

/// <summary>
/// The system OpenBLAS (<c>libopenblas.so.0</c>, Debian's libopenblas0-pthread), bound at run time so the benchmarks
/// still run, minus the OpenBLAS rows, when it is absent.
/// </summary>
internal static unsafe class OpenBlas
{
    const int RowMajor = 101, NoTrans = 111, Trans = 112;

    static readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> s_sgemm;
    static readonly delegate* unmanaged<int, void> s_setThreads;
    static readonly delegate* unmanaged<byte*> s_corename;

    static OpenBlas()
    {
        foreach (string name in new[] { "libopenblas.so.0", "libopenblas.so", "openblas" })
        {
            if (!NativeLibrary.TryLoad(name, out nint lib)) continue;
            if (NativeLibrary.TryGetExport(lib, "cblas_sgemm", out nint sgemm))
            {
                s_sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm;
                if (NativeLibrary.TryGetExport(lib, "openblas_set_num_threads", out nint set))
                    s_setThreads = (delegate* unmanaged<int, void>)set;
                if (NativeLibrary.TryGetExport(lib, "openblas_get_corename", out nint core))
                    s_corename = (delegate* unmanaged<byte*>)core;
                return;
            }
        }
    }

    /// <summary>True when libopenblas was found.</summary>
    public static bool Available => s_sgemm != null;

    /// <summary>The one-line message printed when OpenBLAS rows are skipped.</summary>
    public const string MissingMessage = "OpenBLAS not found (libopenblas.so.0): skipping OpenBLAS; install with apt-get install -y libopenblas0-pthread";

    /// <summary>The kernels OpenBLAS chose for this CPU (openblas_get_corename), or "unknown".</summary>
    public static string CoreName => s_corename == null ? "unknown" : Marshal.PtrToStringUTF8((nint)s_corename()) ?? "unknown";

    /// <summary>
    /// A warning when OpenBLAS runs its generic SSE3 kernels on a CPU with AVX2/FMA (a CPU model its build does not
    /// know, as Debian's 0.3.21 on an Intel Xeon of model 207), or null. Such a baseline is 4–6× below what OpenBLAS
    /// does with the right kernels, so the figures would flatter Lora; OPENBLAS_CORETYPE chooses them (the PyTorch
    /// scripts in compare/ set it themselves, see blas_core.py).
    /// </summary>
    public static string? GenericKernelsWarning
    {
        get
        {
            string core = CoreName;
            if (!Available || core is not ("Prescott" or "Core2" or "Nehalem" or "Penryn" or "Atom")) return null;
            if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported) return null;
            string best = System.Runtime.Intrinsics.X86.Avx512F.IsSupported ? "SkylakeX (or Cooperlake where the CPU has AVX512_BF16)" : "Haswell";
            return $"OpenBLAS runs its generic {core} kernels on this CPU, which it does not recognise: its figures are far below its best; rerun with OPENBLAS_CORETYPE={best}";
        }
    }

    /// <summary>Sets OpenBLAS's thread count (openblas_set_num_threads).</summary>
    public static void SetThreads(int threads)
    {
        if (s_setThreads != null) s_setThreads(threads);
    }

    /// <summary>cblas_sgemm, row-major, same argument order as <see cref="Lora.Kernels.Gemm.Sgemm"/>.</summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, float[] a, int lda,
        float[] b, int ldb, float beta, float[] c, int ldc)
    {
        if (!Available) throw new InvalidOperationException(MissingMessage);
        fixed (float* pa = a, pb = b, pc = c)
            s_sgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
    }
}
