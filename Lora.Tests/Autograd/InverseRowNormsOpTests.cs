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

    /// <summary>A convolution's kernel (out, in, kh, kw) with PEFT's factors (r, in, kh, kw) and (out, r, 1, 1) gives
    /// the same bits as the flat (out, in·kh·kw) matrices.</summary>
    [Fact]
    public void ConvolutionShapedTensorsAreReadFlat()
    {
        Tape.Current.Reset();
        var data = Enumerable.Range(0, 2 * 3 * 2 * 2).Select(i => (float)Math.Sin(i)).ToArray();
        var av = Enumerable.Range(0, 12).Select(i => (float)Math.Cos(i)).ToArray();
        float[] bv = [0.5f, -0.25f];
        var flat = Ops.InverseRowNorms(new Tensor(data, new Shape(2, 12)), new Tensor(av, new Shape(1, 12)), new Tensor(bv, new Shape(2, 1)), 1.5f).ToArray();
        var conv = Ops.InverseRowNorms(new Tensor(data, new Shape(2, 3, 2, 2)), new Tensor(av, new Shape(1, 3, 2, 2)), new Tensor(bv, new Shape(2, 1, 1, 1)), 1.5f).ToArray();
        Assert.Equal(flat, conv);
        var e = Assert.Throws<ArgumentException>(() => Ops.InverseRowNorms(new Tensor(data, new Shape(2, 3, 2, 2)), new Tensor(new Shape(1, 3, 2, 1)), new Tensor(bv, new Shape(2, 1, 1, 1)), 1f));
        Assert.Contains("(1, 3, 2, 1)", e.Message);
        Tape.Current.Reset();
    }

    /// <summary>The transposed op on T (k, d) equals the row op on Tᵀ: an embedding table's norms per dimension.</summary>
    [Fact]
    public void ColumnNormsOfTAreRowNormsOfItsTransposeAndRecordNothing()
    {
        Tape.Current.Reset();
        const int k = 5, d = 3, r = 2;
        var t = Enumerable.Range(0, k * d).Select(i => (float)Math.Sin(i + 1)).ToArray();
        var tt = new float[d * k];
        for (int j = 0; j < k; j++) for (int i = 0; i < d; i++) tt[i * k + j] = t[j * d + i];
        var a = new Tensor(Enumerable.Range(0, r * k).Select(i => (float)Math.Cos(i)).ToArray(), new Shape(r, k), requiresGrad: true);
        var b = new Tensor([0.5f, 1, -1, 0.25f, 2, 0], new Shape(d, r), requiresGrad: true);
        int before = Tape.Current.NodeCount;
        var columns = Ops.InverseColumnNorms(new Tensor(t, new Shape(k, d), requiresGrad: true), a, b, 0.75f).ToArray();
        Assert.Equal(before, Tape.Current.NodeCount);
        var rows = Ops.InverseRowNorms(new Tensor(tt, new Shape(d, k)), a, b, 0.75f).ToArray();
        for (int i = 0; i < d; i++) Assert.True(Math.Abs(columns[i] - rows[i]) <= (k + 8) * 6e-8 * rows[i], $"[{i}] {columns[i]} vs {rows[i]}");
        var e = Assert.Throws<ArgumentException>(() => Ops.InverseColumnNorms(new Tensor(t, new Shape(k, d)), new Tensor(new Shape(r, k + 1)), b, 1f));
        Assert.Contains("(2, 6)", e.Message);
        Tape.Current.Reset();
    }
}
