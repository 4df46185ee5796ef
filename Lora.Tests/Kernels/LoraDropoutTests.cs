using Lora.Kernels;
using static Lora.Tests.Kernels.LoraOracle;

namespace Lora.Tests.Kernels;

/// <summary>Seeded LoRA dropout: the forward drops only the low-rank path's input, the backward's dx applies the
/// same mask (regenerated from the seed) to the low-rank term.</summary>
public class LoraDropoutTests
{
    [Theory]
    [InlineData(1, 65, 300, 8, 0.25f, true)]
    [InlineData(16, 300, 64, 64, 0.5f, false)]
    [InlineData(17, 7, 65, 4, 0.1f, true)]
    [InlineData(129, 64, 300, 1, 0.75f, false)]
    public void MaskedForwardAndBackwardMatchTheDoubleFormula(int n, int d, int k, int r, float p, bool accumulate)
    {
        var c = new LoraCase(n, d, k, r, 2f, bias: true, seed: 17);
        var dropout = new LoraDropout(p, 1234);
        float[] h = new float[n * r], y = new float[n * d], xDrop = new float[n * k], mask = new float[n * k];
        LoraGemm.Forward(n, d, k, r, c.S, c.X, xDrop, c.Packed, c.A, c.B, c.Bias, h, y, dropout);
        DropoutKernels.MaskScalar(1234, 0, p, mask);
        for (int i = 0; i < mask.Length; i++) Assert.Equal(c.X[i] * mask[i], xDrop[i]);
        Assert.Contains(0f, mask);             // something was dropped and something kept: the test can fail
        Assert.Contains(1f / (1f - p), mask);
        c.CheckForward(h, y, xDrop);
        var g = c.Backward(h, accumulate, dropout, xDrop);
        c.CheckBackward(g, h, accumulate, xDrop, mask);
    }

    [Fact]
    public void InactiveDropoutIsTheUndroppedLayerBitForBit()
    {
        var c = new LoraCase(17, 65, 64, 8, 0.5f, bias: true, seed: 2);
        var (h0, y0) = c.Forward();
        float[] h = new float[h0.Length], y = new float[y0.Length];
        LoraGemm.Forward(c.N, c.D, c.K, c.R, c.S, c.X, default, c.Packed, c.A, c.B, c.Bias, h, y, LoraDropout.None);
        BitwiseEqual(y0, y, "y");
        BitwiseEqual(h0, h, "h");
    }
}
