namespace Lora.Tests;

/// <summary>Measures steady-state allocation robustly on a shared, busy machine.</summary>
/// <remarks>
/// The runtime allocates on a thread now and then for its own one-time reasons (a tier-1 or OSR recompilation
/// landing late under load, a lazily created wait handle), which no warm-up can rule out. Such events do not recur,
/// while an allocation per call shows in every window. So the probe runs up to <c>trials</c> windows of
/// <c>calls</c> calls and returns the smallest count, stopping at the first clean window: a test asserting zero can
/// still fail, and fails for every real per-call allocation.
/// </remarks>
internal static class AllocationProbe
{
    /// <summary>The fewest bytes the calling thread allocated in one window of <paramref name="calls"/> calls.</summary>
    public static long QuietestWindow(Action call, int calls, int trials = 5) =>
        QuietestWindow(call, calls, trials, static () => 0).Caller;

    /// <summary>As <see cref="QuietestWindow(Action, int, int)"/>, also counting another source (e.g. the kernel
    /// workers' own counters) in the same windows; returns the quietest window's pair (both zero if any window was).</summary>
    public static (long Caller, long Other) QuietestWindow(Action call, int calls, int trials, Func<long> other)
    {
        (long Caller, long Other) best = (long.MaxValue, long.MaxValue);
        for (int trial = 0; trial < trials; trial++)
        {
            long c0 = GC.GetAllocatedBytesForCurrentThread(), o0 = other();
            for (int i = 0; i < calls; i++) call();
            var window = (GC.GetAllocatedBytesForCurrentThread() - c0, other() - o0);
            if (window.Item1 + window.Item2 < best.Caller + best.Other || best.Caller == long.MaxValue) best = window;
            if (best is (0, 0)) break;
        }
        return best;
    }
}
