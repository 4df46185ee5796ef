namespace Lora.Kernels;

/// <summary>
/// Register tile and cache blocking of the packed GEMM (BLIS naming). See docs/kernels.md for the measurements
/// that chose these values on the 2-core Zen 3 (32 KB L1d, 512 KB L2 per core, 32 MB L3).
/// </summary>
/// <remarks>
/// MR×NR is the micro-kernel's register tile (6 rows × 16 columns = 12 ymm accumulators).
/// KC: the inner-dimension block; a KC×NR panel of packed B (32 KB) is reused from L1/L2 by every A panel.
/// MC: rows of A packed per block; the MC×KC block of packed A (384 KB) stays in L2.
/// NC: columns of B packed per block; the KC×NC block of packed B (8 MB) lives in L3.
/// The textbook AVX2 values (KC 256, MC 144) measured 5–10 % slower here (docs/kernels.md).
/// KC, MC and NC are fields (not constants) only so the benchmark's tuning sweep can vary them.
/// </remarks>
internal static class GemmBlocking
{
    public const int MR = 6;
    public const int NR = 16;

    public static int KC = 512;
    public static int MC = 192;
    public static int NC = 4080;

    /// <summary>Sets the cache blocking (tuning only; not thread-safe against running GEMMs).</summary>
    public static void Set(int kc, int mc, int nc)
    {
        if (kc < 1 || mc < MR || mc % MR != 0 || nc < NR || nc % NR != 0)
            throw new ArgumentException($"invalid blocking KC = {kc}, MC = {mc}, NC = {nc}: MC must be a multiple of {MR}, NC of {NR}.");
        KC = kc; MC = mc; NC = nc;
    }

    /// <summary>op(A) rows up to which a small-m path is used (AVX2/FMA only).</summary>
    public static int SmallM = 16;

    /// <summary>op(A) rows up to which <see cref="Gemm.Sgemm"/> takes the small-m strip path (AVX2/FMA only; at least
    /// <see cref="SmallM"/>); above, the packed driver with its wide B blocks. 48: m = 24–48 × 4096 × 4096 NN ran at
    /// 0.49–0.59× OpenBLAS on the packed driver and 0.77–0.94× on strips (NT 0.81–0.88× → 1.06–1.10×; docs/kernels.md).</summary>
    public static int StripMaxM = 48;

    /// <summary>op(A) rows up to which the small-m path is the unpacked axpy/dot one; above, the strip path.</summary>
    public static int AxpyMaxM = 4;

    /// <summary>Columns per packed B strip of the small-m strip path (a multiple of NR). 32 with AVX-512, so a strip
    /// is one pair of panels for the 12×32 tile: NT m = 32–48 × 4096 × 4096 went from 0.82–0.87× OpenBLAS's AVX-512
    /// kernels to 1.08–1.25× (<c>quick gemm --smallm 8,8,16,4,32</c>, session 12). The width does not change the bits.</summary>
    public static int StripNc = MicroKernel.UseAvx512 ? 32 : 16;

    /// <summary>Inner-dimension block of the small-m strip path when B is not transposed (its rows are read
    /// 64 bytes at a time, so fewer rows in flight prefetch better); with B transposed the strip path uses KC. B not
    /// transposed now takes <see cref="GemmRowBlocks"/> (same k-blocks of 128, same bits) unless it is switched off.</summary>
    public static int StripKc = 128;
}
