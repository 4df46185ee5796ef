using Lora.Kernels;

namespace Lora.Tests.Kernels;

/// <summary>Public kernel entry points given sizes whose products or sums overflow int: an
/// <see cref="ArgumentException"/> naming the sizes, never a wrapped-around size that a kernel trusts.</summary>
public class KernelArgumentTests
{
    [Theory]
    [InlineData(1, 65536)]   // r·r = 2³² wraps to 0: the Gram matrix got an empty span (a null pointer)
    [InlineData(1, 65537)]   // r·r wraps to 131073: far less than the r² floats the kernel writes
    [InlineData(40000, 60000)]
    public void LoraNormsScratchLengthThatOverflowsIsRejected(int d, int r)
    {
        var e = Assert.Throws<ArgumentException>(() => LoraNorms.ScratchLength(d, r));
        Assert.Contains($"rank {r}", e.Message);
        Assert.Contains(((long)d * r + (long)r * r).ToString(), e.Message);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(5, 3)]
    [InlineData(46340, 1)]
    [InlineData(1, 46340)]   // r² just below 2³¹
    public void LoraNormsScratchLengthIsDTimesRPlusRSquared(int d, int r) =>
        Assert.Equal((long)d * r + (long)r * r, LoraNorms.ScratchLength(d, r));

    [Fact]
    public void LoraNormsRejectsARankWhoseGramMatrixCannotBeAddressed()
    {
        // W (1, 1), A (65537, 1), B (1, 65537): every span matches its shape, but r² floats of scratch cannot exist.
        const int r = 65537;
        var a = new float[r];
        var b = new float[r];
        var e = Assert.Throws<ArgumentException>(() =>
            LoraNorms.RowNorms(1, 1, r, 1f, new float[1], a, b, new float[unchecked(r + r * r)], new float[1]));
        Assert.Contains($"rank {r}", e.Message);
    }

    [Theory]
    [InlineData(5, 3, 1, 1 << 30)]          // 2·pad wraps to int.MinValue
    [InlineData(5, 3, 1, (1 << 30) - 1)]    // size + 2·pad wraps
    [InlineData(int.MaxValue, 1, 1, 1)]
    public void AnOutputSizeBeyondIntIsRejectedWithTheTrueReason(int size, int kernel, int stride, int pad)
    {
        long expected = ((long)size + 2L * pad - kernel) / stride + 1;
        Assert.True(expected > int.MaxValue);
        var e = Assert.Throws<ArgumentException>(() => Im2Col.OutputSize(size, kernel, stride, pad));
        Assert.Contains(expected.ToString(), e.Message);
        Assert.DoesNotContain("larger than", e.Message); // the kernel fits; the old message said it did not
    }

    [Theory]
    [InlineData(5, 3, 4, (1 << 30) - 1)]    // the padded span exceeds int, the output does not
    [InlineData(7, 3, 2, 1)]
    [InlineData(int.MaxValue, 3, 3, 1)]
    public void AnOutputSizeWithinIntIsComputedWithoutWrapping(int size, int kernel, int stride, int pad)
    {
        long expected = ((long)size + 2L * pad - kernel) / stride + 1;
        Assert.Equal(expected, Im2Col.OutputSize(size, kernel, stride, pad));
    }
}
