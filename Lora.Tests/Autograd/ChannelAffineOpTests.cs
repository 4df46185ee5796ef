using Lora.Autograd;

namespace Lora.Tests.Autograd;

/// <summary><see cref="Ops.ChannelAffine"/>: y[n, c, …] = x·γ[c] + β[c].</summary>
public class ChannelAffineOpTests
{
    static float[] Values(int n, int seed) => Enumerable.Range(0, n).Select(i => (float)Math.Sin(seed + 1.3 * i)).ToArray();

    [Theory]
    [InlineData(new[] { 2, 3, 4, 5 }, true)]
    [InlineData(new[] { 2, 3, 4, 5 }, false)]
    [InlineData(new[] { 4, 7 }, true)]
    [InlineData(new[] { 1, 2, 9 }, true)]
    public void ForwardIsOneRoundingPerProductAndShiftAndGradientsMatchFiniteDifferences(int[] dims, bool withShift)
    {
        Tape.Current.Reset();
        var shape = new Shape(dims);
        int channels = dims[1], plane = shape.Length / (dims[0] * channels);
        var x = new Tensor(Values(shape.Length, 1), shape, requiresGrad: true);
        // γ as PEFT stores a convolution's magnitude, (1, c, 1, 1), when x is 4-D; β as a bias, (c).
        var gamma = new Tensor(Values(channels, 2), dims.Length == 4 ? new Shape(1, channels, 1, 1) : new Shape(channels), requiresGrad: true);
        var beta = withShift ? new Tensor(Values(channels, 3), new Shape(channels), requiresGrad: true) : null;
        var y = Ops.ChannelAffine(x, gamma, beta).ToArray();
        for (int i = 0; i < y.Length; i++)
        {
            int c = i / plane % channels;
            float expected = x.Data[i] * gamma.Data[c] + (beta?.Data[c] ?? 0f);
            Assert.Equal(expected, y[i]);
        }
        Tensor[] inputs = beta is null ? [x, gamma] : [x, gamma, beta];
        var result = GradCheck.Run(() => Ops.ChannelAffine(x, gamma, beta), inputs, null);
        Assert.True(result.Passed, result.ToString());
        Tape.Current.Reset();
    }

    [Fact]
    public void ScalesThatAreNotOnePerChannelNameTheShapes()
    {
        Tape.Current.Reset();
        var x = new Tensor(new Shape(2, 3, 4));
        var e = Assert.Throws<ArgumentException>(() => Ops.ChannelAffine(x, new Tensor(new Shape(4))));
        Assert.Contains("(2, 3, 4)", e.Message);
        Assert.Contains("(4)", e.Message);
        e = Assert.Throws<ArgumentException>(() => Ops.ChannelAffine(x, new Tensor(new Shape(3)), new Tensor(new Shape(2))));
        Assert.Contains("shift", e.Message);
        Assert.Throws<ArgumentException>(() => Ops.ChannelAffine(new Tensor(new Shape(3)), new Tensor(new Shape(3))));
        Tape.Current.Reset();
    }

    [Fact]
    public void EmptyBatchGivesAnEmptyOutput()
    {
        Tape.Current.Reset();
        var y = Ops.ChannelAffine(new Tensor(new Shape(0, 3, 2)), new Tensor(new Shape(3)));
        Assert.Equal(new Shape(0, 3, 2), y.Shape);
        Tape.Current.Reset();
    }
}
