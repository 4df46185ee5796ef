using System.Diagnostics;
using System.Globalization;
using System.Runtime;

namespace Lora.Bench;

/// <summary>How the quick modes time: a warm-up that waits for the JIT to go quiet, cases timed interleaved, and a
/// warning when the JIT compiled while they were timed.</summary>
internal static partial class QuickArgs
{
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

    /// <summary>Each case's median over <paramref name="steps"/> interleaved calls of its <paramref name="timed"/>
    /// function (which runs the case once and returns the time it took). Every case is first warmed up by calling
    /// that same function, clock reads included, so that nothing is left to compile once timing starts;
    /// <paramref name="afterWarmUp"/> runs between the warm-ups and the timing.</summary>
    public static double[] InterleavedMedians(string suite, Func<double>[] timed, int steps, Action? afterWarmUp = null)
    {
        foreach (var t in timed) WarmUp(() => t());
        afterWarmUp?.Invoke();
        var times = timed.Select(_ => new double[steps]).ToArray();
        var jit = JitTotals;
        for (int s = 0; s < steps; s++)
            for (int i = 0; i < timed.Length; i++) times[i][s] = timed[i]();
        WarnIfCompiled(suite, jit, JitTotals);
        return times.Select(t => t.Order().ElementAt(steps / 2)).ToArray();
    }

    /// <summary>Per-round ms per call of each body ([body][round]) on <paramref name="clock"/>: each body is warmed
    /// up with the clock reads it is timed with, timed once on the wall clock, then repeated
    /// <paramref name="reps"/>(that time in seconds) times per sample, the bodies interleaved round by round so that a
    /// burst of load from other processes hits them alike.</summary>
    public static double[][] InterleavedRounds(string suite, Action[] bodies, int rounds, Func<double> clock, Func<double, int> reps)
    {
        var count = new int[bodies.Length];
        for (int i = 0; i < bodies.Length; i++)
        {
            var body = bodies[i];
            WarmUp(() => { double t = clock(); body(); _ = clock() - t; }); // JIT tiers, buffers, the clock
            long t0 = Stopwatch.GetTimestamp();
            body();
            count[i] = reps(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        var samples = bodies.Select(_ => new double[rounds]).ToArray();
        var jit = JitTotals;
        for (int round = 0; round < rounds; round++)
            for (int i = 0; i < bodies.Length; i++)
            {
                double t0 = clock();
                for (int j = 0; j < count[i]; j++) bodies[i]();
                samples[i][round] = (clock() - t0) / count[i];
            }
        WarnIfCompiled(suite, jit, JitTotals);
        return samples;
    }
}
