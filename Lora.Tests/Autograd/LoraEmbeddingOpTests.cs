using Lora.Autograd;
using static Lora.Tests.Autograd.AutogradTestData;

namespace Lora.Tests.Autograd;

/// <summary>Ops.LoraEmbedding: gradients by finite differences, sparse updates, shapes and errors.</summary>
public class LoraEmbeddingOpTests
{
    const int Num = 7, Dim = 5, R = 3;
    static readonly int[] Ids = [4, 1, 4, 0, 4, 2]; // repeats; rows 3, 5, 6 unused

    [Fact]
    public void GradCheckTableAAndBWithRepeatedIds()
    {
        var table = Param("table", new Shape(Num, Dim), 1);
        var a = Param("A", new Shape(R, Num), 2);
        var b = Param("B", new Shape(Dim, R), 3);
        AssertPasses(GradCheck.Run(() => Ops.Tanh(Ops.LoraEmbedding(Ids, table, a, b, 0.8f)), table, a, b));
        AssertPasses(GradCheck.Run(() => Ops.Tanh(Ops.LoraEmbedding(Ids, null, a, b, 1.5f)), a, b));
        var x = new Tensor(Ids.Select(i => (float)i).ToArray(), new Shape(2, 3));
        AssertPasses(GradCheck.Run(() => Ops.Tanh(Ops.LoraEmbedding(x, table, a, b, 0.8f)), table, a, b));
    }

    [Fact]
    public void BackwardLeavesUnusedRowsAndColumnsExactlyUntouched()
    {
        Tape.Current.Reset();
        var table = Param("table", new Shape(Num, Dim), 4);
        var a = Param("A", new Shape(R, Num), 5);
        var b = Param("B", new Shape(Dim, R), 6);
        // Non-zero gradients from an earlier pass (accumulation): unused entries must keep their exact bits.
        Uniform(Num * Dim, -1, 1, 7).CopyTo(table.Grad);
        Uniform(R * Num, -1, 1, 8).CopyTo(a.Grad);
        float[] t0 = table.Grad.ToArray(), a0 = a.Grad.ToArray();
        var y = Ops.LoraEmbedding(Ids, table, a, b, 0.5f);
        y.Backward(Uniform(y.Length, -1, 1, 9));
        foreach (int row in new[] { 3, 5, 6 })
        {
            for (int k = 0; k < Dim; k++) Assert.Equal(t0[row * Dim + k], table.Grad[row * Dim + k]);
            for (int j = 0; j < R; j++) Assert.Equal(a0[j * Num + row], a.Grad[j * Num + row]);
        }
        foreach (int row in new[] { 0, 1, 2, 4 })
            Assert.NotEqual(a0[row], a.Grad[row]);
        Tape.Current.Reset();
    }

    [Fact]
    public void AFrozenTableGetsNoGradientAndTheOutputHasTheIdsShape()
    {
        Tape.Current.Reset();
        var table = Param("table", new Shape(Num, Dim), 10);
        table.Frozen = true;
        var a = Param("A", new Shape(R, Num), 11);
        var b = Param("B", new Shape(Dim, R), 12);
        var x = new Tensor([1f, 2f, 6f, 6f], new Shape(1, 2, 2));
        var y = Ops.LoraEmbedding(x, table, a, b, 2f);
        Assert.Equal(new Shape(1, 2, 2, Dim), y.Shape);
        Ops.Sum(Ops.Mul(y, y)).Backward();
        Assert.False(table.HasGrad);
        Assert.True(a.HasGrad && b.HasGrad);
        // Zero A: the output is the base rows, bit for bit (s·0·Bᵀ adds exact zeros).
        var zeroA = new Parameter("A0", new Shape(R, Num));
        Tape.Current.Reset();
        var z = Ops.LoraEmbedding(new[] { 6, 0 }, table, zeroA, b, 2f);
        Assert.Equal(table.Data.Slice(6 * Dim, Dim).ToArray().Concat(table.Data[..Dim].ToArray()), z.ToArray());
        Tape.Current.Reset();
    }

    [Fact]
    public void ShapeAndIdErrorsNameTheProblem()
    {
        Tape.Current.Reset();
        var table = Leaf(new Shape(Num, Dim), 1);
        var a = Leaf(new Shape(R, Num), 2);
        var b = Leaf(new Shape(Dim, R), 3);
        Assert.Throws<ArgumentException>(() => Ops.LoraEmbedding(Ids, table, a, Leaf(new Shape(Dim, R + 1), 4), 1f));
        Assert.Throws<ArgumentException>(() => Ops.LoraEmbedding(Ids, Leaf(new Shape(Num + 1, Dim), 5), a, b, 1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => Ops.LoraEmbedding(new[] { 0, 7 }, table, a, b, 1f));
        var e = Assert.Throws<ArgumentException>(() => Ops.LoraEmbedding(new Tensor([0f, 1.5f], new Shape(2)), table, a, b, 1f));
        Assert.Contains("1.5", e.Message);
        Tape.Current.Reset();
    }
}
