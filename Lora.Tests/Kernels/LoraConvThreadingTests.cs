using Lora.Kernels;

namespace Lora.Tests.Kernels;

/// <summary>Thread-count independence and zero allocation of the LoRA convolution (run alone: they change the global
/// thread count and measure allocations).</summary>
[Collection(global::Lora.Tests.SerialCollection.Name)]
public class LoraConvThreadingTests
{
    public static TheoryData<int, int, float> Shapes() => new()
    {
        { 1, 4, 0f },     // one image: split into column slices
        { 5, 4, 0f },     // whole images per part
        { 3, 4, 0.25f },  // dropout: A reads the dropped input
        { 2, 0, 0f },     // r = 0: the plain convolution
    };

    static float[][] Run(ConvCase cc, int threads, out int parts)
    {
        long threshold = GemmDriver.MinFlopsPerPart;
        KernelThreads.Count = threads;
        GemmDriver.MinFlopsPerPart = 1 << 12; // split even these modest shapes
        try
        {
            var (h, y, xd) = LoraConvKernelTests.Forward(cc, reference: false);
            parts = WorkerPool.LastParts;
            var g = LoraConvKernelTests.Backward(cc, h, xd, cc.Initial(3), reference: false);
            return [h, y, xd, g.Dx, g.DA, g.DB, g.DBias, g.DW];
        }
        finally
        {
            KernelThreads.Reset();
            GemmDriver.MinFlopsPerPart = threshold;
        }
    }

    [Theory, MemberData(nameof(Shapes))]
    public void OneThreadAndManyThreadsAreBitwiseEqual(int n, int r, float dropout)
    {
        var cc = new ConvCase(n, 3, 11, 10, 9, 3, 1, 1, r, bias: true, dropout, seed: 8);
        float[][] one = Run(cc, 1, out int parts1);
        Assert.Equal(1, parts1);
        foreach (int threads in new[] { 2, 3 })
        {
            float[][] many = Run(cc, threads, out int parts);
            Assert.Equal(threads, parts); // the forward really was split
            string[] names = ["h", "y", "xDrop", "dx", "dA", "dB", "dBias", "dW"];
            for (int i = 0; i < one.Length; i++) Assert.True(one[i].AsSpan().SequenceEqual(many[i]), $"{names[i]} with {threads} threads");
        }
    }

    [Fact]
    public void NothingIsAllocatedPerCall()
    {
        var cases = new[] { new ConvCase(3, 4, 9, 9, 10, 3, 1, 1, 4, true, 0f, 1), new ConvCase(2, 3, 8, 8, 6, 3, 2, 1, 2, false, 0.2f, 2),
            new ConvCase(1, 3, 8, 8, 6, 1, 1, 0, 0, true, 0f, 3) };
        var buffers = cases.Select(c => (H: new float[c.N * c.R * c.Plane], Y: new float[c.N * c.Cout * c.Plane], XDrop: new float[c.X.Length],
            G: c.Initial(5))).ToArray();
        void Call()
        {
            for (int i = 0; i < cases.Length; i++)
            {
                var (c, b) = (cases[i], buffers[i]);
                LoraConv.Forward(c.N, c.C, c.H, c.W, c.Cout, c.K, c.K, c.Stride, c.Pad, c.R, c.S, c.X, b.XDrop, c.Wt, c.A, c.B, c.Bias, b.H, b.Y, c.Drop);
                LoraConv.Backward(c.N, c.C, c.H, c.W, c.Cout, c.K, c.K, c.Stride, c.Pad, c.R, c.S, c.X, b.XDrop, c.Wt, c.A, c.B, b.H, c.Dy,
                    b.G.Dx, b.G.DA, b.G.DB, b.G.DBias, b.G.DW, c.Drop);
            }
        }
        long threshold = GemmDriver.MinFlopsPerPart;
        KernelThreads.Count = Math.Max(2, KernelThreads.Default);
        GemmDriver.MinFlopsPerPart = 1 << 12; // workers run parts too
        try
        {
            // Warm up until a round allocates nothing process-wide (buffers, worker threads, tiered JIT), then take the
            // quietest of up to 8 trials of 10 rounds, as the fused linear kernels' test does (LoraThreadingTests).
            for (int round = 0; round < 60; round++)
            {
                long start = GC.GetTotalAllocatedBytes(true);
                Call();
                if (GC.GetTotalAllocatedBytes(true) == start) break;
            }
            long caller = long.MaxValue, workers = long.MaxValue;
            for (int trial = 0; trial < 8 && (caller | workers) != 0; trial++)
            {
                long c0 = GC.GetAllocatedBytesForCurrentThread(), w0 = WorkerPool.WorkerAllocatedBytes;
                for (int i = 0; i < 10; i++) Call();
                caller = Math.Min(caller, GC.GetAllocatedBytesForCurrentThread() - c0);
                workers = Math.Min(workers, WorkerPool.WorkerAllocatedBytes - w0);
            }
            Assert.Equal(0, caller);
            Assert.Equal(0, workers);
        }
        finally
        {
            KernelThreads.Reset();
            GemmDriver.MinFlopsPerPart = threshold;
        }
    }
}
