using Lora.Autograd;
using Lora.Kernels;
using static Lora.Tests.Autograd.AutogradTestData;

namespace Lora.Tests.Autograd;

/// <summary>Every differentiable op against central finite differences (see <see cref="GradCheck"/>).</summary>
public class OpGradCheckTests
{
    [Fact]
    public void MatMul()
    {
        var a = Leaf(new Shape(3, 4), 1);
        var b = Leaf(new Shape(4, 5), 2);
        AssertPasses(GradCheck.Run(() => Ops.MatMul(a, b), a, b));
        var a3 = Leaf(new Shape(2, 3, 4), 3);
        AssertPasses(GradCheck.Run(() => Ops.MatMul(a3, b), a3, b));
    }

    [Fact]
    public void Linear()
    {
        var x = Leaf(new Shape(3, 4), 1);
        var w = Param("w", new Shape(5, 4), 2);
        var b = Param("b", new Shape(5), 3);
        AssertPasses(GradCheck.Run(() => Ops.Linear(x, w, b), x, w, b));
        AssertPasses(GradCheck.Run(() => Ops.Linear(x, w), x, w));
        var x3 = Leaf(new Shape(2, 2, 4), 4); // leading axes are rows
        AssertPasses(GradCheck.Run(() => Ops.Linear(x3, w, b), x3, w, b));
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.3f)]
    public void LoraLinear(float dropout)
    {
        const int n = 3, k = 6, d = 5, r = 2;
        var x = Leaf(new Shape(n, k), 1);
        var packed = new PackedWeight(d, k);
        packed.Pack(Uniform(d * k, -1, 1, 2));
        var a = Param("A", new Shape(r, k), 3);
        var b = Param("B", new Shape(d, r), 4);
        var bias = Param("bias", new Shape(d), 5);
        AssertPasses(GradCheck.Run(() => Ops.LoraLinear(x, packed, a, b, bias, 0.75f, dropout, 11), x, a, b, bias));
        AssertPasses(GradCheck.Run(() => Ops.LoraLinear(x, packed, a, b, null, 0.75f, dropout, 11), x, a, b));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AddSubMulWithAndWithoutRowBroadcast(bool broadcast)
    {
        var a = Leaf(new Shape(3, 4), 1);
        var b = broadcast ? Leaf(new Shape(4), 2) : Leaf(new Shape(3, 4), 2);
        AssertPasses(GradCheck.Run(() => Ops.Add(a, b), a, b));
        AssertPasses(GradCheck.Run(() => Ops.Sub(a, b), a, b));
        AssertPasses(GradCheck.Run(() => Ops.Mul(a, b), a, b));
        var row = Leaf(new Shape(1, 4), 3);
        AssertPasses(GradCheck.Run(() => Ops.Mul(a, row), a, row));
    }

    [Fact]
    public void ScaleSumMean()
    {
        var x = Leaf(new Shape(2, 3, 2), 1);
        AssertPasses(GradCheck.Run(() => Ops.Scale(x, -1.7f), x));
        AssertPasses(GradCheck.Run(() => Ops.Sum(Ops.Mul(x, x)), x));
        AssertPasses(GradCheck.Run(() => Ops.Mean(Ops.Mul(x, x)), x));
    }

    [Fact]
    public void Activations()
    {
        var x = new Tensor(AwayFromZero(24, 0.2, 3, 1), new Shape(4, 6), true);
        AssertPasses(GradCheck.Run(() => Ops.Relu(x), x));
        AssertPasses(GradCheck.Run(() => Ops.Gelu(x), x));
        AssertPasses(GradCheck.Run(() => Ops.Tanh(x), x));
        AssertPasses(GradCheck.Run(() => Ops.Sigmoid(x), x));
    }

    [Fact]
    public void Dropout()
    {
        var x = Leaf(new Shape(5, 7), 1);
        AssertPasses(GradCheck.Run(() => Ops.Dropout(x, 0.4f, 99), x));
    }

    [Fact]
    public void SoftmaxCrossEntropyAndMse()
    {
        var logits = Leaf(new Shape(4, 5), 1, -3, 3);
        int[] labels = [0, 4, 2, 2];
        AssertPasses(GradCheck.Run(() => Ops.SoftmaxCrossEntropy(logits, labels), logits));
        var pred = Leaf(new Shape(3, 2), 2);
        var target = Leaf(new Shape(3, 2), 3);
        AssertPasses(GradCheck.Run(() => Ops.Mse(pred, target), pred, target));
    }

    [Fact]
    public void Softmax()
    {
        var x = Leaf(new Shape(3, 5), 1, -2, 2);
        AssertPasses(GradCheck.Run(() => Ops.Softmax(x), x));
        var x3 = Leaf(new Shape(2, 2, 3), 2, -2, 2);
        AssertPasses(GradCheck.Run(() => Ops.Softmax(x3), x3));
    }

    [Fact]
    public void ReshapeConcatSlice()
    {
        var x = Leaf(new Shape(2, 6), 1);
        var m = Leaf(new Shape(3, 4), 2);
        AssertPasses(GradCheck.Run(() => Ops.Mul(Ops.Reshape(x, new Shape(3, 4)), m), x, m));
        var a = Leaf(new Shape(2, 3), 3);
        var b = Leaf(new Shape(2, 1), 4);
        var c = Leaf(new Shape(2, 2), 5);
        AssertPasses(GradCheck.Run(() => Ops.Tanh(Ops.Concat(a, b, c)), a, b, c));
        AssertPasses(GradCheck.Run(() => Ops.Tanh(Ops.Slice(x, 2, 3)), x));
    }

    [Fact]
    public void Embedding()
    {
        var table = Leaf(new Shape(6, 3), 1);
        int[] ids = [5, 0, 5, 2];
        AssertPasses(GradCheck.Run(() => Ops.Tanh(Ops.Embedding(ids, table)), table));
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    public void Conv2d(int stride, int padding)
    {
        var x = Leaf(new Shape(2, 2, 5, 5), 1);
        var w = Leaf(new Shape(3, 2, 3, 3), 2);
        var b = Leaf(new Shape(3), 3);
        AssertPasses(GradCheck.Run(() => Ops.Conv2d(x, w, b, stride, padding), x, w, b));
    }

    [Fact]
    public void MaxPool2d()
    {
        // Distinct values 1/16 apart, so a ±2h perturbation (h = 2⁻⁷) never changes a window's winner.
        var perm = Enumerable.Range(0, 2 * 2 * 5 * 5).OrderBy(i => (i * 7919) % 101).ToArray();
        var x = new Tensor(perm.Select(i => (i - 50) / 16f).ToArray(), new Shape(2, 2, 5, 5), true);
        var opts = new GradCheckOptions { Step = 1.0 / 128 };
        AssertPasses(GradCheck.Run(() => Ops.MaxPool2d(x, 2), [x], opts));
        AssertPasses(GradCheck.Run(() => Ops.MaxPool2d(x, 3, 2, 1), [x], opts));
    }

    [Fact]
    public void LayerNorm()
    {
        var x = Leaf(new Shape(3, 5), 1, -2, 2);
        var g = Leaf(new Shape(5), 2, 0.5, 1.5);
        var b = Leaf(new Shape(5), 3);
        AssertPasses(GradCheck.Run(() => Ops.LayerNorm(x, g, b), x, g, b));
        AssertPasses(GradCheck.Run(() => Ops.LayerNorm(x), x));
    }
}
