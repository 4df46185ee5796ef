using Lora.Autograd;
using static Lora.Tests.Autograd.AutogradTestData;

namespace Lora.Tests.Autograd;

/// <summary>The LoRA convolution op against central finite differences, and its forward against the plain ops it fuses.</summary>
public class LoraConvGradCheckTests
{
    [Theory]
    [InlineData(1, 0, 0f)]
    [InlineData(2, 1, 0f)]
    [InlineData(1, 2, 0.3f)]
    [InlineData(3, 1, 0.5f)]
    public void LoraConv2dGradients(int stride, int padding, float dropout)
    {
        var x = Leaf(new Shape(2, 3, 6, 5), 1);
        var w = Leaf(new Shape(4, 3, 3, 3), 2, requiresGrad: false);
        var a = Param("A", new Shape(2, 3, 3, 3), 3);
        var b = Param("B", new Shape(4, 2, 1, 1), 4);
        var bias = Param("bias", new Shape(4), 5);
        AssertPasses(GradCheck.Run(() => Ops.LoraConv2d(x, w, a, b, bias, 0.75f, stride, padding, dropout, 11), x, a, b, bias));
        AssertPasses(GradCheck.Run(() => Ops.LoraConv2d(x, w, a, b, null, 0.75f, stride, padding, dropout, 11), x, a, b));
    }

    [Theory]
    [InlineData(1, 1, 0f)]
    [InlineData(2, 0, 0.25f)]
    public void LoraConv2dWithTheBaseKernelTrainableToo(int stride, int padding, float dropout)
    {
        var x = Leaf(new Shape(2, 2, 5, 5), 6);
        var w = Param("W", new Shape(3, 2, 3, 3), 7);
        var a = Param("A", new Shape(2, 18), 8);  // the flat (r, C·KH·KW) view is accepted too
        var b = Param("B", new Shape(3, 2), 9);
        var bias = Param("bias", new Shape(3), 10);
        AssertPasses(GradCheck.Run(() => Ops.LoraConv2d(x, w, a, b, bias, 1.5f, stride, padding, dropout, 3), x, w, a, b, bias));
    }

    [Fact]
    public void ForwardIsTheBaseConvolutionPlusTheScaledAdapterConvolutions()
    {
        // y = conv(x, W) + b + s·conv1×1(conv(x, A), B), each term through the plain ops, within their rounding
        // bound (the fused kernel sums in another order): (ckk + r + 4)·u·(Σ|W||x| + |b| + |s|·Σ|B|·Σ|A||x|).
        Tape.Current.Reset();
        var x = Leaf(new Shape(2, 3, 7, 6), 1, requiresGrad: false);
        var w = Leaf(new Shape(5, 3, 3, 3), 2, requiresGrad: false);
        var a = Leaf(new Shape(4, 3, 3, 3), 3, requiresGrad: false);
        var b = Leaf(new Shape(5, 4, 1, 1), 4, requiresGrad: false);
        var bias = Leaf(new Shape(5), 5, requiresGrad: false);
        const float s = 0.5f;
        var fused = Ops.LoraConv2d(x, w, a, b, bias, s, 2, 1).ToArray();
        var plain = Ops.Add(Ops.Conv2d(x, w, bias, 2, 1), Ops.Scale(Ops.Conv2d(Ops.Conv2d(x, a, null, 2, 1), b), s)).ToArray();
        var mag = Ops.Add(Ops.Conv2d(Abs(x), Abs(w), Abs(bias), 2, 1), Ops.Scale(Ops.Conv2d(Ops.Conv2d(Abs(x), Abs(a), null, 2, 1), Abs(b)), s)).ToArray();
        for (int i = 0; i < fused.Length; i++)
            Assert.True(Math.Abs(fused[i] - plain[i]) <= 2 * (27 + 4 + 4) * Math.Pow(2, -24) * mag[i], $"y[{i}] = {fused[i]}, plain ops give {plain[i]}");
        Tape.Current.Reset();
    }

    [Fact]
    public void BadFactorShapesAreRejected()
    {
        Tape.Current.Reset();
        var x = Leaf(new Shape(1, 3, 5, 5), 1);
        var w = Leaf(new Shape(4, 3, 3, 3), 2);
        var a = Leaf(new Shape(2, 3, 3, 3), 3);
        var b = Leaf(new Shape(4, 2, 1, 1), 4);
        Assert.Contains("(r, 3, 3, 3)", Assert.Throws<ArgumentException>(() => Ops.LoraConv2d(x, w, Leaf(new Shape(2, 3, 1, 1), 5), b, null, 1f)).Message);
        Assert.Contains("(4, 2, 1, 1)", Assert.Throws<ArgumentException>(() => Ops.LoraConv2d(x, w, a, Leaf(new Shape(4, 3, 1, 1), 6), null, 1f)).Message);
        Assert.Throws<ArgumentException>(() => Ops.LoraConv2d(x, w, a, b, null, 1f, dropout: 1f));
        Assert.Throws<ArgumentException>(() => Ops.LoraConv2d(x, Leaf(new Shape(4, 2, 3, 3), 7), a, b, null, 1f));
        Tape.Current.Reset();
    }

    static Tensor Abs(Tensor t) => new(t.ToArray().Select(Math.Abs).ToArray(), t.Shape);
}
