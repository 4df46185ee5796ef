using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Modules;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Modules;

/// <summary>The image modules of a CNN: Conv2d, MaxPool2d, Flatten, Unflatten.</summary>
public class ConvModuleTests
{
    [Fact]
    public void Conv2dInitIsPytorchsKaimingUniformOverFanIn()
    {
        // torch.nn.Conv2d: W, b ~ U(−1/√fanIn, 1/√fanIn), fanIn = in·k·k; variance 1/(3·fanIn) within 5 standard errors
        // (the variance estimate of n uniform samples has relative standard error √(4/5/n)).
        var conv = new Conv2d(12, 40, 3, new SeededRandom(1), stride: 2, padding: 1);
        int fanIn = 12 * 3 * 3;
        double bound = 1 / Math.Sqrt(fanIn);
        var w = conv.Weight.ToArray();
        Assert.Equal(new Shape(40, 12, 3, 3), conv.Weight.Shape);
        Assert.Equal(new Shape(40), conv.Bias!.Shape);
        Assert.All(w, v => Assert.InRange(v, -bound, bound));
        Assert.All(conv.Bias.ToArray(), v => Assert.InRange(v, -bound, bound));
        double var = w.Select(v => (double)v * v).Average(), expected = 1.0 / (3 * fanIn);
        double se = Math.Sqrt(0.8 / w.Length);
        Assert.InRange(var, expected * (1 - 5 * se), expected * (1 + 5 * se));
        Assert.Equal((12, 40, 3, 2, 1), (conv.InChannels, conv.OutChannels, conv.KernelSize, conv.Stride, conv.Padding));
        Assert.Equal(["weight", "bias"], conv.NamedParameters().Select(p => p.Name));
    }

    [Fact]
    public void ZeroInitConv2dAndBiaslessConv2d()
    {
        var conv = new Conv2d(2, 3, 5);
        Assert.All(conv.Weight.ToArray(), v => Assert.Equal(0f, v));
        Assert.All(conv.Bias!.ToArray(), v => Assert.Equal(0f, v));
        var noBias = new Conv2d(2, 3, 1, new SeededRandom(2), bias: false);
        Assert.Null(noBias.Bias);
        Assert.Equal(["weight"], noBias.NamedParameters().Select(p => p.Name));
        Assert.Throws<ArgumentException>(() => new Conv2d(0, 3, 3));
        Assert.Throws<ArgumentException>(() => new Conv2d(2, 3, 0));
        Assert.Throws<ArgumentException>(() => new Conv2d(2, 3, 3, stride: 0));
        Assert.Throws<ArgumentException>(() => new Conv2d(2, 3, 3, padding: -1));
    }

    [Theory]
    [InlineData(1, 0, true)]
    [InlineData(2, 1, true)]
    [InlineData(1, 2, false)]
    public void Conv2dForwardIsTheDirectConvolution(int stride, int pad, bool bias)
    {
        const int n = 2, c = 3, h = 7, w = 6, co = 4, k = 3;
        var conv = new Conv2d(c, co, k, new SeededRandom(3), stride, pad, bias);
        var x = Random(n * c * h * w, 4);
        var y = Forward(conv, x, new Shape(n, c, h, w), out var shape);
        int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        Assert.Equal(new Shape(n, co, oh, ow), shape);
        var wt = conv.Weight.ToArray();
        var b = conv.Bias?.ToArray();
        for (int i = 0; i < n; i++)
            for (int o = 0; o < co; o++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        double s = b?[o] ?? 0, abs = Math.Abs(s);
                        for (int ch = 0; ch < c; ch++)
                            for (int ki = 0; ki < k; ki++)
                                for (int kj = 0; kj < k; kj++)
                                {
                                    int iy = oy * stride - pad + ki, ix = ox * stride - pad + kj;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                    double v = (double)x[((i * c + ch) * h + iy) * w + ix] * wt[((o * c + ch) * k + ki) * k + kj];
                                    s += v; abs += Math.Abs(v);
                                }
                        // c·k·k products and sums plus the bias add, each off by at most one rounding: (ckk + 2)·ε·Σ|terms|.
                        double got = y[((i * co + o) * oh + oy) * ow + ox];
                        Assert.True(Math.Abs(got - s) <= (c * k * k + 2) * Eps * abs, $"y[{i},{o},{oy},{ox}] = {got}, expected {s}");
                    }
        Assert.Throws<ArgumentException>(() => Forward(conv, new float[n * 2 * h * w], new Shape(n, 2, h, w), out _));
    }

    [Fact]
    public void MaxPool2dDefaultsItsStrideToTheKernelAndTakesWindowMaxima()
    {
        var pool = new MaxPool2d(2);
        Assert.Equal((2, 2, 0), (pool.Kernel, pool.Stride, pool.Padding));
        // One 4×5 plane: 2×2 windows at stride 2 cover columns 0..3 (the last column is dropped, as in PyTorch).
        float[] x = [1, 9, 2, 3, 99,
                     4, 5, 8, 0, 99,
                    -1, -2, 7, 6, 99,
                    -3, -4, 5, 7.5f, 99];
        var y = Forward(pool, x, new Shape(1, 1, 4, 5), out var shape);
        Assert.Equal(new Shape(1, 1, 2, 2), shape);
        Assert.Equal([9f, 8f, -1f, 7.5f], y);
        var padded = new MaxPool2d(3, 2, 1);
        Assert.Equal(new Shape(1, 1, 2, 3), ShapeOf(padded, new Shape(1, 1, 4, 5)));
        Assert.Throws<ArgumentException>(() => new MaxPool2d(0));
        Assert.Throws<ArgumentException>(() => new MaxPool2d(2, -1));
        Assert.Throws<ArgumentException>(() => new MaxPool2d(2, 2, 2));
        Assert.Throws<ArgumentException>(() => Forward(pool, new float[6], new Shape(2, 3), out _));
    }

    [Fact]
    public void FlattenAndUnflattenAreViewsThatRoundTrip()
    {
        var x = Random(2 * 3 * 4 * 5, 5);
        var un = new Unflatten(3, 4, 5);
        var img = Forward(un, x, new Shape(2, 60), out var imgShape);
        Assert.Equal(new Shape(2, 3, 4, 5), imgShape);
        Assert.Equal(x, img);
        var flat = Forward(new Flatten(), img, imgShape, out var flatShape);
        Assert.Equal(new Shape(2, 60), flatShape);
        Assert.Equal(x, flat);
        Assert.Equal(new Shape(2, 12), ShapeOf(new Flatten(), new Shape(2, 3, 4)));
        Assert.Equal(new Shape(3, 1), ShapeOf(new Flatten(), new Shape(3)));
        var e = Assert.Throws<ArgumentException>(() => Forward(un, new float[2 * 59], new Shape(2, 59), out _));
        Assert.Contains("(2, 59)", e.Message);
        Assert.Contains("(N, 60)", e.Message);
        Assert.Throws<ArgumentException>(() => new Unflatten(0, 4, 5));
    }

    [Fact]
    public void ASmallCnnPassesTheGradientCheck()
    {
        // Unflatten → MaxPool2d → Conv2d → tanh → Flatten → Linear, checked end to end against finite differences.
        // The pool sees the input directly, whose values are distinct and 1/16 apart, so a ±2h perturbation
        // (h = 2⁻⁷) never changes a window's winner (finite differences across that kink would be meaningless).
        var rng = new SeededRandom(6);
        var conv = new Conv2d(2, 3, 3, rng, stride: 1, padding: 1);
        var fc = new Linear(3 * 2 * 2, 2, rng);
        var net = new Sequential(new Unflatten(2, 4, 4), new MaxPool2d(2), conv, new Activation(ActivationKind.Tanh),
            new Flatten(), fc);
        var values = Enumerable.Range(0, 2 * 32).OrderBy(i => (i * 7919) % 67).Select(i => (i - 32) / 16f).ToArray();
        var x = new Tensor(values, new Shape(2, 32), requiresGrad: true);
        Tape.Current.Reset();
        var r = GradCheck.Run(() => net.Forward(x), [x, conv.Weight, conv.Bias!, fc.Weight], new GradCheckOptions { Step = 1.0 / 128 });
        Assert.True(r.Passed, r.ToString());
        Tape.Current.Reset();
    }

    static float[] Forward(Module m, float[] x, Shape shape, out Shape outShape)
    {
        Tape.Current.Reset();
        using (Tape.NoGrad())
        {
            var y = m.Forward(new Tensor(x, shape));
            outShape = y.Shape;
            var result = y.ToArray();
            Tape.Current.Reset();
            return result;
        }
    }

    static Shape ShapeOf(Module m, Shape shape)
    {
        Forward(m, new float[shape.Length], shape, out var s);
        return s;
    }
}
