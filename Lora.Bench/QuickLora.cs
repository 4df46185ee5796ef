using System.Diagnostics;
using System.Globalization;
using Lora.Kernels;

namespace Lora.Bench;

/// <summary>
/// <c>quick lora [--threads N] [--json] [--rounds R] [--shape n,d,k,r]... [--clock cpu] [--no-prefetch]</c>: the fused LoRA kernels against the plain GEMM, the
/// unfused three-call forward and the full fine-tuning step, on the issue's five shapes. Kernels run interleaved
/// in rounds (each round times every kernel once), so a burst of load from other processes hits them alike; each
/// figure is the median over rounds of the time per call. Also measures the read bandwidth (<see cref="Bandwidth"/>)
/// and reports what fraction of it the n = 1 forward reaches. <c>--clock cpu</c> times with the process's CPU clock
/// (all threads, spinning workers included) instead of the wall clock: on a machine loaded far beyond its cores,
/// wall time mostly measures the scheduler, while CPU time still measures the work (with 1 thread it is the work).
/// <c>--profile</c> times the parts of a fused step instead (<see cref="QuickLoraProfile"/>; tuning options
/// <c>--kc a,b,…</c>, <c>--blocking KC,MC,NC</c>, <c>--lowrank-max-r R</c>). <c>--no-prefetch</c> adds, for n ≤ 16,
/// the forward and step without the small-batch path's W prefetch (<see cref="LoraSmallBatch.PrefetchMinBytes"/>),
/// and <c>--narrow-small</c> on its AVX2 tiles instead of the AVX-512 ones (AVX-512 machines), in the same rounds,
/// with their ratios to the default.
/// </summary>
internal static class QuickLora
{
    static readonly (int N, int D, int K, int R)[] Shapes =
        [(256, 1024, 1024, 8), (256, 1024, 1024, 64), (256, 4096, 4096, 8), (16, 4096, 4096, 8), (1, 4096, 4096, 8)];

    public static int Run(string[] args)
    {
        if (!QuickArgs.Known("lora", args, "--json --profile --no-prefetch --narrow-small", "--threads --rounds --shape --clock --blocking --kc --lowrank-max-r")) return 2;
        bool json = args.Contains("--json");
        int threads = QuickArgs.Int(args, "--threads", KernelThreads.Default), rounds = QuickArgs.Int(args, "--rounds", 7);
        if (threads < 1 || threads > KernelThreads.MaxCount || rounds < 1)
        {
            Console.Error.WriteLine($"quick lora: --threads must be in [1, {KernelThreads.MaxCount}] and --rounds ≥ 1.");
            return 2;
        }
        bool cpu = QuickArgs.CpuClock(args);
        var shapes = Shapes;
        var given = new List<(int, int, int, int)>();
        for (int si = 0; si < args.Length; si++)
        {
            if (args[si] != "--shape") continue;
            var v = si + 1 < args.Length ? args[si + 1].Split(',') : [];
            if (v.Length != 4 || !v.All(t => int.TryParse(t, out int z) && z >= 1))
            {
                Console.Error.WriteLine("quick lora: --shape takes n,d,k,r (positive integers).");
                return 2;
            }
            given.Add((int.Parse(v[0]), int.Parse(v[1]), int.Parse(v[2]), int.Parse(v[3])));
        }
        if (given.Count > 0) shapes = [.. given]; // each --shape adds one
        s_clock = cpu ? QuickArgs.ProcessCpuMs : QuickArgs.WallMs;
        KernelThreads.Count = threads;
        if (args.Contains("--profile"))
        {
            int bi = Array.IndexOf(args, "--blocking"); // KC,MC,NC (tuning only)
            int li = Array.IndexOf(args, "--lowrank-max-r"); // tuning only
            if (li >= 0) LoraGemmFused.LowRankMaxR = int.Parse(args[li + 1]);
            if (bi >= 0) { var kmn = args[bi + 1].Split(',').Select(int.Parse).ToArray(); GemmBlocking.Set(kmn[0], kmn[1], kmn[2]); }
            int ki = Array.IndexOf(args, "--kc");
            QuickLoraProfile.Run(shapes, rounds, threads, ki >= 0 ? args[ki + 1].Split(',').Select(int.Parse).ToArray() : []);
            KernelThreads.Reset();
            return 0;
        }
        var inv = CultureInfo.InvariantCulture;
        double bandwidth = Bandwidth.Measure(s_clock);
        if (json) Console.WriteLine(string.Format(inv, "{{\"kernel\":\"read_bandwidth\",\"threads\":{0},\"gbps\":{1:F2}}}", threads, bandwidth));
        else Console.WriteLine(string.Format(inv, "read bandwidth (streaming sum over 256 MB, best pass, {2} clock), {0} thread(s): {1:F1} GB/s", threads, bandwidth, cpu ? "cpu" : "wall"));
        if (!json) Console.WriteLine($"clock: {(cpu ? "process CPU time" : "wall")}");
        foreach (var (n, d, k, r) in shapes)
        {
            var layer = new LoraLayer(n, d, k, r);
            var kernels = layer.Kernels();
            // --no-prefetch: also the small-batch forward and step without the W prefetch, in the same rounds.
            bool alt = args.Contains("--no-prefetch") && n <= GemmBlocking.SmallM;
            if (alt)
            {
                static Action Plain(Action body) => () =>
                {
                    long saved = LoraSmallBatch.PrefetchMinBytes;
                    LoraSmallBatch.PrefetchMinBytes = long.MaxValue;
                    body();
                    LoraSmallBatch.PrefetchMinBytes = saved;
                };
                kernels = [.. kernels, ("lora_forward_nopf", Plain(kernels[1].Body)), ("lora_step_nopf", Plain(kernels[3].Body))];
            }
            // --narrow-small: also the small-batch forward and step on the AVX2 tiles instead of the AVX-512 ones.
            bool narrow = args.Contains("--narrow-small") && n <= GemmBlocking.SmallM && MicroKernel.UseAvx512;
            int narrowAt = kernels.Length;
            if (narrow)
            {
                static Action Narrow(Action body) => () =>
                {
                    LoraSmallBatch.Wide = false;
                    body();
                    LoraSmallBatch.Wide = true;
                };
                kernels = [.. kernels, ("lora_forward_avx2", Narrow(kernels[1].Body)), ("lora_step_avx2", Narrow(kernels[3].Body))];
            }
            var ms = Measure(kernels, rounds);
            for (int i = 0; i < kernels.Length; i++)
            {
                if (json)
                    Console.WriteLine(string.Format(inv, "{{\"kernel\":\"{0}\",\"n\":{1},\"d\":{2},\"k\":{3},\"r\":{4},\"threads\":{5},\"ms\":{6:F4}}}",
                        kernels[i].Name, n, d, k, r, threads, ms[i]));
            }
            if (json) continue;
            Console.WriteLine(string.Format(inv, "n={0} d={1} k={2} r={3} threads={4}", n, d, k, r, threads));
            for (int i = 0; i < kernels.Length; i++) Console.WriteLine(string.Format(inv, "  {0,-16} {1,10:F3} ms", kernels[i].Name, ms[i]));
            Console.WriteLine(string.Format(inv, "  lora_forward / plain_forward = {0:F3}   unfused / plain = {1:F3}   lora_step / full_step = {2:F3}",
                ms[1] / ms[0], ms[2] / ms[0], ms[3] / ms[4]));
            if (alt)
                Console.WriteLine(string.Format(inv, "  without the W prefetch / with: forward {0:F3}, step {1:F3}", ms[5] / ms[1], ms[6] / ms[3]));
            if (narrow)
                Console.WriteLine(string.Format(inv, "  AVX2 tiles / AVX-512 tiles: forward {0:F3}, step {1:F3}", ms[narrowAt] / ms[1], ms[narrowAt + 1] / ms[3]));
            if (n == 1)
            {
                double gbps = layer.WeightBytes / (ms[1] * 1e-3) / 1e9;
                Console.WriteLine(string.Format(inv, "  lora_forward reads W at {0:F1} GB/s = {1:P0} of the measured read bandwidth", gbps, gbps / bandwidth));
            }
        }
        KernelThreads.Reset();
        return 0;
    }

    /// <summary>Median ms per call of each kernel, over rounds that interleave the kernels.</summary>
    internal static double[] Measure((string Name, Action Body)[] kernels, int rounds) =>
        QuickArgs.InterleavedRounds("lora", [.. kernels.Select(k => k.Body)], rounds, s_clock,
                once => (int)Math.Clamp(0.03 / Math.Max(once, 1e-7), 1, 10000)) // about 30 ms per measurement
            .Select(s => { Array.Sort(s); return s[s.Length / 2]; }).ToArray();

    static Func<double> s_clock = QuickArgs.WallMs;
}
