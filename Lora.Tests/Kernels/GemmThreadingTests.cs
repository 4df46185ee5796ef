using Lora.Kernels;

namespace Lora.Tests.Kernels;

/// <summary>
/// Thread count independence and allocation. These tests change the global <see cref="KernelThreads.Count"/>, so
/// they share one non-parallel collection: nothing else runs while they do (the total-allocation test needs it).
/// </summary>
[Collection(global::Lora.Tests.SerialCollection.Name)]
public class GemmThreadingTests
{
    public static TheoryData<Transpose, Transpose, int, int, int> Shapes()
    {
        var data = new TheoryData<Transpose, Transpose, int, int, int>();
        foreach (var c in GemmOracle.Combos)
        {
            data.Add(c[0], c[1], 301, 77, 300);  // split along m, edge tiles, two k-blocks
            data.Add(c[0], c[1], 40, 517, 400);  // split along n
            data.Add(c[0], c[1], 13, 1001, 520); // small-m path, split along n
        }
        return data;
    }

    static float[] Run(Transpose ta, Transpose tb, int m, int n, int k, int threads, out int parts)
    {
        float[] a = GemmOracle.Random(m * k, 5), b = GemmOracle.Random(k * n, 6), c = GemmOracle.Random(m * n, 7);
        int lda = ta == Transpose.No ? k : m, ldb = tb == Transpose.No ? n : k;
        KernelThreads.Count = threads;
        try
        {
            Gemm.Sgemm(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, -0.5f, c, n);
            parts = WorkerPool.LastParts;
        }
        finally { KernelThreads.Reset(); }
        return c;
    }

    [Theory, MemberData(nameof(Shapes))]
    public void OneThreadAndManyThreadsAreBitwiseEqual(Transpose ta, Transpose tb, int m, int n, int k)
    {
        float[] one = Run(ta, tb, m, n, k, 1, out int parts1);
        Assert.Equal(1, parts1);
        // 2 and 3 parts give different partitions (3 more than this machine's cores, which is allowed).
        foreach (int threads in new[] { 2, 3 })
        {
            float[] many = Run(ta, tb, m, n, k, threads, out int parts);
            Assert.Equal(threads, parts); // the work really was split
            for (int i = 0; i < one.Length; i++)
                if (BitConverter.SingleToInt32Bits(one[i]) != BitConverter.SingleToInt32Bits(many[i]))
                    Assert.Fail($"{threads} threads differ from 1 thread at element {i}: {many[i]:R} vs {one[i]:R}.");
        }
    }

    [Fact]
    public void ThreadCountSettingIsValidated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => KernelThreads.Count = 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => KernelThreads.Count = KernelThreads.MaxCount + 1);
        Assert.InRange(KernelThreads.Default, 1, KernelThreads.MaxCount);
    }

    static readonly (Transpose, Transpose, int, int, int)[] AllocShapes =
    [
        (Transpose.No, Transpose.No, 200, 150, 300),    // packed path, split, edges
        (Transpose.Yes, Transpose.Yes, 64, 96, 100),
        (Transpose.No, Transpose.No, 5, 1000, 600),     // small-m axpy
        (Transpose.No, Transpose.Yes, 9, 999, 333),     // small-m dot
    ];

    static void CallAll(float[] a, float[] b, float[] c, int times)
    {
        for (int t = 0; t < times; t++)
            foreach (var (ta, tb, m, n, k) in AllocShapes)
                Gemm.Sgemm(ta, tb, m, n, k, 1f, a, ta == Transpose.No ? k : m, b, tb == Transpose.No ? n : k, 0.5f, c, n);
    }

    [Fact]
    public void NoAllocationPerCallAfterWarmUp()
    {
        float[] a = GemmOracle.Random(200 * 1000, 1), b = GemmOracle.Random(1000 * 1000, 2), c = new float[200 * 1000];
        KernelThreads.Count = Math.Max(2, KernelThreads.Default);
        try
        {
            // Warm-up: per-thread buffers, worker threads, and tiered JIT, which may promote a hot method (and
            // allocate while doing so) several calls later on a busy machine; so warm up until a round is clean.
            for (int round = 0; round < 20; round++)
            {
                long c0 = GC.GetAllocatedBytesForCurrentThread(), w0 = WorkerPool.WorkerAllocatedBytes;
                CallAll(a, b, c, 2);
                if (GC.GetAllocatedBytesForCurrentThread() == c0 && WorkerPool.WorkerAllocatedBytes == w0) break;
            }
            var (caller, workers) = AllocationProbe.QuietestWindow(() => CallAll(a, b, c, 1), 20, 5, () => WorkerPool.WorkerAllocatedBytes);
            Assert.Equal(0, caller);
            // Workers sample their own allocation counter after every job: the exact proof for the pool side.
            Assert.Equal(0, workers);
        }
        finally { KernelThreads.Reset(); }
    }

    [Fact]
    public void ProcessWideAllocationStaysFlat()
    {
        // A second, coarser proof across all threads: GC.GetTotalAllocatedBytes(precise) around 2000 threaded calls.
        // The per-part work threshold is lowered so that a tiny shape still runs on two threads (fast even on the
        // scalar fallback). This collection runs alone, but the test host may still allocate a little in the
        // background, so the budget is 16 KB in total: under 8 bytes per call, below any per-call object.
        const int size = 24;
        float[] a = GemmOracle.Random(size * size, 1), b = GemmOracle.Random(size * size, 2), c = new float[size * size];
        long threshold = GemmDriver.MinFlopsPerPart;
        KernelThreads.Count = 2;
        GemmDriver.MinFlopsPerPart = 1;
        try
        {
            // Warm up until a whole round allocates nothing: the first calls create buffers and worker threads, and
            // tiered JIT compilation allocates while it promotes the hot methods.
            long last = -1;
            for (int round = 0; round < 30 && last != 0; round++)
            {
                long start = GC.GetTotalAllocatedBytes(true);
                Call(200);
                last = GC.GetTotalAllocatedBytes(true) - start;
                if (last != 0) Thread.Sleep(50);
            }
            Assert.Equal(2, WorkerPool.LastParts);
            // The minimum over three trials: a per-call allocation shows in every trial, background noise rarely does.
            long best = long.MaxValue;
            for (int trial = 0; trial < 3 && best >= 16 * 1024; trial++)
            {
                long before = GC.GetTotalAllocatedBytes(true);
                Call(2000);
                best = Math.Min(best, GC.GetTotalAllocatedBytes(true) - before);
            }
            Assert.True(best < 16 * 1024, $"2000 calls allocated at least {best} bytes process-wide (last warm-up round: {last}).");
        }
        finally
        {
            GemmDriver.MinFlopsPerPart = threshold;
            KernelThreads.Reset();
        }

        void Call(int times)
        {
            for (int i = 0; i < times; i++) Gemm.Sgemm(Transpose.No, Transpose.No, size, size, size, 1f, a, size, b, size, 0f, c, size);
        }
    }
}
