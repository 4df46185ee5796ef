using Lora.Autograd;
using Lora.Core.Modules;

namespace Lora.Tests.Core.Modules;

public class EmbeddingModuleTests
{
    [Fact]
    public void InitIsPytorchsStandardNormal()
    {
        // torch.nn.Embedding: W ~ N(0, 1). Mean within 5 standard errors (1/√n) of 0, variance within 5 standard
        // errors (√(2/n)) of 1.
        var e = new Embedding(400, 50, new SeededRandom(1));
        Assert.Equal(new Shape(400, 50), e.Weight.Shape);
        Assert.Equal(["weight"], e.NamedParameters().Select(p => p.Name));
        var w = e.Weight.ToArray();
        double mean = w.Average(v => (double)v), var = w.Average(v => (double)v * v) - mean * mean;
        Assert.InRange(mean, -5 / Math.Sqrt(w.Length), 5 / Math.Sqrt(w.Length));
        Assert.InRange(var, 1 - 5 * Math.Sqrt(2.0 / w.Length), 1 + 5 * Math.Sqrt(2.0 / w.Length));
        Assert.All(new Embedding(3, 4).Weight.ToArray(), v => Assert.Equal(0f, v));
        Assert.Equal(w, new Embedding(400, 50, new SeededRandom(1)).Weight.ToArray());
    }

    [Fact]
    public void FloatAndIntForwardsAgreeAndCopyRows()
    {
        var e = new Embedding(7, 4, new SeededRandom(2));
        Tape.Current.Reset();
        var y = e.Forward(new Tensor([6f, 0f, 6f, 3f], new Shape(2, 2)));
        Assert.Equal(new Shape(2, 2, 4), y.Shape);
        var z = e.Forward(new[] { 6, 0, 6, 3 });
        Assert.Equal(new Shape(4, 4), z.Shape);
        Assert.Equal(y.ToArray(), z.ToArray());
        Assert.Equal(e.Weight.Data.Slice(12, 4).ToArray(), z.Data.Slice(12, 4).ToArray());
        Tape.Current.Reset();
    }

    [Fact]
    public void BadIdsAndSizesAreRejected()
    {
        var e = new Embedding(7, 4, new SeededRandom(3));
        Tape.Current.Reset();
        var ex = Assert.Throws<ArgumentException>(() => e.Forward(new Tensor([1f, 7f], new Shape(2))));
        Assert.Contains("(1)", ex.Message);
        Assert.Contains("7", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => e.Forward(new[] { 1, -2 }));
        Assert.Throws<ArgumentException>(() => new Embedding(-1, 4));
        Tape.Current.Reset();
    }

    [Fact]
    public void TrainsInASequentialPipelineOnlyTouchingUsedRows()
    {
        // Embedding → Linear over (batch, tokens, dim): the loss gradient reaches exactly the rows the batch used.
        var rng = new SeededRandom(4);
        var model = new Sequential(new Embedding(10, 3, rng), new Linear(3, 2, rng));
        var table = ((Embedding)model[0]).Weight;
        Tape.Current.Reset();
        var x = new Tensor([2f, 5f, 2f, 7f], new Shape(2, 2));
        var loss = Ops.Mean(Ops.Mul(model.Forward(x), model.Forward(x)));
        loss.Backward();
        var g = table.Grad.ToArray();
        for (int row = 0; row < 10; row++)
        {
            bool used = row is 2 or 5 or 7;
            for (int j = 0; j < 3; j++)
                if (used) Assert.NotEqual(0f, g[row * 3 + j]); else Assert.Equal(0f, g[row * 3 + j]);
        }
        Tape.Current.Reset();
    }
}
