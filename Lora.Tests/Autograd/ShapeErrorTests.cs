using Lora.Autograd;
using Lora.Kernels;
using static Lora.Tests.Autograd.AutogradTestData;

namespace Lora.Tests.Autograd;

/// <summary>Bad shapes throw <see cref="ArgumentException"/> naming the op and both shapes.</summary>
public class ShapeErrorTests
{
    static void Rejects(string op, string shapeA, string shapeB, Action call)
    {
        var e = Assert.ThrowsAny<ArgumentException>(call);
        Assert.Contains(op, e.Message);
        Assert.Contains(shapeA, e.Message);
        Assert.Contains(shapeB, e.Message);
        Tape.Current.Reset();
    }

    [Fact]
    public void AShapeTooLargeForOneArrayNamesItsDimensions()
    {
        var e = Assert.Throws<ArgumentException>(() => new Shape(512, 65536, 8, 8));
        Assert.Contains("(512, 65536, 8, 8)", e.Message);
        Assert.Contains("int.MaxValue", e.Message);
    }

    [Fact]
    public void EveryOpNamesItselfAndTheShapes()
    {
        Tape.Current.Reset();
        var a34 = Leaf(new Shape(3, 4), 1);
        var a35 = Leaf(new Shape(3, 5), 2);
        var w54 = Leaf(new Shape(5, 4), 3);
        Rejects("MatMul", "(3, 4)", "(3, 5)", () => Ops.MatMul(a34, a35));
        Rejects("Linear", "(3, 5)", "(5, 4)", () => Ops.Linear(a35, w54));
        Rejects("Linear", "(3)", "(5, 4)", () => Ops.Linear(a34, w54, Leaf(new Shape(3), 4)));
        Rejects("Add", "(3, 4)", "(3, 5)", () => Ops.Add(a34, a35));
        Rejects("Sub", "(3, 4)", "(5)", () => Ops.Sub(a34, Leaf(new Shape(5), 5)));
        Rejects("Mul", "(3, 4)", "(2, 4)", () => Ops.Mul(a34, Leaf(new Shape(2, 4), 6)));
        Rejects("Mse", "(3, 4)", "(3, 5)", () => Ops.Mse(a34, a35));
        Rejects("Concat", "(3, 4)", "(2, 4)", () => Ops.Concat(a34, Leaf(new Shape(2, 4), 7)));
        Rejects("Reshape", "(3, 4)", "(5)", () => Ops.Reshape(a34, new Shape(5)));
        Rejects("Slice", "(3, 4)", "[2, 6)", () => Ops.Slice(a34, 2, 4));
        Rejects("Conv2d", "(1, 2, 5, 5)", "(3, 4, 3, 3)", () => Ops.Conv2d(Leaf(new Shape(1, 2, 5, 5), 8), Leaf(new Shape(3, 4, 3, 3), 9)));
        Rejects("Conv2d", "(1, 2, 2, 2)", "(3, 2, 3, 3)", () => Ops.Conv2d(Leaf(new Shape(1, 2, 2, 2), 8), Leaf(new Shape(3, 2, 3, 3), 9)));
        Rejects("MaxPool2d", "(3, 4)", "rank 4", () => Ops.MaxPool2d(a34, 2));
        Rejects("LayerNorm", "(3, 4)", "(5)", () => Ops.LayerNorm(a34, Leaf(new Shape(5), 10)));
        Rejects("SoftmaxCrossEntropy", "(3, 4)", "2 labels", () => Ops.SoftmaxCrossEntropy(a34, new[] { 0, 1 }));
        var packed = new PackedWeight(5, 4);
        Rejects("LoraLinear", "(3, 5)", "(5, 4)", () => Ops.LoraLinear(a35, packed, Leaf(new Shape(2, 4), 11), Leaf(new Shape(5, 2), 12), null, 1f));
        Rejects("LoraLinear", "(5, 3)", "(2, 4)", () => Ops.LoraLinear(a34, packed, Leaf(new Shape(2, 4), 11), Leaf(new Shape(5, 3), 12), null, 1f));
    }

    [Fact]
    public void LabelsAndIdsAreRangeChecked()
    {
        Tape.Current.Reset();
        var logits = Leaf(new Shape(2, 3), 1);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Ops.SoftmaxCrossEntropy(logits, new[] { 1, 3 }));
        Assert.Contains("row 1", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Ops.Embedding(new[] { 0, -1 }, Leaf(new Shape(4, 2), 2)));
        Tape.Current.Reset();
    }
}
