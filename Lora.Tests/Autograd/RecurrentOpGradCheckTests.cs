using Lora.Autograd;
using static Lora.Tests.Autograd.AutogradTestData;

namespace Lora.Tests.Autograd;

/// <summary>The recurrence ops and the batch↔time swap against finite differences (see <see cref="GradCheck"/>),
/// through time: every step's input pre-activations, h₀, and the hidden-to-hidden weights reached through the
/// callback, for T = 1..5.</summary>
public class RecurrentOpGradCheckTests
{
    [Fact]
    public void SwapLeadingAxes()
    {
        var x2 = Leaf(new Shape(3, 4), 1);
        AssertPasses(GradCheck.Run(() => Ops.SwapLeadingAxes(x2), x2));
        var x3 = Leaf(new Shape(2, 3, 4), 2);
        AssertPasses(GradCheck.Run(() => Ops.SwapLeadingAxes(x3), x3));
        var x4 = Leaf(new Shape(2, 3, 2, 2), 3);
        AssertPasses(GradCheck.Run(() => Ops.SwapLeadingAxes(x4), x4));
        // Twice is the identity.
        Tape.Current.Reset();
        Assert.Equal(x3.ToArray(), Ops.SwapLeadingAxes(Ops.SwapLeadingAxes(x3)).ToArray());
        var y = Ops.SwapLeadingAxes(x3);
        Assert.Equal(new Shape(3, 2, 4), y.Shape);
        Assert.Equal(x3.Data.Slice((1 * 3 + 2) * 4, 4).ToArray(), y.Data.Slice((2 * 2 + 1) * 4, 4).ToArray());
        Tape.Current.Reset();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public void ElmanThroughTime(int steps)
    {
        const int n = 2, h = 3;
        var gx = Leaf(new Shape(steps, n, h), 10 + steps, -1.5, 1.5, name: "gx");
        var h0 = Leaf(new Shape(n, h), 20, name: "h0");
        var w = Param("w_hh", new Shape(h, h), 21, -0.8, 0.8);
        var b = Param("b_hh", new Shape(h), 22, -0.5, 0.5);
        Func<Tensor, Tensor> f = s => Ops.Linear(s, w, b);
        AssertPasses(GradCheck.Run(() => Ops.ElmanRecurrence(gx, h0, f), gx, h0, w, b));
        AssertPasses(GradCheck.Run(() => Ops.ElmanRecurrence(gx, null, f), gx, w, b));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(5)]
    public void GruThroughTime(int steps)
    {
        const int n = 2, h = 3;
        var gx = Leaf(new Shape(steps, n, 3 * h), 30 + steps, -1.5, 1.5, name: "gx");
        var h0 = Leaf(new Shape(n, h), 40, name: "h0");
        var w = Param("w_hh", new Shape(3 * h, h), 41, -0.8, 0.8);
        var b = Param("b_hh", new Shape(3 * h), 42, -0.5, 0.5);
        Func<Tensor, Tensor> f = s => Ops.Linear(s, w, b);
        AssertPasses(GradCheck.Run(() => Ops.GruRecurrence(gx, h0, f), gx, h0, w, b));
        AssertPasses(GradCheck.Run(() => Ops.GruRecurrence(gx, null, f), gx, w, b));
    }

    [Fact]
    public void OnlyTheInitialStateRequiresAGradient()
    {
        // Nothing but h₀ is trainable: the gradient still reaches it through every step.
        const int n = 2, h = 2, steps = 4;
        var gx = Leaf(new Shape(steps, n, 3 * h), 50, requiresGrad: false);
        var h0 = Leaf(new Shape(n, h), 51, name: "h0");
        var w = new Tensor(Uniform(3 * h * h, -0.8, 0.8, 52), new Shape(3 * h, h));
        AssertPasses(GradCheck.Run(() => Ops.GruRecurrence(gx, h0, s => Ops.Linear(s, w)), h0));
        var wh = new Tensor(Uniform(h * h, -0.8, 0.8, 53), new Shape(h, h));
        AssertPasses(GradCheck.Run(() => Ops.ElmanRecurrence(Ops.Slice(gx, 0, h), h0, s => Ops.Linear(s, wh)), h0));
    }

    [Fact]
    public void ShapeErrorsNameTheShapes()
    {
        Tape.Current.Reset();
        var w = new Tensor(new Shape(6, 2));
        var ex = Assert.Throws<ArgumentException>(() => Ops.GruRecurrence(new Tensor(new Shape(3, 2, 5)), null, s => Ops.Linear(s, w)));
        Assert.Contains("(3, 2, 5)", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => Ops.GruRecurrence(new Tensor(new Shape(3, 2, 6)), new Tensor(new Shape(2, 3)), s => Ops.Linear(s, w)));
        Assert.Contains("(2, 2)", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => Ops.ElmanRecurrence(new Tensor(new Shape(3, 2, 2)), null, s => Ops.Linear(s, w)));
        Assert.Contains("step 0", ex.Message);
        Assert.Contains("(2, 6)", ex.Message);
        Assert.Throws<ArgumentException>(() => Ops.ElmanRecurrence(new Tensor(new Shape(3, 2)), null, s => s));
        Tape.Current.Reset();
    }
}
