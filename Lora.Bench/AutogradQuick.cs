using System.Diagnostics;

namespace Lora.Bench;

/// <summary><c>quick autograd [--json]</c>: the per-op figures of <see cref="AutogradOverheadBench"/> from a plain
/// timed loop (median of 15 runs), for a fast look; BenchmarkDotNet remains the reference. <c>--clock cpu</c> times
/// with this thread's CPU clock instead of the wall clock, which is less disturbed by other processes on a busy
/// machine (it still counts cache and frequency effects).</summary>
internal static class AutogradQuick
{
    public static int Run(string[] args)
    {
        bool json = args.Contains("--json");
        bool cpu = args.Contains("cpu");
        var bench = new AutogradOverheadBench();
        bench.Setup();
        foreach (var (name, body) in new (string, Func<float>)[]
        {
            ("kernels_only", bench.KernelsOnly),
            ("tape_forward_backward", bench.TapeForwardBackward),
            ("tape_forward_nograd", bench.TapeForwardNoGrad),
        })
        {
            const int inner = 2000;
            for (int i = 0; i < inner; i++) body(); // warm-up and JIT tiering
            var runs = new double[15];
            long allocated = GC.GetAllocatedBytesForCurrentThread();
            for (int r = 0; r < runs.Length; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                double c0 = cpu ? QuickArgs.ThreadCpuMs() * 1e6 : 0;
                for (int i = 0; i < inner; i++) body();
                double ns = cpu ? QuickArgs.ThreadCpuMs() * 1e6 - c0 : Stopwatch.GetElapsedTime(t0).TotalNanoseconds;
                runs[r] = ns / inner / AutogradOverheadBench.OpsPerChain;
            }
            allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
            Array.Sort(runs);
            double median = runs[runs.Length / 2];
            double bytesPerChain = allocated / (double)(runs.Length * inner);
            if (json)
                Console.WriteLine($"{{\"kernel\":\"autograd_overhead\",\"mode\":\"{name}\",\"threads\":1,\"clock\":\"{(cpu ? "cpu" : "wall")}\",\"ns_per_op\":{median:F1},\"bytes_per_chain\":{bytesPerChain:F1}}}");
            else
                Console.WriteLine($"{name,-24} {median,8:F1} ns/op   {bytesPerChain,6:F1} B allocated per {AutogradOverheadBench.OpsPerChain}-op chain");
        }
        return 0;
    }
}
