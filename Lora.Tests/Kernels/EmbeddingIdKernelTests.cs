using Lora.Kernels;

namespace Lora.Tests.Kernels;

public class EmbeddingIdKernelTests
{
    [Fact]
    public void IntegerFloatsConvertExactly()
    {
        float[] x = [0f, 6f, 3f, 6f, 1f];
        var ids = new int[x.Length + 2];
        ids[^1] = ids[^2] = -7; // beyond x: left alone
        Assert.Equal(-1, EmbeddingKernels.TryIdsFromFloats(7, x, ids));
        Assert.Equal([0, 6, 3, 6, 1, -7, -7], ids);
        Assert.Equal(-1, EmbeddingKernels.TryIdsFromFloats(0, [], []));
    }

    [Theory]
    [InlineData(7f)]          // = vocab
    [InlineData(-1f)]
    [InlineData(2.5f)]
    [InlineData(-0.5f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(1e30f)]       // would overflow an int cast
    public void TheFirstBadElementIsReported(float bad)
    {
        float[] x = [1f, 2f, bad, 9f];
        Assert.Equal(2, EmbeddingKernels.TryIdsFromFloats(7, x, new int[4]));
    }

    [Fact]
    public void SizeErrorsThrow()
    {
        Assert.Throws<ArgumentException>(() => EmbeddingKernels.TryIdsFromFloats(3, [0f, 1f], new int[1]));
        Assert.Throws<ArgumentException>(() => EmbeddingKernels.TryIdsFromFloats(-1, [], []));
    }
}
