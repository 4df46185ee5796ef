using Lora.Kernels;
using static Lora.Tests.Kernels.LoraOracle;

namespace Lora.Tests.Kernels;

/// <summary>Thread-count independence and zero allocation of the fused LoRA kernels (run alone: they change
/// the global thread count and measure allocations).</summary>
[Collection(global::Lora.Tests.SerialCollection.Name)]
public class LoraThreadingTests
{
    public static TheoryData<int, int, int, int> Shapes() => new()
    {
        { 1, 1000, 300, 8 },    // small-batch path, split over panels
        { 2, 1000, 300, 8 },    // small-batch path, pairs of panels
        { 3, 517, 300, 8 },     // small-batch path, pairs of panels and an odd one, edge panel
        { 16, 517, 300, 64 },   // small-batch path, edge panel
        { 17, 300, 517, 4 },    // packed driver
        { 129, 400, 300, 8 },   // packed driver
        { 40, 70, 1100, 8 },    // packed driver, forward in k-blocks of 1024 and 76, the low-rank tail in the last
    };

    static float[][] Run(int n, int d, int k, int r, int threads, LoraDropout dropout, out int parts)
    {
        var c = new LoraCase(n, d, k, r, 0.5f, bias: true, seed: 3);
        float[] h = new float[n * r], y = new float[n * d], xDrop = new float[n * k];
        long threshold = GemmDriver.MinFlopsPerPart;
        KernelThreads.Count = threads;
        GemmDriver.MinFlopsPerPart = 1 << 12; // split even these modest shapes
        try
        {
            LoraGemm.Forward(n, d, k, r, c.S, c.X, xDrop, c.Packed, c.A, c.B, c.Bias, h, y, dropout);
            parts = WorkerPool.LastParts;
            var g = c.Initial(1);
            LoraGemm.Backward(n, d, k, r, c.S, c.X, xDrop, c.Packed, c.A, c.B, h, c.Dy, new float[n * r],
                g.Dx, g.DA, g.DB, g.DBias, g.DW, accumulate: true, dropout);
            return [h, y, xDrop, g.Dx, g.DA, g.DB, g.DBias, g.DW];
        }
        finally
        {
            KernelThreads.Reset();
            GemmDriver.MinFlopsPerPart = threshold;
        }
    }

    [Theory, MemberData(nameof(Shapes))]
    public void OneThreadAndManyThreadsAreBitwiseEqual(int n, int d, int k, int r)
    {
        foreach (var dropout in new[] { LoraDropout.None, new LoraDropout(0.25f, 42) })
        {
            float[][] one = Run(n, d, k, r, 1, dropout, out int parts1);
            Assert.Equal(1, parts1);
            foreach (int threads in new[] { 2, 3 })
            {
                float[][] many = Run(n, d, k, r, threads, dropout, out int parts);
                Assert.Equal(threads, parts); // the fused GEMM really was split
                string[] names = ["h", "y", "xDrop", "dx", "dA", "dB", "dBias", "dW"];
                for (int i = 0; i < one.Length; i++) BitwiseEqual(one[i], many[i], $"{names[i]} with {threads} threads");
            }
        }
    }

    /// <summary>The small-batch path prefetches W (m ≥ 4) only for weights larger than these tests use, so the
    /// prefetching variant of the first row group's tiles runs here with the threshold at 0: its bits must match.</summary>
    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(7)]
    [InlineData(11)]
    [InlineData(16)]
    public void SmallBatchPrefetchingDoesNotChangeBits(int n)
    {
        float[][] Run(long prefetchMinBytes)
        {
            var c = new LoraCase(n, 517, 300, 8, 0.5f, bias: true, seed: 5);
            float[] h = new float[n * 8], y = new float[n * 517];
            long saved = LoraSmallBatch.PrefetchMinBytes;
            LoraSmallBatch.PrefetchMinBytes = prefetchMinBytes;
            try
            {
                LoraGemm.Forward(n, 517, 300, 8, c.S, c.X, default, c.Packed, c.A, c.B, c.Bias, h, y);
                var g = c.Initial(1);
                LoraGemm.Backward(n, 517, 300, 8, c.S, c.X, default, c.Packed, c.A, c.B, h, c.Dy, new float[n * 8],
                    g.Dx, g.DA, g.DB, g.DBias, default, accumulate: true);
                return [y, g.Dx];
            }
            finally { LoraSmallBatch.PrefetchMinBytes = saved; }
        }
        float[][] plain = Run(long.MaxValue), prefetching = Run(0);
        BitwiseEqual(plain[0], prefetching[0], $"y, n = {n}");
        BitwiseEqual(plain[1], prefetching[1], $"dx, n = {n}");
    }

    [Fact]
    public void NothingIsAllocatedPerCall()
    {
        var cases = new[] { new LoraCase(1, 700, 300, 8, 2f, true, 1), new LoraCase(16, 300, 200, 64, 0.5f, false, 2),
            new LoraCase(100, 200, 300, 8, 2f, true, 3), new LoraCase(3, 300, 200, 8, 1f, true, 4),
            new LoraCase(128, 256, 256, 8, 1f, true, 5) };  // large enough for dA and dB to run at once, one per thread
        var buffers = cases.Select(c => (H: new float[c.N * c.R], Y: new float[c.N * c.D], XDrop: new float[c.N * c.K],
            Scratch: new float[c.N * c.R], G: c.Initial(5))).ToArray();
        var dropout = new LoraDropout(0.1f, 9);
        void Call()
        {
            for (int i = 0; i < cases.Length; i++)
            {
                var (c, b) = (cases[i], buffers[i]);
                LoraGemm.Forward(c.N, c.D, c.K, c.R, c.S, c.X, default, c.Packed, c.A, c.B, c.Bias, b.H, b.Y);
                LoraGemm.Backward(c.N, c.D, c.K, c.R, c.S, c.X, default, c.Packed, c.A, c.B, b.H, c.Dy, b.Scratch,
                    b.G.Dx, b.G.DA, b.G.DB, c.Bias.Length > 0 ? b.G.DBias : default, default, accumulate: false);
                LoraGemm.Forward(c.N, c.D, c.K, c.R, c.S, c.X, b.XDrop, c.Packed, c.A, c.B, c.Bias, b.H, b.Y, dropout);
                LoraGemm.Backward(c.N, c.D, c.K, c.R, c.S, c.X, b.XDrop, c.Packed, c.A, c.B, b.H, c.Dy, b.Scratch,
                    b.G.Dx, b.G.DA, b.G.DB, default, b.G.DW, accumulate: true, dropout);
            }
        }
        KernelThreads.Count = Math.Max(2, KernelThreads.Default);
        try
        {
            // Warm up until a round allocates nothing process-wide: the first calls create buffers and worker
            // threads, and tiered JIT compilation allocates (on its own thread) while it promotes hot methods.
            for (int round = 0; round < 60; round++)
            {
                long start = GC.GetTotalAllocatedBytes(true);
                Call();
                if (GC.GetTotalAllocatedBytes(true) == start) break;
            }
            // Three counters over 10 rounds (120 calls): the calling thread and the workers (which sample their own
            // counters after every job) exactly, and the whole process (GC, JIT and test-host threads too). One-time
            // events can still land in a window under load (a wait handle created the first time a worker really
            // blocks, a tier-1 recompilation), but they do not recur, while an allocation per call would show in
            // every trial (at least 120·24 bytes process-wide, 24 the smallest object): the quietest of up to 8
            // trials must show zero on both threads' counters and less than that process-wide.
            long caller = long.MaxValue, workers = long.MaxValue, total = long.MaxValue;
            for (int trial = 0; trial < 8 && (caller | workers | total) != 0; trial++)
            {
                long c0 = GC.GetAllocatedBytesForCurrentThread(), w0 = WorkerPool.WorkerAllocatedBytes, t0 = GC.GetTotalAllocatedBytes(true);
                for (int i = 0; i < 10; i++) Call();
                caller = Math.Min(caller, GC.GetAllocatedBytesForCurrentThread() - c0);
                workers = Math.Min(workers, WorkerPool.WorkerAllocatedBytes - w0);
                total = Math.Min(total, GC.GetTotalAllocatedBytes(true) - t0);
            }
            Assert.Equal(0, caller);
            Assert.Equal(0, workers);
            Assert.True(total < 120 * 24, $"{total} bytes allocated process-wide over 120 calls in the quietest trial");
        }
        finally { KernelThreads.Reset(); }
    }
}
