using Lora.Autograd;

namespace Lora.Tests.Autograd;

/// <summary>The tape's pool of activation arrays: power-of-two classes up to 2^30 elements are pooled; larger arrays
/// (whose class 2^31 does not fit an int) are allocated at their exact length and not pooled. The limit is lowered
/// here so the unpooled path runs on small arrays.</summary>
[Collection(global::Lora.Tests.SerialCollection.Name)]
public class BufferPoolTests
{
    [Fact]
    public void ArraysAboveThePooledClassesAreExactAndNotReused()
    {
        int saved = BufferPool.MaxPooledBucket;
        try
        {
            BufferPool.MaxPooledBucket = 6; // 64 elements
            var pool = new BufferPool();
            var small = pool.RentFloats(50);
            Assert.Equal(64, small.Length);
            pool.Return(small);
            Assert.Same(small, pool.RentFloats(60));
            var large = pool.RentFloats(100);
            Assert.Equal(100, large.Length);
            pool.Return(large);
            Assert.NotSame(large, pool.RentFloats(100));
            Assert.Equal(70, pool.RentInts(70).Length);
        }
        finally { BufferPool.MaxPooledBucket = saved; }
    }

    [Fact]
    public void ALengthDotNetCannotAllocateIsAnArgumentExceptionNamingIt()
    {
        var e = Assert.Throws<ArgumentException>(() => new BufferPool().RentFloats(int.MaxValue));
        Assert.Contains("2,147,483,647 elements", e.Message);
    }

    /// <summary>A training step whose activations all take the unpooled path gives the bits of the pooled one.</summary>
    [Fact]
    public void OpsOnUnpooledArraysGiveTheSameBits()
    {
        float[] Step()
        {
            Tape.Current.ResetAndReleaseMemory();
            var w = new Tensor(Enumerable.Range(0, 12 * 20).Select(i => MathF.Sin(i)).ToArray(), new Shape(12, 20), requiresGrad: true);
            var x = new Tensor(Enumerable.Range(0, 9 * 20).Select(i => MathF.Cos(i)).ToArray(), new Shape(9, 20));
            Ops.SoftmaxCrossEntropy(Ops.Relu(Ops.Linear(x, w)), new[] { 0, 1, 2, 3, 4, 5, 6, 7, 8 }).Backward();
            var g = w.Grad.ToArray();
            Tape.Current.ResetAndReleaseMemory();
            return g;
        }
        var pooled = Step();
        int saved = BufferPool.MaxPooledBucket;
        try
        {
            BufferPool.MaxPooledBucket = 4; // nothing above 16 elements is pooled
            Assert.Equal(pooled, Step());
        }
        finally { BufferPool.MaxPooledBucket = saved; }
    }
}
