using System.Globalization;
using Lora.Kernels;

namespace Lora.Bench;

/// <summary><c>quick rnn [--threads N] [--json] [--steps S] [--cell elman|gru] [--n N] [--t T] [--in I] [--hidden H]
/// [--r R] [--clock cpu] [--profile] [--no-small-n]</c>: the median time of a recurrent character-LM training step
/// (<see cref="RnnStepCase"/>) for LoRA and full fine-tuning of the same model, measured in the same run with the
/// modes interleaved (so a change in machine load affects both alike), and their ratio. <c>--clock cpu</c> times
/// with the process's CPU clock (all threads, spinning workers included) instead of the wall clock: on a machine
/// loaded far beyond its cores wall time mostly measures the scheduler. <c>--profile</c> also prints the share of
/// forward, backward and optimizer. Defaults: N = 32, T = 64, in = 64, H = 512 (char-rnn's classic width), r = 8, both
/// cells; <c>--no-small-n</c> turns off the skinny-GEMM path (GemmSmallN) to compare with the packed one.</summary>
internal static class QuickRnn
{
    public static int Run(string[] args)
    {
        if (!QuickArgs.Known("rnn", args, "--json --profile --no-small-n", "--threads --steps --cell --n --t --in --hidden --r --clock")) return 2;
        bool json = args.Contains("--json");
        int threads = QuickArgs.Int(args, "--threads", KernelThreads.Default);
        int steps = QuickArgs.Int(args, "--steps", 10);
        int n = QuickArgs.Int(args, "--n", 32), t = QuickArgs.Int(args, "--t", 64), inputSize = QuickArgs.Int(args, "--in", 64);
        int hidden = QuickArgs.Int(args, "--hidden", 512), rank = QuickArgs.Int(args, "--r", 8);
        int ci = Array.IndexOf(args, "--cell");
        string[] cells = ci >= 0 && ci + 1 < args.Length ? [args[ci + 1]] : ["elman", "gru"];
        if (threads < 1 || threads > KernelThreads.MaxCount || steps < 1 || n < 1 || t < 1 || inputSize < 1 || hidden < 1
            || rank < 1 || rank > Math.Min(inputSize, hidden) || cells.Any(c => c is not ("elman" or "gru")))
        {
            Console.Error.WriteLine("quick rnn: --threads in [1, 256], --steps, --n, --t, --in, --hidden ≥ 1, --r in [1, min(in, hidden)], --cell elman|gru.");
            return 2;
        }
        bool cpu = QuickArgs.CpuClock(args);
        bool profile = args.Contains("--profile");
        Func<double> clock = cpu ? QuickArgs.ProcessCpuMs : QuickArgs.WallMs;
        KernelThreads.Count = threads;
        if (Array.IndexOf(args, "--no-small-n") >= 0) GemmSmallN.Enabled = false; // the packed path for n ≤ 16, to compare
        foreach (var cell in cells)
        {
            var cases = new[] { ("lora", new RnnStepCase(cell == "gru", true, n, t, inputSize, hidden, rank)),
                                ("full", new RnnStepCase(cell == "gru", false, n, t, inputSize, hidden, rank)) };
            // Warmed up exactly as timed (clock reads included): JIT tiers (their background compilation would count
            // on the process CPU clock and take the second core), pools, packing.
            double Timed(RnnStepCase c)
            {
                double t0 = clock();
                c.Step(profile ? clock : null);
                return clock() - t0;
            }
            var medians = QuickArgs.InterleavedMedians("rnn", [.. cases.Select(c => (Func<double>)(() => Timed(c.Item2)))], steps,
                afterWarmUp: () => { foreach (var (_, c) in cases) Array.Clear(c.PhaseMs); }); // --profile: the timed steps only
            var median = cases.Select(c => c.Item1).Zip(medians).ToDictionary(p => p.First, p => p.Second);
            foreach (var (mode, c) in cases)
            {
                if (json)
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{{\"kernel\":\"rnn_step\",\"cell\":\"{cell}\",\"mode\":\"{mode}\",\"n\":{n},\"t\":{t},\"in\":{inputSize},\"hidden\":{hidden},\"r\":{rank},\"threads\":{threads},\"clock\":\"{(cpu ? "cpu" : "wall")}\",\"ms\":{median[mode]:F3},\"steps\":{steps},\"trainable\":{c.Report.TrainableParameters}}}"));
                else
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"rnn_step {cell,-5} {mode,-4} n={n} t={t} in={inputSize} hidden={hidden} r={rank} threads={threads}  {median[mode],8:F2} ms/step (median of {steps}, {(cpu ? "process CPU" : "wall")} clock)"));
                if (profile && !json)
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  per step: forward {c.PhaseMs[0] / steps:F2} ms, backward {c.PhaseMs[1] / steps:F2} ms, optimizer {c.PhaseMs[2] / steps:F2} ms"));
            }
            if (!json)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{cell} lora/full step time: {median["lora"] / median["full"]:F3}"));
        }
        return 0;
    }
}
