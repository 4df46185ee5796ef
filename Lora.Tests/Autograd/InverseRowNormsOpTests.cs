using Lora.Autograd;

namespace Lora.Tests.Autograd;

/// <summary><see cref="Ops.InverseRowNorms"/>: DoRA's detached inverse norm.</summary>
public class InverseRowNormsOpTests
{
    [Fact]
    public void ValuesAreInverseRowNormsAZeroRowGivesZeroAndNothingIsRecorded()
    {
        Tape.Current.Reset();
        // W (3, 2) with a zero last row; A (1, 2), B (3, 1) zero on that row too.
        var w = new Tensor([3, 4, 1, 0, 0, 0], new Shape(3, 2), requiresGrad: true);
        var a = new Tensor([1, 2], new Shape(1, 2), requiresGrad: true);
        var b = new Tensor([0.5f, -1, 0], new Shape(3, 1), requiresGrad: true);
        int before = Tape.Current.NodeCount;
        var y = Ops.InverseRowNorms(w, a, b, 2f).ToArray();
        Assert.Equal(before, Tape.Current.NodeCount);
        // rows of W + 2·B·A: (4, 6), (−1, −4), (0, 0)
        Assert.Equal(1 / Math.Sqrt(52), y[0], 1e-7);
        Assert.Equal(1 / Math.Sqrt(17), y[1], 1e-7);
        Assert.Equal(0f, y[2]);
        Tape.Current.Reset();
    }

    [Fact]
    public void ANaNWeightGivesNaNNotZero()
    {
        Tape.Current.Reset();
        var w = new Tensor([float.NaN, 1], new Shape(1, 2));
        var y = Ops.InverseRowNorms(w, new Tensor([1, 1], new Shape(1, 2)), new Tensor([0f], new Shape(1, 1)), 1f);
        Assert.True(float.IsNaN(y.Data[0]));
        Tape.Current.Reset();
    }

    [Fact]
    public void MismatchedFactorsNameTheirShapes()
    {
        Tape.Current.Reset();
        var e = Assert.Throws<ArgumentException>(() => Ops.InverseRowNorms(new Tensor(new Shape(3, 2)), new Tensor(new Shape(1, 3)), new Tensor(new Shape(3, 1)), 1f));
        Assert.Contains("(1, 3)", e.Message);
        Tape.Current.Reset();
    }
}
