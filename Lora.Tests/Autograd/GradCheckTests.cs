using Lora.Autograd;
using Lora.Kernels;
using static Lora.Tests.Autograd.AutogradTestData;

namespace Lora.Tests.Autograd;

/// <summary>The checker itself: it must reject wrong gradients, not just accept right ones.</summary>
public unsafe class GradCheckTests
{
    // y = tanh(x) with a backward that is off by a relative factor (F0) or drops the (1 − y²) term (I0 = 1).
    static Tensor BrokenTanh(Tensor x, float factor, bool dropTerm)
    {
        var tape = Tape.Current;
        var y = tape.NewTensor(x.Shape);
        Elementwise.Tanh(x.Data, y.Data);
        if (Tape.NeedsGrad(x))
        {
            ref var node = ref tape.Record("BrokenTanh", &BrokenTanhBackward, y);
            node.A = x; node.F0 = factor; node.I0 = dropTerm ? 1 : 0;
        }
        return y;
    }

    static void BrokenTanhBackward(ref Node node)
    {
        var dy = node.Out.Grad;
        var y = node.Out.Data;
        var dx = node.A!.Grad;
        for (int i = 0; i < dx.Length; i++) dx[i] += node.F0 * dy[i] * (node.I0 == 1 ? 1f : 1f - y[i] * y[i]);
    }

    [Fact]
    public void ACorrectBackwardPasses()
    {
        var x = Leaf(new Shape(3, 4), 1, -2, 2);
        AssertPasses(GradCheck.Run(() => BrokenTanh(x, 1f, false), x));
    }

    [Theory]
    [InlineData(1.01f, false)] // a 1 % error in a factor
    [InlineData(1f, true)]     // a missing term
    [InlineData(-1f, false)]   // a sign error
    public void AWrongBackwardFails(float factor, bool dropTerm)
    {
        var x = Leaf(new Shape(3, 4), 1, -2, 2);
        var r = GradCheck.Run(() => BrokenTanh(x, factor, dropTerm), x);
        Assert.False(r.Passed, r.ToString());
    }

    [Fact]
    public void AnIndexErrorInABackwardFails()
    {
        // Linear's dx with W transposed wrongly would be caught: emulate by checking x against a graph whose
        // backward routes gradients to the wrong element (a Slice read from another column).
        var x = Leaf(new Shape(2, 4), 2);
        var r = GradCheck.Run(() => ShiftedSlice(x), x);
        Assert.False(r.Passed, r.ToString());
    }

    static Tensor ShiftedSlice(Tensor x)
    {
        var tape = Tape.Current;
        var y = tape.NewTensor(new Shape(2, 2));
        for (int i = 0; i < 2; i++) { y.Data[i * 2] = MathF.Sin(x.Data[i * 4 + 1]); y.Data[i * 2 + 1] = MathF.Sin(x.Data[i * 4 + 2]); }
        if (Tape.NeedsGrad(x))
        {
            ref var node = ref tape.Record("ShiftedSlice", &ShiftedSliceBackward, y);
            node.A = x;
        }
        return y;
    }

    static void ShiftedSliceBackward(ref Node node)
    {
        var x = node.A!;
        for (int i = 0; i < 2; i++)
        {
            // Bug on purpose: column 2's gradient goes to column 3.
            x.Grad[i * 4 + 1] += node.Out.Grad[i * 2] * MathF.Cos(x.Data[i * 4 + 1]);
            x.Grad[i * 4 + 3] += node.Out.Grad[i * 2 + 1] * MathF.Cos(x.Data[i * 4 + 2]);
        }
    }

    [Fact]
    public void LagrangeWeightsOnUniformNodesAreTheClassicFivePointStencil()
    {
        double h = 0.1;
        Span<double> t = [-2 * h, -h, 0, h, 2 * h];
        Span<double> w = stackalloc double[5];
        GradCheck.LagrangeDerivativeWeights(t, w);
        double[] expected = [1 / (12 * h), -8 / (12 * h), 0, 8 / (12 * h), -1 / (12 * h)];
        for (int i = 0; i < 5; i++) Assert.Equal(expected[i], w[i], 1e-9);
    }

    [Fact]
    public void GradCheckLeavesExistingGradientsAndDataUntouched()
    {
        var x = Leaf(new Shape(2, 3), 4);
        var before = x.ToArray();
        x.Grad[1] = 42f;
        AssertPasses(GradCheck.Run(() => Ops.Tanh(x), x));
        Assert.Equal(before, x.ToArray());
        Assert.Equal(42f, x.Grad[1]);
        Assert.Equal(0f, x.Grad[0]);
    }
}
