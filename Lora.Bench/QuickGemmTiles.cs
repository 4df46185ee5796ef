using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Lora.Kernels;

namespace Lora.Bench;

/// <summary>
/// <c>quick gemm --tiles [--reps R] [--clock cpu]</c>: the production 6×16 micro-kernel against alternative register
/// tiles (tools/gen_tile_variants.py), each run as a macro-kernel over the same packed blocks: an A block of
/// 240×384 (360 KB, in L2) in MR-row panels and a B block of 384×384 in NR-column panels, every B panel (L1)
/// meeting every A panel, C (240×384) accumulated in place; where the CPU has AVX-512, the 12×32 tile too. Variants are timed in turn within each rep, so machine
/// load hits all alike; the figures are medians and ratios to the production kernel in the same run.
/// </summary>
internal static unsafe class QuickGemmTiles
{
    const int Mc = 240, Nc = 384, Kc = 384;

    record struct Variant(string Name, int Mr, int Nr, nint Kernel, int COffset);

    static void Production(int kc, float* a, float* b, float* c, nint ldc) => MicroKernelAvx2.Kernel6x16(kc, a, b, c, ldc, 1f, 1f, null);

    // The AVX-512 tile over two consecutive 6-row A panels and two consecutive 16-column B panels (its layout).
    static void Wide(int kc, float* a, float* b, float* c, nint ldc) =>
        MicroKernelAvx512.Kernel12x32(kc, a, (nint)kc * 6, b, (nint)kc * 16, 0, null, 0, null, 0, c, ldc, 1f, 1f, null);

    public static int Run(int reps, bool cpu)
    {
        if (!MicroKernel.UseAvx2)
        {
            Console.Error.WriteLine("quick gemm --tiles: needs AVX2/FMA.");
            return 2;
        }
        Variant[] variants =
        [
            new("6x16 production (u4)", 6, 16, (nint)(delegate*<int, float*, float*, float*, nint, void>)&Production, 0),
            new("6x16 u1", 6, 16, (nint)(delegate*<int, float*, float*, float*, nint, void>)&QuickGemmTileKernels.Tile6x16U1, 0),
            new("6x16 u4", 6, 16, (nint)(delegate*<int, float*, float*, float*, nint, void>)&QuickGemmTileKernels.Tile6x16U4, 0),
            new("6x16 u8", 6, 16, (nint)(delegate*<int, float*, float*, float*, nint, void>)&QuickGemmTileKernels.Tile6x16U8, 0),
            new("6x16 u4 prefetch", 6, 16, (nint)(delegate*<int, float*, float*, float*, nint, void>)&QuickGemmTileKernels.Tile6x16U4Prefetch, 0),
            new("6x16 u4, C rows +16 B", 6, 16, (nint)(delegate*<int, float*, float*, float*, nint, void>)&QuickGemmTileKernels.Tile6x16U4, 4),
            new("4x24 u4", 4, 24, (nint)(delegate*<int, float*, float*, float*, nint, void>)&QuickGemmTileKernels.Tile4x24U4, 0),
            new("5x16 u4", 5, 16, (nint)(delegate*<int, float*, float*, float*, nint, void>)&QuickGemmTileKernels.Tile5x16U4, 0),
            new("8x8 u4", 8, 8, (nint)(delegate*<int, float*, float*, float*, nint, void>)&QuickGemmTileKernels.Tile8x8U4, 0),
            new("8x12 bcast B u4", 8, 12, (nint)(delegate*<int, float*, float*, float*, nint, void>)&QuickGemmTileKernels.Tile8x12U4, 0),
        ];
        if (MicroKernel.UseAvx512)
            variants = [.. variants, new("12x32 AVX-512 (u4)", 12, 32, (nint)(delegate*<int, float*, float*, float*, nint, void>)&Wide, 0)];
        nint ldc = Nc;
        float* a = Alloc(Mc * Kc), b = Alloc(Kc * Nc), c = Alloc(Mc * Nc + 64);
        try
        {
            double flops = 2.0 * Mc * Nc * Kc;
            var times = variants.Select(_ => new List<double>()).ToArray();
            for (int rep = -1; rep < reps; rep++) // rep -1 warms up
                for (int v = 0; v < variants.Length; v++)
                {
                    double t0 = Now(cpu);
                    for (int s = 0; s < 20; s++) Sweep(variants[v], a, b, c + variants[v].COffset, ldc);
                    if (rep >= 0) times[v].Add((Now(cpu) - t0) / 20);
                }
            Console.WriteLine($"quick gemm --tiles: macro-kernel {Mc}×{Nc}×{Kc}, {reps} reps, medians, {(cpu ? "process CPU" : "wall")} clock");
            Console.WriteLine($"{"tile",-24} {"GF/s",7} {"vs production",14}");
            double prod = flops / Median(times[0]) / 1e9;
            for (int v = 0; v < variants.Length; v++)
            {
                double g = flops / Median(times[v]) / 1e9;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{variants[v].Name,-24} {g,7:F1} {g / prod,14:F2}"));
            }
        }
        finally
        {
            NativeMemory.AlignedFree(a);
            NativeMemory.AlignedFree(b);
            NativeMemory.AlignedFree(c);
        }
        return 0;
    }

    static void Sweep(in Variant v, float* a, float* b, float* c, nint ldc)
    {
        var kernel = (delegate*<int, float*, float*, float*, nint, void>)v.Kernel;
        for (int jr = 0; jr < Nc; jr += v.Nr)
        {
            float* bp = b + (nint)(jr / v.Nr) * Kc * v.Nr;
            for (int ir = 0; ir < Mc; ir += v.Mr)
                kernel(Kc, a + (nint)(ir / v.Mr) * Kc * v.Mr, bp, c + ir * ldc + jr, ldc);
        }
    }

    static float* Alloc(int count)
    {
        var p = (float*)NativeMemory.AlignedAlloc((nuint)count * sizeof(float), 64);
        var rng = new Random(count);
        for (int i = 0; i < count; i++) p[i] = (float)(rng.NextDouble() - 0.5) * 1e-3f;
        return p;
    }

    static double Now(bool cpu) =>
        cpu ? Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds : Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;

    static double Median(List<double> x)
    {
        x.Sort();
        return x.Count % 2 == 1 ? x[x.Count / 2] : 0.5 * (x[x.Count / 2 - 1] + x[x.Count / 2]);
    }
}
