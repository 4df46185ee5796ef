using Lora.Autograd;
using Lora.Kernels;
using static Lora.Tests.Autograd.AutogradTestData;

namespace Lora.Tests.Autograd;

/// <summary>Grad checks through whole graphs: the ops compose, and gradients meet where tensors are reused.</summary>
public class CompositeGraphTests
{
    [Theory]
    [InlineData(0f)]
    [InlineData(0.2f)]
    public void TwoLayerLoraMlpWithCrossEntropy(float dropout)
    {
        const int n = 4, inF = 6, hidden = 8, classes = 3, r = 2;
        var x = Leaf(new Shape(n, inF), 1, requiresGrad: true);
        var w1 = new PackedWeight(hidden, inF); w1.Pack(Uniform(hidden * inF, -0.5, 0.5, 2));
        var w2 = new PackedWeight(classes, hidden); w2.Pack(Uniform(classes * hidden, -0.5, 0.5, 3));
        var a1 = Param("l1.A", new Shape(r, inF), 4);
        var b1 = Param("l1.B", new Shape(hidden, r), 5);
        var bias1 = Param("l1.bias", new Shape(hidden), 6);
        var a2 = Param("l2.A", new Shape(r, hidden), 7);
        var b2 = Param("l2.B", new Shape(classes, r), 8);
        var bias2 = Param("l2.bias", new Shape(classes), 9);
        int[] labels = [2, 0, 1, 2];
        Tensor Loss()
        {
            var h = Ops.Gelu(Ops.LoraLinear(x, w1, a1, b1, bias1, 2f, dropout, 100));
            var logits = Ops.LoraLinear(h, w2, a2, b2, bias2, 2f, dropout, 101);
            return Ops.SoftmaxCrossEntropy(logits, labels);
        }
        AssertPasses(GradCheck.Run(Loss, x, a1, b1, bias1, a2, b2, bias2));
    }

    [Fact]
    public void ActivationsFeedingTwoOpsSumTheirGradients()
    {
        // A fresh activation gradient is stored by the first backward that reaches it (ReLU, LoRA dx) instead of
        // being zeroed and added to; the second consumer must then add. h and u each feed two ops here, reached
        // in both orders (ReLU first for h, the LoRA layer first for u).
        const int n = 5, inF = 7, hidden = 9, r = 2;
        var x = Leaf(new Shape(n, inF), 1, requiresGrad: true);
        var w1 = new PackedWeight(hidden, inF); w1.Pack(Uniform(hidden * inF, -0.5, 0.5, 2));
        var w2 = new PackedWeight(hidden, hidden); w2.Pack(Uniform(hidden * hidden, -0.5, 0.5, 3));
        var a1 = Param("l1.A", new Shape(r, inF), 4);
        var b1 = Param("l1.B", new Shape(hidden, r), 5);
        var a2 = Param("l2.A", new Shape(r, hidden), 6);
        var b2 = Param("l2.B", new Shape(hidden, r), 7);
        var weights = Leaf(new Shape(n, hidden), 8, requiresGrad: false);
        Tensor Loss()
        {
            var h = Ops.LoraLinear(x, w1, a1, b1, null, 2f);
            var u = Ops.Relu(h);
            var v = Ops.LoraLinear(u, w2, a2, b2, null, 2f);
            var z = Ops.Add(Ops.Add(Ops.Relu(v), Ops.Relu(h)), Ops.LoraLinear(Ops.Relu(u), w2, a2, b2, null, 2f));
            return Ops.Sum(Ops.Mul(Ops.Add(z, u), weights));
        }
        // ReLU is piecewise: a small step keeps the stencil (±2 steps) on one side of every kink for these values.
        AssertPasses(GradCheck.Run(Loss, [x, a1, b1, a2, b2], new GradCheckOptions { Step = 1.0 / 2048 }));
    }

    [Fact]
    public void SmallConvNetWithReuse()
    {
        // Max pooling is piecewise: a perturbation that changes a window's winner makes a finite difference
        // meaningless. So the pool reads the image directly, whose values are distinct and 1/16 apart, and the
        // step is 2⁻⁹ (|x| ≤ 4, so ±2h ≤ 1/64 never reorders a window); everything after the pool is smooth.
        var perm = Enumerable.Range(0, 2 * 8 * 8).OrderBy(i => (i * 7919) % 131).ToArray();
        var img = new Tensor(perm.Select(i => (i - 64) / 16f).ToArray(), new Shape(2, 1, 8, 8), true, "img");
        var k1 = Param("conv.w", new Shape(2, 1, 3, 3), 2);
        var kb = Param("conv.b", new Shape(2), 3);
        var fc = Param("fc.w", new Shape(3, 2 * 4 * 4), 4);
        var gamma = Param("ln.g", new Shape(3), 5, 0.5, 1.5);
        int[] labels = [1, 2];
        Tensor Loss()
        {
            var p = Ops.MaxPool2d(img, 2);                                            // (2, 1, 4, 4)
            var c = Ops.Tanh(Ops.Conv2d(Ops.Scale(p, 0.25f), k1, kb, stride: 1, padding: 1)); // (2, 2, 4, 4)
            var flat = Ops.Reshape(c, new Shape(2, 32));
            var logits = Ops.LayerNorm(Ops.Linear(flat, fc), gamma);
            var skip = Ops.Add(logits, Ops.Slice(Ops.Concat(logits, logits), 1, 3)); // logits used three times
            return Ops.Add(Ops.SoftmaxCrossEntropy(skip, labels), Ops.Scale(Ops.Mean(Ops.Mul(flat, flat)), 0.1f));
        }
        AssertPasses(GradCheck.Run(Loss, [img, k1, kb, fc, gamma], new GradCheckOptions { Step = 1.0 / 512 }));
    }

    [Fact]
    public void LinearTanhSigmoidMse()
    {
        var x = Leaf(new Shape(5, 3), 1);
        var w = Param("w", new Shape(4, 3), 2);
        var b = Param("b", new Shape(4), 3);
        var target = Leaf(new Shape(5, 4), 4, requiresGrad: false);
        AssertPasses(GradCheck.Run(() => Ops.Mse(Ops.Sigmoid(Ops.Tanh(Ops.Linear(x, w, b))), target), x, w, b));
    }
}
