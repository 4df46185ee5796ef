using System.Diagnostics;
using System.Globalization;
using Lora.Kernels;

namespace Lora.Bench;

/// <summary>
/// <c>quick conv [--threads N] [--json] [--rounds R] [--shape n,c,hw,cout,k,r] [--clock cpu] [--baseline] [--narrow]</c>: the fused LoRA convolution
/// (<see cref="LoraConv"/>) against the plain convolution (the same kernel with r = 0: im2col, one packed GEMM, bias
/// in the GEMM) and the unfused composition PEFT's formulation reads as (the plain convolution, a second convolution
/// with A, then a 1×1 convolution with B added to y). Kernels run interleaved in rounds, so bursts of load from other
/// processes hit them alike; each figure is the median over rounds of the time per call. <c>--clock cpu</c> times with
/// the process's CPU clock instead of the wall clock (as <c>quick lora</c>): on a machine loaded far beyond its cores the
/// wall clock mostly measures the scheduler, while with 1 thread the CPU time is the work. <c>--baseline</c> adds
/// <c>im2col_sgemm_conv</c>, the textbook im2col + SGEMM + bias pass, to show the plain convolution is not a straw man;
/// <c>--narrow</c> (on a CPU with AVX-512) adds <c>lora_conv_6x16</c>, the fused convolution without the AVX-512 tile.
/// </summary>
/// <remarks>
/// Default shapes: ResNet-style 3×3 convolutions, stride 1, padding 1: 128 → 128 channels at 28×28 (ResNet-18/34
/// layer 2) with batch 16, and 256 → 256 at 14×14 (layer 3) with batch 32; r = 8. The LoRA term's FLOPs relative to
/// the base convolution are r/cout + r/(c·k·k): 6.9 % and 3.5 %.
/// </remarks>
internal static class QuickConv
{
    static readonly (int N, int C, int Hw, int Cout, int K, int R)[] Shapes = [(16, 128, 28, 128, 3, 8), (32, 256, 14, 256, 3, 8)];

    public static int Run(string[] args)
    {
        if (!QuickArgs.Known("conv", args, "--json --baseline --narrow", "--threads --rounds --shape --clock")) return 2;
        bool json = args.Contains("--json");
        int threads = QuickArgs.Int(args, "--threads", KernelThreads.Default), rounds = QuickArgs.Int(args, "--rounds", 9);
        if (threads < 1 || threads > KernelThreads.MaxCount || rounds < 1)
        {
            Console.Error.WriteLine($"quick conv: --threads must be in [1, {KernelThreads.MaxCount}] and --rounds ≥ 1.");
            return 2;
        }
        bool cpu = QuickArgs.CpuClock(args);
        s_clock = cpu ? QuickArgs.ProcessCpuMs : QuickArgs.WallMs;
        var shapes = Shapes;
        int si = Array.IndexOf(args, "--shape");
        if (si >= 0)
        {
            var v = si + 1 < args.Length ? args[si + 1].Split(',') : [];
            if (v.Length != 6 || !v.All(t => int.TryParse(t, out int z) && z >= 1))
            {
                Console.Error.WriteLine("quick conv: --shape takes n,c,hw,cout,k,r (positive integers).");
                return 2;
            }
            var p = v.Select(int.Parse).ToArray();
            shapes = [(p[0], p[1], p[2], p[3], p[4], p[5])];
        }
        KernelThreads.Count = threads;
        var inv = CultureInfo.InvariantCulture;
        foreach (var (n, c, hw, cout, k, r) in shapes)
        {
            var conv = new ConvCase(n, c, hw, cout, k, r);
            var kernels = conv.Kernels(args.Contains("--baseline"));
            if (args.Contains("--narrow") && GemmMacroKernel.Wide)
                kernels = [.. kernels, ("lora_conv_6x16", () => { GemmMacroKernel.Wide = false; try { conv.Lora(); } finally { GemmMacroKernel.Wide = true; } })];
            var ms = Measure(kernels, rounds, out double loraRatio, out double unfusedRatio);
            double loraFlops = (double)r / cout + (double)r / (c * k * k);
            for (int i = 0; i < kernels.Length && json; i++)
                Console.WriteLine(string.Format(inv,
                    "{{\"kernel\":\"{0}\",\"n\":{1},\"c\":{2},\"h\":{3},\"w\":{3},\"cout\":{4},\"k\":{5},\"stride\":1,\"pad\":{6},\"r\":{7},\"threads\":{8},\"ms\":{9:F3},\"clock\":\"{10}\"}}",
                    kernels[i].Name, n, c, hw, cout, k, k / 2, r, threads, ms[i], cpu ? "cpu" : "wall"));
            if (json)
            {
                Console.WriteLine(string.Format(inv, "{{\"ratio\":\"lora_conv/plain_conv\",\"n\":{0},\"c\":{1},\"h\":{2},\"cout\":{3},\"r\":{4},\"threads\":{5},\"median_of_rounds\":{6:F4}}}",
                    n, c, hw, cout, r, threads, loraRatio));
                Console.WriteLine(string.Format(inv, "{{\"ratio\":\"unfused_lora_conv/plain_conv\",\"n\":{0},\"c\":{1},\"h\":{2},\"cout\":{3},\"r\":{4},\"threads\":{5},\"median_of_rounds\":{6:F4}}}",
                    n, c, hw, cout, r, threads, unfusedRatio));
                continue;
            }
            Console.WriteLine(string.Format(inv, "n={0} c={1} {2}×{2} cout={3} k={4} pad={5} r={6} threads={7} (LoRA FLOPs +{8:P1}, base {9:F2} GFLOP/s)",
                n, c, hw, cout, k, k / 2, r, threads, loraFlops, conv.BaseFlops / (ms[0] * 1e6)));
            for (int i = 0; i < kernels.Length; i++) Console.WriteLine(string.Format(inv, "  {0,-18} {1,10:F3} ms", kernels[i].Name, ms[i]));
            Console.WriteLine(string.Format(inv, "  lora_conv / plain_conv = {0:F3}   unfused / plain = {1:F3}   (medians of the per-round ratios)", loraRatio, unfusedRatio));
        }
        KernelThreads.Reset();
        return 0;
    }

    /// <summary>One shape's operands and its three forwards (same-padding convolution, stride 1).</summary>
    internal sealed class ConvCase
    {
        readonly int _n, _c, _hw, _cout, _k, _r, _pad, _plane;
        readonly float[] _x, _w, _a, _b, _sb, _bias, _h, _y, _hOnly, _cols, _xDrop = [];

        public ConvCase(int n, int c, int hw, int cout, int k, int r)
        {
            (_n, _c, _hw, _cout, _k, _r, _pad) = (n, c, hw, cout, k, r, k / 2);
            int o = Im2Col.OutputSize(hw, k, 1, _pad);
            _plane = o * o;
            var rng = new Random(1);
            float[] Fill(int len, double scale) { var a = new float[len]; for (int i = 0; i < len; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale); return a; }
            _x = Fill(n * c * hw * hw, 1);
            _w = Fill(cout * c * k * k, 1 / Math.Sqrt(c * k * k));
            _a = Fill(r * c * k * k, 1 / Math.Sqrt(c * k * k));
            _b = Fill(cout * r, 0.1);
            _sb = _b.Select(v => 2f * v).ToArray();
            _bias = Fill(cout, 0.1);
            _h = new float[n * r * _plane];
            _hOnly = new float[n * r * _plane];
            _y = new float[n * cout * _plane];
            _cols = new float[c * k * k * _plane];
        }

        public double BaseFlops => 2.0 * _n * _plane * _cout * _c * _k * _k;

        public (string Name, Action Body)[] Kernels(bool baseline = false) => baseline
            ? [("plain_conv", Plain), ("lora_conv", Lora), ("unfused_lora_conv", Unfused), ("im2col_sgemm_conv", Im2ColSgemm)]
            : [("plain_conv", Plain), ("lora_conv", Lora), ("unfused_lora_conv", Unfused)];

        /// <summary>The textbook plain convolution, for reference: per image im2col, <see cref="Gemm.Sgemm"/>, then a
        /// pass adding the bias (Ops.Conv2d before it moved onto <see cref="LoraConv"/>).</summary>
        public void Im2ColSgemm()
        {
            int ckk = _c * _k * _k, chw = _c * _hw * _hw;
            for (int i = 0; i < _n; i++)
            {
                Im2Col.Unfold(_c, _hw, _hw, _k, _k, 1, _pad, _x.AsSpan(i * chw, chw), _cols);
                var yi = _y.AsSpan(i * _cout * _plane, _cout * _plane);
                Gemm.Sgemm(Transpose.No, Transpose.No, _cout, _plane, ckk, 1f, _w, ckk, _cols, _plane, 0f, yi, _plane);
                for (int o = 0; o < _cout; o++)
                {
                    var row = yi.Slice(o * _plane, _plane);
                    for (int q = 0; q < row.Length; q++) row[q] += _bias[o];
                }
            }
        }

        /// <summary>y = conv(x, W) + bias: the kernel with r = 0.</summary>
        public void Plain() => LoraConv.Forward(_n, _c, _hw, _hw, _cout, _k, _k, 1, _pad, 0, 0f, _x, _xDrop, _w, [], [], _bias, [], _y, default);

        /// <summary>The fused LoRA convolution, s = 2.</summary>
        public void Lora() => LoraConv.Forward(_n, _c, _hw, _hw, _cout, _k, _k, 1, _pad, _r, 2f, _x, _xDrop, _w, _a, _b, _bias, _h, _y, default);

        /// <summary>y = conv(x, W) + bias; h = conv(x, A); y += (s·B)·h per image (a 1×1 convolution).</summary>
        public void Unfused()
        {
            LoraConv.Forward(_n, _c, _hw, _hw, _cout, _k, _k, 1, _pad, 0, 0f, _x, _xDrop, _w, [], [], _bias, [], _y, default);
            LoraConv.Forward(_n, _c, _hw, _hw, _r, _k, _k, 1, _pad, 0, 0f, _x, _xDrop, _a, [], [], [], [], _hOnly, default);
            for (int i = 0; i < _n; i++)
                Gemm.Sgemm(Transpose.No, Transpose.No, _cout, _plane, _r, 1f, _sb, _r, _hOnly.AsSpan(i * _r * _plane, _r * _plane), _plane,
                    1f, _y.AsSpan(i * _cout * _plane, _cout * _plane), _plane);
        }
    }

    /// <summary>Median ms per call of each kernel, over rounds that interleave the kernels, and the medians of the
    /// per-round ratios of kernels 1 and 2 to kernel 0 (timed seconds apart, so load shifts cancel better).</summary>
    static double[] Measure((string Name, Action Body)[] kernels, int rounds, out double ratio1, out double ratio2)
    {
        var samples = QuickArgs.InterleavedRounds("conv", [.. kernels.Select(k => k.Body)], rounds, s_clock,
            once => (int)Math.Clamp(0.1 / Math.Max(once, 1e-7), 1, 1000)); // ~100 ms per sample
        ratio1 = Median(samples[1].Zip(samples[0], (a, b) => a / b).ToArray());
        ratio2 = Median(samples[2].Zip(samples[0], (a, b) => a / b).ToArray());
        return samples.Select(Median).ToArray();
    }

    static double Median(double[] values)
    {
        var v = (double[])values.Clone();
        Array.Sort(v);
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    static Func<double> s_clock = QuickArgs.WallMs;
}
