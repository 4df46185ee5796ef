using Lora.Autograd;
using static Lora.Tests.Autograd.AutogradTestData;

namespace Lora.Tests.Autograd;

/// <summary>The lookup with ids held in a float tensor: shapes, errors, and a backward that reads its own copy of the ids.</summary>
public class EmbeddingOpTests
{
    [Fact]
    public void FloatIdsGiveTheShapePlusDimAndExactRows()
    {
        Tape.Current.Reset();
        var table = Leaf(new Shape(5, 3), 1);
        var x = new Tensor([4f, 0f, 4f, 2f, 1f, 0f], new Shape(2, 3));
        var y = Ops.Embedding(x, table);
        Assert.Equal(new Shape(2, 3, 3), y.Shape);
        var expected = new[] { 4, 0, 4, 2, 1, 0 }.SelectMany(i => table.Data.Slice(i * 3, 3).ToArray()).ToArray();
        Assert.Equal(expected, y.ToArray());
        Assert.Equal(new Shape(3), Ops.Embedding(new Tensor([2f], Shape.Scalar), table).Shape);
        Assert.Equal(new Shape(0, 3), Ops.Embedding(new Tensor(new Shape(0)), table).Shape);
        Tape.Current.Reset();
    }

    [Fact]
    public void BackwardUsesTheIdsOfTheForwardEvenIfTheInputChanges()
    {
        Tape.Current.Reset();
        var table = Param("table", new Shape(6, 4), 2);
        var data = new float[] { 1f, 3f, 1f };
        var x = new Tensor(data, new Shape(3));
        var y = Ops.Embedding(x, table);
        data[0] = 5f; data[1] = 5f; data[2] = 5f;   // the caller reuses its batch buffer before the backward
        var dy = Uniform(12, -1, 1, 3);
        y.Backward(dy);
        var g = table.Grad.ToArray();
        for (int j = 0; j < 4; j++)
        {
            Assert.Equal(dy[j] + dy[8 + j], g[4 + j]); // row 1 used twice: two additions into a zero gradient
            Assert.Equal(dy[4 + j], g[12 + j]);
        }
        foreach (int row in new[] { 0, 2, 4, 5 })
            for (int j = 0; j < 4; j++) Assert.Equal(0f, g[row * 4 + j]);
        Tape.Current.Reset();
    }

    [Fact]
    public void GradCheckWithFloatIdsAndRepeats()
    {
        var table = Param("table", new Shape(5, 3), 4);
        var x = new Tensor([3f, 0f, 3f, 3f, 4f, 1f], new Shape(3, 2));
        AssertPasses(GradCheck.Run(() => Ops.Tanh(Ops.Embedding(x, table)), table));
    }

    [Theory]
    [InlineData(2.5f, "2.5", "(1, 0)")]
    [InlineData(5f, "5", "(1, 0)")]
    [InlineData(-1f, "-1", "(1, 0)")]
    [InlineData(float.NaN, "NaN", "(1, 0)")]
    public void BadIdsNameTheirIndexAndValue(float bad, string value, string index)
    {
        Tape.Current.Reset();
        var table = Leaf(new Shape(5, 3), 5);
        var x = new Tensor([0f, 1f, bad, 4f], new Shape(2, 2));
        var e = Assert.Throws<ArgumentException>(() => Ops.Embedding(x, table));
        Assert.Contains(value, e.Message);
        Assert.Contains(index, e.Message);
        Assert.Throws<ArgumentException>(() => Ops.Embedding(new Tensor(new Shape(1, 1, 1, 1)), table));
        Assert.Throws<ArgumentException>(() => Ops.Embedding(new Tensor(new Shape(2)), Leaf(new Shape(6), 1)));
        Tape.Current.Reset();
    }
}
