using System.Runtime.ExceptionServices;

namespace Lora.Kernels;

/// <summary>
/// A persistent pool of background threads that runs one parallel job at a time: part 0 on the calling thread,
/// parts 1..n-1 on workers. A job is an unmanaged-style function pointer plus a state pointer (usually a struct on
/// the caller's stack), so dispatch allocates nothing: no Task, no closure, no delegate.
/// </summary>
/// <remarks>
/// Calls from several threads are serialised on one lock, so the pool is never oversubscribed; workers never call
/// back into the pool, so the lock cannot deadlock. Workers spin briefly after a job before they block, which keeps
/// the wake-up cost of back-to-back kernel calls (a training step) low. Parts of one job may wait for each other
/// (<see cref="WaitUntilAtLeast"/>; all parts of a job run at once, each on its own thread); if any part fails, the
/// others stop waiting with <see cref="ParallelJobAbortedException"/> instead of hanging.
/// </remarks>
internal static unsafe class WorkerPool
{
    static readonly object s_gate = new();
    static readonly ManualResetEventSlim s_done = new(false, 2000);
    static Worker[] s_workers = [];
    static delegate*<void*, int, int, void> s_body;
    static void* s_state;
    static int s_parts;
    static int s_pending;
    static Exception? s_error;
    static bool s_aborted;

    /// <summary>Managed bytes allocated so far on all worker threads, sampled after each job (for the allocation tests).</summary>
    internal static long WorkerAllocatedBytes
    {
        get
        {
            lock (s_gate)
            {
                long sum = 0;
                foreach (Worker w in s_workers) sum += Volatile.Read(ref w.AllocatedBytes);
                return sum;
            }
        }
    }

    /// <summary>The number of parts the last <see cref="Run"/> on this thread used (for tests and benchmarks).</summary>
    [ThreadStatic] internal static int LastParts;

    /// <summary>Part <paramref name="part"/>'s share of [0, length) in whole units of <paramref name="unit"/> elements
    /// (the last unit may be short): units ⌈length/unit⌉ are dealt as evenly as integer division allows, in order.
    /// The split depends only on its arguments, so every part derives the same boundaries.</summary>
    public static (int Start, int End) Share(int length, int unit, int part, int parts)
    {
        long units = (length + (long)unit - 1) / unit;
        return ((int)(units * part / parts * unit), (int)Math.Min(length, units * (part + 1) / parts * unit));
    }

    /// <summary>Runs <c>body(state, part, parts)</c> for part = 0..parts-1 and returns when all have finished.</summary>
    public static void Run(delegate*<void*, int, int, void> body, void* state, int parts)
    {
        LastParts = Math.Max(parts, 1);
        if (parts <= 1)
        {
            body(state, 0, 1);
            return;
        }
        lock (s_gate)
        {
            EnsureWorkers(parts - 1);
            s_body = body;
            s_state = state;
            s_parts = parts;
            s_error = null;
            s_aborted = false;
            s_done.Reset();
            Volatile.Write(ref s_pending, parts - 1);
            for (int i = 1; i < parts; i++) s_workers[i - 1].Go.Set();
            Exception? own = null;
            try
            {
                body(state, 0, parts);
            }
            catch (Exception e)
            {
                own = e;
                Volatile.Write(ref s_aborted, true);
            }
            // Even if part 0 failed, the workers still read the caller's state: wait for them.
            s_done.Wait();
            s_body = null;
            s_state = null;
            // A worker's own failure explains part 0 giving up a wait, so it wins over that.
            if (s_error is { } w && (own is null or ParallelJobAbortedException)) ExceptionDispatchInfo.Throw(w);
            if (own is not null) ExceptionDispatchInfo.Throw(own);
        }
    }

    /// <summary>
    /// Waits until <c>*counter ≥ value</c>, where other parts of the running job advance the counter (with an
    /// interlocked or volatile write after the data it guards). Spins, yielding but never sleeping: parts wait on each
    /// other for microseconds, many times per call.
    /// </summary>
    /// <exception cref="ParallelJobAbortedException">Another part of the job failed (it would never advance the counter).</exception>
    public static void WaitUntilAtLeast(int* counter, int value)
    {
        if (Volatile.Read(ref *counter) >= value) return;
        var spin = new SpinWait();
        while (Volatile.Read(ref *counter) < value)
        {
            if (Volatile.Read(ref s_aborted)) throw new ParallelJobAbortedException();
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    static void EnsureWorkers(int count)
    {
        if (s_workers.Length >= count) return;
        var grown = new Worker[count];
        Array.Copy(s_workers, grown, s_workers.Length);
        for (int i = s_workers.Length; i < count; i++) grown[i] = new Worker(i + 1);
        s_workers = grown;
    }

    sealed class Worker
    {
        public readonly ManualResetEventSlim Go = new(false, 2000);
        public long AllocatedBytes;
        readonly int _part;

        public Worker(int part)
        {
            _part = part;
            var thread = new Thread(Loop) { IsBackground = true, Name = $"Lora.Kernels worker {part}" };
            thread.Start();
        }

        void Loop()
        {
            while (true)
            {
                Go.Wait();
                Go.Reset();
                try
                {
                    s_body(s_state, _part, s_parts);
                }
                catch (Exception e)
                {
                    if (e is not ParallelJobAbortedException) Interlocked.CompareExchange(ref s_error, e, null);
                    Volatile.Write(ref s_aborted, true);
                }
                Volatile.Write(ref AllocatedBytes, GC.GetAllocatedBytesForCurrentThread());
                if (Interlocked.Decrement(ref s_pending) == 0) s_done.Set();
            }
        }
    }
}

/// <summary>Thrown by <see cref="WorkerPool.WaitUntilAtLeast"/> when another part of the same parallel job has failed.</summary>
internal sealed class ParallelJobAbortedException() : Exception("another part of this parallel job failed.");
