using System.Diagnostics;
using System.Globalization;
using Lora.Kernels;

namespace Lora.Bench;

/// <summary><c>quick mlp [--threads N] [--json] [--steps S]</c>: the median wall time of the MLP training step
/// (<see cref="MlpStepCase"/>) for LoRA and full fine-tuning, measured in the same run, plus the trainable-state
/// figures the LoRA report prints. <c>--only lora|full|dora</c> runs one mode; <c>--dora</c> adds the DoRA step
/// (<c>dora</c>: the same LoRA with <c>UseDora</c>); <c>--baseline</c> adds the LoRA step with
/// the fused kernels' earlier settings (<c>lora_base</c>), <c>--lr-pass</c> the LoRA step with the low-rank stretch as a
/// k-block of its own (<c>lora_lrpass</c>, a second pass over y and dx), <c>--avx2-thin</c> the LoRA step with h, g, dA and dB
/// on the AVX2 tiles (<c>lora_avx2thin</c>), <c>--narrow-single</c> the LoRA step with a lone B panel on the 6×16
/// tiles (<c>lora_narrowsingle</c>). <c>--clock cpu</c> (only with one thread) times with this thread's CPU clock,
/// which other processes on a busy machine disturb less. BenchmarkDotNet's <see cref="MlpStepBench"/> remains the
/// reference.</summary>
internal static class MlpQuick
{
    public static int Run(string[] args)
    {
        if (!QuickArgs.Known("mlp", args, "--json --baseline --no-thin-split --lr-pass --dora --avx2-thin --narrow-single --no-next-panels", "--threads --steps --clock --only --outer-max-r --wide-block")) return 2;
        bool json = args.Contains("--json");
        int threads = QuickArgs.Int(args, "--threads", KernelThreads.Default);
        int steps = QuickArgs.Int(args, "--steps", 20);
        bool cpu = args.Contains("cpu");
        if (threads < 1 || threads > KernelThreads.MaxCount || steps < 1 || (cpu && threads != 1))
        {
            Console.Error.WriteLine("quick mlp: --threads must be in [1, 256], --steps ≥ 1, and --clock cpu needs --threads 1.");
            return 2;
        }
        int oi = Array.IndexOf(args, "--only");
        string only = oi < 0 ? "" : oi + 1 < args.Length ? args[oi + 1] : "?";
        if (only is not ("" or "lora" or "full" or "dora"))
        {
            Console.Error.WriteLine("quick mlp: --only takes lora, full or dora.");
            return 2;
        }
        KernelThreads.Count = threads;
        if (args.Contains("--outer-max-r")) LoraGemmFused.OuterMaxR = QuickArgs.Int(args, "--outer-max-r", 8); // tuning
        if (args.Contains("--wide-block")) LoraLowRank.WideBlock = QuickArgs.Int(args, "--wide-block", 16); // tuning
        if (args.Contains("--no-thin-split")) LoraLowRank.Split = false; // A/B of the thin products' thread split
        var cases = new[] { ("lora", new MlpStepCase(true)), ("full", new MlpStepCase(false)) }
            .Where(c => only == "" || c.Item1 == only).ToArray();
        if (args.Contains("--dora") || only == "dora") cases = [.. cases.Where(c => only != "dora"), ("dora", new MlpStepCase(true, dora: true))];
        // --baseline: also the LoRA step with the fused kernels' settings before the "step" work (KC-sized k-blocks,
        // thin products on the GEMM), interleaved, so the gain is measured in the same run.
        if (args.Contains("--baseline")) cases = [.. cases, ("lora_base", new MlpStepCase(true))];
        // --lr-pass: also the LoRA step with the low-rank stretch as a k-block of its own (GemmDriver.FuseTail off).
        if (args.Contains("--lr-pass")) cases = [.. cases, ("lora_lrpass", new MlpStepCase(true))];
        // --avx2-thin: also the LoRA step with the thin products (h, g, dA, dB) on the AVX2 tiles instead of the AVX-512 ones (A/B).
        if (args.Contains("--avx2-thin")) cases = [.. cases, ("lora_avx2thin", new MlpStepCase(true))];
        // --narrow-single: also the LoRA step with a single B panel left over on the 6×16 tiles instead of the 12×16 one (A/B).
        if (args.Contains("--narrow-single")) cases = [.. cases, ("lora_narrowsingle", new MlpStepCase(true))];
        // --no-next-panels: also the LoRA step without the 12×32 tile's prefetch of the next pair of B panels (A/B).
        if (args.Contains("--no-next-panels")) cases = [.. cases, ("lora_nonext", new MlpStepCase(true))];
        // Each case is warmed up exactly as it is timed, clock reads included, so that the JIT has nothing left to
        // compile once timing starts (its compiler thread would take the second core of a two-thread run); the modes
        // are interleaved so that a change in machine load affects them alike.
        double Timed(string mode, MlpStepCase c)
        {
            long t0 = Stopwatch.GetTimestamp();
            double c0 = cpu ? QuickArgs.ThreadCpuMs() : 0;
            Step(mode, c);
            return cpu ? QuickArgs.ThreadCpuMs() - c0 : Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        var medians = QuickArgs.InterleavedMedians("mlp", [.. cases.Select(c => (Func<double>)(() => Timed(c.Item1, c.Item2)))], steps);
        static void Step(string mode, MlpStepCase c)
        {
            if (mode == "lora_lrpass") { GemmDriver.FuseTail = false; c.Step(); GemmDriver.FuseTail = true; return; }
            if (mode == "lora_nonext") { GemmMacroKernel.NextPanels = false; c.Step(); GemmMacroKernel.NextPanels = true; return; }
            if (mode == "lora_narrowsingle") { GemmMacroKernel.WideSingle = false; c.Step(); GemmMacroKernel.WideSingle = true; return; }
            if (mode == "lora_avx2thin")
            {
                (bool wide, bool wideDot) = (LoraLowRank.Wide, LoraLowRank.WideDot);
                (LoraLowRank.Wide, LoraLowRank.WideDot) = (false, false);
                c.Step();
                (LoraLowRank.Wide, LoraLowRank.WideDot) = (wide, wideDot);
                return;
            }
            if (mode != "lora_base") { c.Step(); return; }
            (LoraGemmFused.Kc, LoraGemmFused.LowRankMaxR) = (GemmBlocking.KC, 0);
            c.Step();
            (LoraGemmFused.Kc, LoraGemmFused.LowRankMaxR) = (0, 8);
        }
        var median = cases.Select(c => c.Item1).Zip(medians).ToDictionary(p => p.First, p => p.Second);
        var lora = cases[0].Item2.Report;
        foreach (var (mode, _) in cases)
        {
            if (json)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{{\"kernel\":\"mlp_step\",\"mode\":\"{mode}\",\"threads\":{threads},\"clock\":\"{(cpu ? "cpu" : "wall")}\",\"ms\":{median[mode]:F3},\"steps\":{steps}}}"));
            else
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"mlp_step {mode,-4} threads={threads}  {median[mode],8:F2} ms/step (median of {steps}, {(cpu ? "thread CPU" : "wall")} clock)"));
        }
        if (!json && median.ContainsKey("lora") && median.ContainsKey("full"))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"lora/full step time: {median["lora"] / median["full"]:F3}"));
            Console.WriteLine(lora);
        }
        return 0;
    }
}
