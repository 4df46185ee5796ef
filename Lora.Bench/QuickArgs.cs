using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;

namespace Lora.Bench;

/// <summary>What the quick modes share: integer options, the <c>--clock cpu</c> switch and the clocks they time with.</summary>
internal static partial class QuickArgs
{
    /// <summary>The integer after <paramref name="name"/>; <paramref name="fallback"/> when the option is absent, and −1
    /// when its value is missing or not a non-negative integer, so the caller's range check rejects it.</summary>
    public static int Int(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        if (i < 0) return fallback;
        return i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : -1;
    }

    /// <summary>False, after one line on stderr, when <paramref name="args"/> holds an option outside
    /// <paramref name="flags"/> and <paramref name="valued"/> (space-separated names) or a valued option without its
    /// value, so that a mistyped option is an error rather than a silently different benchmark.</summary>
    public static bool Known(string suite, string[] args, string flags, string valued)
    {
        string[] f = flags.Split(' ', StringSplitOptions.RemoveEmptyEntries), v = valued.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < args.Length; i++)
        {
            if (f.Contains(args[i])) continue;
            if (v.Contains(args[i]) && i + 1 < args.Length) { i++; continue; }
            Console.Error.WriteLine($"quick {suite}: unknown or incomplete option '{args[i]}' (options: {string.Join(' ', f.Concat(v.Select(x => x + " …")))}).");
            return false;
        }
        return true;
    }

    /// <summary>True for <c>--clock cpu</c>.</summary>
    public static bool CpuClock(string[] args)
    {
        int i = Array.IndexOf(args, "cpu");
        return i > 0 && args[i - 1] == "--clock";
    }

    /// <summary>Runs <paramref name="body"/> until it has run at least <paramref name="minCalls"/> times and for at least
    /// <paramref name="minMs"/> ms, and then until the JIT has compiled nothing for <paramref name="quietMs"/> ms and
    /// either <paramref name="quietCalls"/> calls or 10·<paramref name="quietMs"/> ms (at most <paramref name="maxMs"/> in
    /// all), so that what is timed afterwards is the steady state.</summary>
    /// <remarks>Tiered compilation first runs a method as quick tier-0 code (or on-stack-replacement code for a long
    /// loop) and promotes it after 30 calls, compiling tier 1 on a background thread once calls have gone 100 ms
    /// without new tier-0 activity; with dynamic PGO a method goes through an instrumented tier first, so it takes two
    /// such rounds. A warm-up of a few calls therefore times slow code, and at two threads on a 2-core machine the
    /// background compiler also takes a core: with 3 warm-up steps `quick mlp --threads 2` measured 11.3 ms per step
    /// against 6.8 ms over 200 steps (20:45 UTC, 28 Nov). A fixed 300 ms was not enough either: after both modes'
    /// 300 ms warm-ups the JIT still compiled 74–116 methods (79–163 ms of compile time) during the 20 timed steps of
    /// `quick mlp --threads 2`, which had steps of 13–18 ms among its 6 ms ones and medians of 6.0–9.5 ms (04:40 UTC,
    /// 29 Nov). Waiting for the compiled-method count to stand still settles it; the window is more calls than the
    /// promotion threshold, so that a method called once per body cannot be between its two rounds, unless the body
    /// is so slow that such a method's tier hardly matters (3 s of silence then suffices). The pause at the end lets
    /// compilations queued by the last calls finish before timing starts.</remarks>
    public static void WarmUp(Action body, double minMs = 300, int minCalls = 30, int quietCalls = 40, double quietMs = 300,
        double maxMs = 20_000)
    {
        long t0 = Stopwatch.GetTimestamp(), quietSince = t0, compiled = JitInfo.GetCompiledMethodCount();
        for (int i = 1, quiet = 0; ; i++)
        {
            body();
            long now = Stopwatch.GetTimestamp(), count = JitInfo.GetCompiledMethodCount();
            quiet++;
            if (count != compiled) (compiled, quietSince, quiet) = (count, now, 0);
            double total = Stopwatch.GetElapsedTime(t0, now).TotalMilliseconds;
            if (total >= maxMs) break;
            double quietFor = Stopwatch.GetElapsedTime(quietSince, now).TotalMilliseconds;
            if (i >= minCalls && total >= minMs && quietFor >= quietMs && (quiet >= quietCalls || quietFor >= 10 * quietMs)) break;
        }
        Thread.Sleep(250);
    }

    /// <summary>The JIT's running totals in this process (all threads): methods compiled and time spent compiling.</summary>
    public static (long Methods, TimeSpan Time) JitTotals => (JitInfo.GetCompiledMethodCount(), JitInfo.GetCompilationTime());

    /// <summary>Writes a warning to stderr when the JIT spent a millisecond or more compiling between two reads of
    /// <see cref="JitTotals"/> taken around a suite's timing: its compiler thread competes for the cores being timed.
    /// Below that it is a stray tier-up of some small method (about 0.1 ms each), which disturbs nothing.</summary>
    public static void WarnIfCompiled(string suite, (long Methods, TimeSpan Time) before, (long Methods, TimeSpan Time) after)
    {
        double ms = (after.Time - before.Time).TotalMilliseconds;
        if (ms >= 1)
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"quick {suite}: the JIT compiled {after.Methods - before.Methods} method(s) in {ms:F1} ms while timing; the figures may be disturbed."));
    }

    /// <summary>Wall-clock milliseconds.</summary>
    public static double WallMs() => Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;

    /// <summary>CPU milliseconds of the whole process (all threads, spinning workers included; microsecond resolution on Linux).</summary>
    public static double ProcessCpuMs() => Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;

    /// <summary>CPU milliseconds of the calling thread (<c>CLOCK_THREAD_CPUTIME_ID</c>), for one-thread runs.</summary>
    public static double ThreadCpuMs()
    {
        const int ClockThreadCpuTime = 3;
        ClockGetTime(ClockThreadCpuTime, out var t);
        return t.Seconds * 1e3 + t.Nanoseconds / 1e6;
    }

    [StructLayout(LayoutKind.Sequential)]
    struct TimeSpec { public long Seconds; public long Nanoseconds; }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);
}
