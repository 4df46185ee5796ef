using Lora.Kernels;

namespace Lora.Tests.Kernels;

/// <summary>
/// The threaded driver's shared B blocks (split along m, panels claimed and packed by whichever part comes first,
/// buffers in rotation; <see cref="GemmSharedB"/>). Tiny cache blocking makes small shapes cross many blocks, so every edge of the split runs:
/// parts that pack no panel, a last panel that is partial, odd and even block counts, two segments with one of
/// them pre-packed. m stays above <see cref="GemmBlocking.StripMaxM"/>, where Sgemm takes the packed driver.
/// These tests change global settings, so they run in the serial collection.
/// </summary>
[Collection(global::Lora.Tests.SerialCollection.Name)]
public unsafe class GemmSharedPackingTests
{
    // KC = 40, MC = 12, NC = 48: three 16-column panels per B block.
    const int Kc = 40, Mc = 12, Nc = 48;

    public static TheoryData<Transpose, Transpose, int, int, int> Shapes()
    {
        var data = new TheoryData<Transpose, Transpose, int, int, int>();
        foreach (var c in GemmOracle.Combos)
        {
            data.Add(c[0], c[1], 101, 150, 130); // column blocks 48, 48, 48, 6 (one partial panel); k-blocks 40 ×3 + 10
            data.Add(c[0], c[1], 61, 10, 90);    // one partial panel: all but one part pack nothing
            data.Add(c[0], c[1], 53, 53, 41);    // panel shares 1/1/1, then a 5-column block; k-blocks 40 + 1
        }
        return data;
    }

    static T WithSettings<T>(int threads, Func<T> body)
    {
        int kc = GemmBlocking.KC, mc = GemmBlocking.MC, nc = GemmBlocking.NC;
        long threshold = GemmDriver.MinFlopsPerPart;
        bool shared = GemmDriver.SharedPacking;
        GemmDriver.SharedPacking = true; // off by default (docs/kernels.md); these tests are about it
        GemmBlocking.Set(Kc, Mc, Nc);
        GemmDriver.MinFlopsPerPart = 1;
        KernelThreads.Count = threads;
        try { return body(); }
        finally
        {
            KernelThreads.Reset();
            GemmDriver.MinFlopsPerPart = threshold;
            GemmBlocking.Set(kc, mc, nc);
            GemmDriver.SharedPacking = shared;
        }
    }

    [Theory, MemberData(nameof(Shapes))]
    public void SharedBlocksGiveTheSameBitsForAnyThreadCount(Transpose ta, Transpose tb, int m, int n, int k)
    {
        int lda = ta == Transpose.No ? k : m, ldb = tb == Transpose.No ? n : k;
        float[] a = GemmOracle.Random(m * k, 1), b = GemmOracle.Random(k * n, 2), c0 = GemmOracle.Random(m * n, 3);
        float[] Run(int threads) => WithSettings(threads, () =>
        {
            float[] c = (float[])c0.Clone();
            Gemm.Sgemm(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, -0.5f, c, n);
            Assert.Equal(threads, WorkerPool.LastParts);
            Assert.Equal(threads > 1, GemmDriver.LastShared);
            return c;
        });
        float[] one = Run(1);
        GemmOracle.AssertSgemm(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, -0.5f, c0, one, n);
        foreach (int threads in new[] { 2, 3 })
            AssertBitwise(one, Run(threads), threads);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TwoSegmentsWithBiasShareBlocks(bool prepack)
    {
        // [A0 | A1]·[W | L]ᵀ + bias as the fused LoRA kernels call it: segment 0 pre-packed or packed per block.
        const int m = 59, n = 70, k0 = 95, k1 = 7;
        float[] a0 = GemmOracle.Random(m * k0, 1), a1 = GemmOracle.Random(m * k1, 2);
        float[] w = GemmOracle.Random(n * k0, 3), l = GemmOracle.Random(n * k1, 4), bias = GemmOracle.Random(n, 5);
        var packed = new GemmPackedB();
        float[] Run(int threads) => WithSettings(threads, () =>
        {
            packed.Pack(Transpose.Yes, k0, n, w, k0);
            float[] c = GemmOracle.Random(m * n, 6);
            fixed (float* pa0 = a0, pa1 = a1, pw = w, pl = l, pbias = bias, pc = c)
            {
                var plan = new GemmPlan
                {
                    M = m, N = n, Alpha = 1.25f, Beta = 0.5f, C = pc, Ldc = n, Bias = pbias,
                    Segment0 = new GemmSegment
                    {
                        K = k0, A = new GemmOperand(pa0, k0, false), B = new GemmOperand(pw, k0, true),
                        PackedB = prepack ? packed.Data : null,
                    },
                    Segment1 = new GemmSegment { K = k1, A = new GemmOperand(pa1, k1, false), B = new GemmOperand(pl, k1, true) },
                };
                GemmDriver.Run(ref plan);
            }
            Assert.Equal(threads > 1, GemmDriver.LastShared);
            return c;
        });
        float[] one = Run(1);
        foreach (int threads in new[] { 2, 3 })
            AssertBitwise(one, Run(threads), threads);
        GC.KeepAlive(packed);
    }

    static void AssertBitwise(float[] one, float[] many, int threads)
    {
        for (int i = 0; i < one.Length; i++)
            if (BitConverter.SingleToInt32Bits(one[i]) != BitConverter.SingleToInt32Bits(many[i]))
                Assert.Fail($"{threads} threads differ from 1 thread at element {i}: {many[i]:R} vs {one[i]:R}.");
    }

    static int s_passed, s_counter;

    static void FailBeforeCounting(void* state, int part, int parts)
    {
        if (part == 1) throw new InvalidOperationException("part 1 failed");
        fixed (int* counter = &s_counter) WorkerPool.WaitUntilAtLeast(counter, parts); // would wait forever
        Interlocked.Increment(ref s_passed);
    }

    static void CountThenWait(void* state, int part, int parts)
    {
        Interlocked.Increment(ref s_passed);
        fixed (int* counter = &s_counter)
        {
            Interlocked.Increment(ref *counter);
            WorkerPool.WaitUntilAtLeast(counter, parts);
        }
        // Every part has counted before anyone gets past the wait.
        if (Volatile.Read(ref s_passed) != parts) throw new InvalidOperationException($"a part got through early: {s_passed} of {parts}");
    }

    [Fact]
    public void AFailedPartReleasesTheWaitersAndItsErrorIsThrown()
    {
        s_passed = s_counter = 0;
        var e = Assert.Throws<InvalidOperationException>(() => WorkerPool.Run(&FailBeforeCounting, null, 2));
        Assert.Equal("part 1 failed", e.Message);
        Assert.Equal(0, s_passed);
        // The pool and its waits still work afterwards.
        for (int round = 0; round < 50; round++)
        {
            s_passed = s_counter = 0;
            WorkerPool.Run(&CountThenWait, null, 3);
            Assert.Equal(3, s_passed);
        }
    }
}
