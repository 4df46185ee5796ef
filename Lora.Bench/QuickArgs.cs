using System.Diagnostics;
using System.Globalization;
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
