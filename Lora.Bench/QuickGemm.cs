using System.Diagnostics;
using System.Globalization;
using Lora.Kernels;

namespace Lora.Bench;

/// <summary>
/// <c>quick gemm [--threads N] [--json] [--reps R] [--blocking KC,MC,NC] [--only square|small] [--shape OP,m,n,k[,threads]]... [--alt private-b|shared-b|edge-tiles|strips-16|strips|narrow|narrow-edges|narrow-single]</c>: our Sgemm against
/// OpenBLAS at the same thread count, on the issue's shapes, in under a minute. Each repetition times ours and
/// OpenBLAS's back to back, so machine load hits both alike; figures are medians.
/// </summary>
/// <remarks>
/// Without --threads: every shape with 1 thread, plus the 2048 squares with 2 threads. With --threads N: every shape
/// with N threads. --blocking overrides the cache blocking (the tuning sweep in docs/kernels.md).
/// </remarks>
internal static class QuickGemm
{
    public static int Run(string[] args)
    {
        int? threads = null;
        int reps = 5;
        bool json = false;
        string only = "";
        bool cpuClock = false;
        string? alt = null;
        bool bandwidth = false, tiles = false;
        var shapes = new List<(bool ta, bool tb, int m, int n, int k, int threads)>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--json": json = true; break;
                case "--bandwidth": bandwidth = true; break;
                case "--tiles": tiles = true; break;
                case "--settle" when i + 1 < args.Length && int.TryParse(args[i + 1], out int ms) && ms >= 0: SettleMs = ms; i++; break;
                case "--threads" when i + 1 < args.Length && int.TryParse(args[i + 1], out int t) && t >= 1: threads = t; i++; break;
                case "--reps" when i + 1 < args.Length && int.TryParse(args[i + 1], out int r) && r >= 1: reps = r; i++; break;
                case "--only" when i + 1 < args.Length: only = args[++i]; break;
                case "--clock" when i + 1 < args.Length && args[i + 1] is "cpu" or "wall": cpuClock = args[++i] == "cpu"; break;
                case "--smallm" when i + 1 < args.Length: // KB,prefetch strips (tuning)
                    int[] sm = args[++i].Split(',').Select(int.Parse).ToArray();
                    GemmSmallM.KB = sm[0];
                    GemmSmallM.PrefetchStrips = sm[1];
                    if (sm.Length > 2) GemmBlocking.SmallM = sm[2];
                    if (sm.Length > 3) GemmBlocking.AxpyMaxM = sm[3];
                    if (sm.Length > 4) GemmBlocking.StripNc = sm[4];
                    if (sm.Length > 5) GemmDriver.PrefetchStrips = sm[5];
                    if (sm.Length > 6) GemmBlocking.StripKc = sm[6];
                    break;
                case "--alt" when i + 1 < args.Length && args[i + 1] is "private-b" or "shared-b" or "edge-tiles" or "strips-16" or "strips" or "narrow" or "narrow-edges" or "narrow-single": alt = args[++i]; break;
                case "--shape" when i + 1 < args.Length: // OP,m,n,k[,threads], e.g. NT,16,4096,4096 (repeatable; replaces the default shapes)
                    string[] f = args[++i].Split(',');
                    shapes.Add((f[0][0] == 'T', f[0][1] == 'T', int.Parse(f[1]), int.Parse(f[2]), int.Parse(f[3]), f.Length > 4 ? int.Parse(f[4]) : 0));
                    break;
                case "--rows" when i + 1 < args.Length: // RowKc,RowNc[,pad[,streams[,balanced 0|1]]] of GemmRowBlocks (tuning)
                    int[] rw = args[++i].Split(',').Select(int.Parse).ToArray();
                    GemmRowBlocks.RowKc = rw[0];
                    GemmRowBlocks.RowNc = rw[1];
                    if (rw.Length > 2) GemmRowBlocks.RowPad = rw[2];
                    if (rw.Length > 3) GemmRowBlocks.Streams = rw[3];
                    if (rw.Length > 4) GemmRowBlocks.Balanced = rw[4] != 0;
                    break;
                case "--blocking" when i + 1 < args.Length:
                    int[] kmn = args[++i].Split(',').Select(int.Parse).ToArray();
                    GemmBlocking.Set(kmn[0], kmn[1], kmn[2]);
                    break;
                default:
                    Console.Error.WriteLine($"quick gemm: unknown or incomplete option '{args[i]}'. usage: quick gemm [--threads N] [--json] [--reps R] [--blocking KC,MC,NC] [--only square|small] [--shape OP,m,n,k[,threads]] [--clock wall|cpu] [--alt private-b|shared-b|edge-tiles|strips-16|strips|narrow|narrow-edges|narrow-single] [--rows KC,NC[,pad[,streams[,balanced]]]] [--bandwidth] [--tiles] [--settle MS]");
                    return 2;
            }
        }
        if (tiles) return QuickGemmTiles.Run(reps, cpuClock);
        if (!OpenBlas.Available) Console.Error.WriteLine(OpenBlas.MissingMessage);
        else if (OpenBlas.GenericKernelsWarning is { } generic) Console.Error.WriteLine(generic);
        var cases = new List<(bool ta, bool tb, int m, int n, int k, int threads)>();
        (bool, bool)[] combos = [(false, false), (false, true), (true, false), (true, true)];
        int t1 = threads ?? 1;
        foreach (var (ta, tb, m, n, k, th) in shapes) cases.Add((ta, tb, m, n, k, th > 0 ? th : t1));
        if (shapes.Count > 0) only = "none";
        if (only is not "small" and not "none")
        {
            foreach (int s in new[] { 512, 1024, 2048 })
                foreach (var (ta, tb) in combos) cases.Add((ta, tb, s, s, s, t1));
            if (threads is null)
                foreach (var (ta, tb) in combos) cases.Add((ta, tb, 2048, 2048, 2048, 2));
        }
        if (only is not "square" and not "none")
            foreach (int m in new[] { 1, 4, 16 })
                foreach (var (ta, tb) in combos.Take(2)) cases.Add((ta, tb, m, 4096, 4096, t1));

        if (!json)
        {
            Console.WriteLine($"quick gemm: {Environment.ProcessorCount} cores, AVX2/FMA kernels: {MicroKernel.UseAvx2}, AVX-512 tile: {GemmMacroKernel.Wide}, OpenBLAS kernels: {OpenBlas.CoreName}, blocking KC={GemmBlocking.KC} MC={GemmBlocking.MC} NC={GemmBlocking.NC}, {reps} reps, medians");
            Console.WriteLine($"{"op",-4} {"m",5} {"n",5} {"k",5} {"thr",3} {"ours GF/s",10} {"OpenBLAS",10} {"ratio",6}" + (alt is null ? "" : $" {alt + " GF/s",16} {"ratio",6}"));
        }
        if (bandwidth)
        {
            KernelThreads.Count = 1;
            double gbs = Bandwidth.Measure(() => Now(cpuClock) * 1e3);
            KernelThreads.Reset();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"read bandwidth, 1 thread ({(cpuClock ? "CPU" : "wall")} clock): {gbs:F1} GB/s; B of n = k = 4096 streams in {4096.0 * 4096 * 4 / gbs / 1e6:F1} ms"));
        }
        foreach (var (ta, tb, m, n, k, th) in cases)
        {
            var (ours, theirs, other) = Measure(ta, tb, m, n, k, th, reps, cpuClock && th == 1, alt);
            double? ratio = theirs is double o ? ours / o : null;
            string op = $"{(ta ? 'T' : 'N')}{(tb ? 'T' : 'N')}";
            if (json)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{{\"kernel\":\"sgemm\",\"transA\":\"{(ta ? 'T' : 'N')}\",\"transB\":\"{(tb ? 'T' : 'N')}\",\"m\":{m},\"n\":{n},\"k\":{k},\"threads\":{th},\"gflops\":{ours:F2},\"openblas_gflops\":{Json(theirs)},\"ratio\":{Json(ratio, "F3")}}}"));
            else
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{op,-4} {m,5} {n,5} {k,5} {th,3} {ours,10:F1} {(theirs is double x ? x.ToString("F1", CultureInfo.InvariantCulture) : "-"),10} {(ratio is double q ? q.ToString("F2", CultureInfo.InvariantCulture) : "-"),6}")
                    + (other is double v ? string.Create(CultureInfo.InvariantCulture, $" {v,16:F1} {(theirs is double y ? (v / y).ToString("F2", CultureInfo.InvariantCulture) : "-"),6}") : ""));
        }
        return 0;
    }

    /// <summary>Pause after each multi-threaded OpenBLAS timing (--settle MS; 0 = none). OpenBLAS's workers spin for
    /// about 2^28 cycles (≈ 0.1 s at this CPU's 2.5–3 GHz) before they sleep. 300 ms (six pauses per shape) pushed
    /// the two-thread default run over a minute once the warm-up paused too; at 200 ms our timing right after
    /// OpenBLAS's matched a variant timed after ours (2048³, 2 threads), at 150 ms it still lost up to 7 %.</summary>
    static int SettleMs = 200;

    static string Json(double? v, string format = "F2") => v is double x ? x.ToString(format, CultureInfo.InvariantCulture) : "null";

    // cpu: time by the process's CPU time instead of the wall clock (1 thread only). On a loaded machine this
    // discounts time slices lost to other processes; it is for tuning, never the published figures.
    // alt: a variant of ours timed in the same reps: "private-b" (each thread packs its own B block, the default),
    // "shared-b" (the parts share each packed B block, GemmSharedB), "edge-tiles"
    // (partial A panels on the zero-padded 6x16 edge path instead of MicroKernelAvx2Rows), "strips-16" (the small-m
    // strip path only up to m = 16, the packed driver above, as before session 2), "strips" (B not transposed, small m:
    // the 16-column strips instead of GemmRowBlocks, as before session 3), "narrow" (the 6×16 tiles instead of the
    // AVX-512 ones), "narrow-edges" (the rows below the pairs of A panels on the 6×16 path), "narrow-single" (a single
    // B panel left over on the 6×16 path instead of the 12×16 tile).
    static (double ours, double? openblas, double? alt) Measure(bool ta, bool tb, int m, int n, int k, int threads, int reps, bool cpu, string? alt)
    {
        int lda = ta ? m : k, ldb = tb ? k : n;
        float[] a = Fill(m * k, 1), b = Fill(k * n, 2), c = new float[m * n];
        double flops = 2.0 * m * n * k;
        // Enough calls per timing that a sample lasts at least ~20 ms.
        int calls = (int)Math.Clamp(2e9 / flops, 1, 1000);
        var oursTimes = new List<double>();
        var theirTimes = new List<double>();
        var altTimes = new List<double>();
        KernelThreads.Count = threads;
        OpenBlas.SetThreads(threads);
        try
        {
            Transpose tA = ta ? Transpose.Yes : Transpose.No, tB = tb ? Transpose.Yes : Transpose.No;
            // Warm-up to steady state (QuickArgs.WarmUp: ≥ 30 calls and 0.3 s, then a pause for the background tier-1
            // JIT), so tiered JIT has promoted the driver and packing code (the micro-kernels are compiled fully
            // optimised from the start), and one OpenBLAS rep. Without the pause the first shape of a two-thread run
            // shared a core with the JIT: 512³ NN measured 0.58–0.66× OpenBLAS first in the list, 1.16–1.25× second.
            // Large shapes (a call of 0.1–0.2 s) warm up on fewer than WarmUp's 30 calls, which kept the whole
            // one-thread run over a minute (63 s); their outer loops are compiled by OSR, and the pause still lets the
            // background JIT finish (and they wait as few calls for the JIT to go quiet).
            int warmCalls = Math.Clamp(3 * calls, 3, 30);
            QuickArgs.WarmUp(() => Gemm.Sgemm(tA, tB, m, n, k, 1f, a, lda, b, ldb, 0f, c, n), minCalls: warmCalls,
                quietCalls: Math.Min(warmCalls, 40));
            for (int rep = -1; rep < reps; rep++) // rep -1 warms up OpenBLAS
            {
                double start = Now(cpu);
                for (int i = 0; i < calls; i++) Gemm.Sgemm(tA, tB, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
                if (rep >= 0) oursTimes.Add((Now(cpu) - start) / calls);
                if (alt is not null)
                {
                    SetAlt(alt, true);
                    try
                    {
                        start = Now(cpu);
                        for (int i = 0; i < calls; i++) Gemm.Sgemm(tA, tB, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
                        if (rep >= 0) altTimes.Add((Now(cpu) - start) / calls);
                    }
                    finally { SetAlt(alt, false); }
                }
                if (!OpenBlas.Available) continue;
                start = Now(cpu);
                for (int i = 0; i < calls; i++) OpenBlas.Sgemm(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
                if (rep >= 0) theirTimes.Add((Now(cpu) - start) / calls);
                // OpenBLAS's worker threads spin (sched_yield) for ~2^28 cycles after a call before they sleep; on
                // 2 cores that spinning took a third of the next multi-threaded timing (ours, always next). Let
                // them settle first. Measured: docs/benchmarks.md, "SGEMM: shared B blocks …".
                if (threads > 1 && SettleMs > 0) Thread.Sleep(SettleMs);
            }
        }
        finally { KernelThreads.Reset(); }
        double ours = flops / Median(oursTimes) / 1e9;
        double? theirs = theirTimes.Count > 0 ? flops / Median(theirTimes) / 1e9 : null;
        double? other = altTimes.Count > 0 ? flops / Median(altTimes) / 1e9 : null;
        return (ours, theirs, other);
    }

    static void SetAlt(string alt, bool on)
    {
        if (alt == "private-b") GemmDriver.SharedPacking = false;
        if (alt == "shared-b") GemmDriver.SharedPacking = on;
        if (alt == "edge-tiles") GemmMacroKernel.PartialRows = !on;
        if (alt == "strips-16") GemmBlocking.StripMaxM = on ? 16 : 48;
        if (alt == "strips") GemmRowBlocks.Enabled = !on;
        if (alt == "narrow") GemmMacroKernel.Wide = !on && MicroKernel.UseAvx512;
        if (alt == "narrow-edges") GemmMacroKernel.WideEdges = !on;
        if (alt == "narrow-single") GemmMacroKernel.WideSingle = !on;
    }

    static double Now(bool cpu) =>
        cpu ? Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds : Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;

    static double Median(List<double> x)
    {
        x.Sort();
        return x.Count % 2 == 1 ? x[x.Count / 2] : 0.5 * (x[x.Count / 2 - 1] + x[x.Count / 2]);
    }

    static float[] Fill(int count, int seed)
    {
        var rng = new Random(seed);
        var x = new float[count];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }
}
