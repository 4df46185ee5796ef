using Lora.Autograd;
using Lora.Kernels;
using static Lora.Tests.Autograd.AutogradTestData;

namespace Lora.Tests.Autograd;

/// <summary>A steady-state training step allocates nothing on the managed heap.</summary>
[Collection(global::Lora.Tests.SerialCollection.Name)]
public class AllocationTests
{
    [Fact]
    public void ALoraMlpTrainingStepAllocatesNothingOnceWarm()
    {
        const int n = 16, inF = 20, hidden = 24, classes = 5, r = 4;
        var x = new Tensor(Uniform(n * inF, -1, 1, 1), new Shape(n, inF));
        int[] labels = Enumerable.Range(0, n).Select(i => i % classes).ToArray();
        var w1 = new PackedWeight(hidden, inF); w1.Pack(Uniform(hidden * inF, -0.3, 0.3, 2));
        var w2 = new PackedWeight(classes, hidden); w2.Pack(Uniform(classes * hidden, -0.3, 0.3, 3));
        var ps = new[]
        {
            Param("l1.A", new Shape(r, inF), 4), Param("l1.B", new Shape(hidden, r), 5), Param("l1.bias", new Shape(hidden), 6),
            Param("l2.A", new Shape(r, hidden), 7), Param("l2.B", new Shape(classes, r), 8), Param("l2.bias", new Shape(classes), 9),
            Param("ln.g", new Shape(hidden), 10, 0.9, 1.1),
        };
        var m = ps.Select(p => new float[p.Length]).ToArray();
        var v = ps.Select(p => new float[p.Length]).ToArray();
        var tape = Tape.Current;
        long step = 0;
        float lastLoss = 0;
        void Step()
        {
            tape.Reset();
            var h = Ops.LoraLinear(x, w1, ps[0], ps[1], ps[2], 2f, 0.1f, (ulong)step);
            h = Ops.Relu(Ops.LayerNorm(h, ps[6]));
            var logits = Ops.LoraLinear(h, w2, ps[3], ps[4], ps[5], 2f, 0.1f, (ulong)step + 1000);
            var loss = Ops.SoftmaxCrossEntropy(logits, labels);
            loss.Backward();
            lastLoss = loss.Item;
            step++;
            for (int i = 0; i < ps.Length; i++)
            {
                var (stepSize, invSqrtBias2) = Lora.Core.Optim.UpdateRules.AdamWConstants(1e-2, 0.9, 0.999, step);
                Lora.Core.Optim.UpdateRules.AdamW(ps[i].Data, ps[i].Grad, m[i], v[i], 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, stepSize, invSqrtBias2);
                ps[i].ZeroGrad();
            }
        }
        for (int i = 0; i < 3; i++) Step();
        float firstLoss = lastLoss;
        // The counter is per thread, but the runtime may still allocate on this thread now and then for its own
        // reasons (e.g. a lazily initialised type on a rarely taken path); the minimum over three trials of 10 steps
        // is what the engine allocates per 10 steps.
        long allocated = long.MaxValue;
        for (int trial = 0; trial < 3; trial++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++) Step();
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, allocated);
        Assert.True(lastLoss < firstLoss, $"training should reduce the loss: {firstLoss} → {lastLoss}");
        tape.Reset();
    }
}
