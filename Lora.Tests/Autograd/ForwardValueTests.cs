using Lora.Autograd;
using Lora.Kernels;
using static Lora.Tests.Autograd.AutogradTestData;

namespace Lora.Tests.Autograd;

/// <summary>Forward values against double-precision references (the grad checks only test consistency).</summary>
public class ForwardValueTests
{
    const double U = 1.0 / (1 << 24);

    static void Close(Tensor actual, double[] expected, double[] tol, string what)
    {
        var a = actual.ToArray();
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(a[i] - expected[i]) <= tol[i], $"{what}[{i}] = {a[i]}, expected {expected[i]} ± {tol[i]:E2}");
    }

    [Fact]
    public void LinearAndMatMulMatchDouble()
    {
        Tape.Current.Reset();
        const int m = 3, k = 7, n = 4;
        var x = Leaf(new Shape(m, k), 1);
        var w = Leaf(new Shape(n, k), 2);
        var b = Leaf(new Shape(n), 3);
        var y = Ops.Linear(x, w, b);
        var yt = Ops.MatMul(x, Leaf(new Shape(k, n), 4));
        double[] e = new double[m * n], t = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = b.Data[j], abs = Math.Abs(b.Data[j]);
                for (int p = 0; p < k; p++) { s += (double)x.Data[i * k + p] * w.Data[j * k + p]; abs += Math.Abs((double)x.Data[i * k + p] * w.Data[j * k + p]); }
                e[i * n + j] = s;
                t[i * n + j] = (k + 2) * U * abs; // GEMM bound k·u·Σ|x||w|, plus the bias addition
            }
        Close(y, e, t, "linear");
        Assert.Equal(new Shape(m, n), yt.Shape);
        Tape.Current.Reset();
    }

    [Fact]
    public void LoraLinearMatchesTheUnfusedFormulaIncludingDropout()
    {
        Tape.Current.Reset();
        const int n = 4, k = 9, d = 5, r = 3;
        const float scale = 16f / r, p = 0.25f;
        var x = Leaf(new Shape(n, k), 1);
        var wData = Uniform(d * k, -1, 1, 2);
        var packed = new PackedWeight(d, k);
        packed.Pack(wData);
        var a = Leaf(new Shape(r, k), 3);
        var b = Leaf(new Shape(d, r), 4);
        var bias = Leaf(new Shape(d), 5);
        var mask = new float[n * k];
        DropoutKernels.Mask(77, 0, p, mask);
        foreach (bool dropout in new[] { false, true })
        {
            var y = Ops.LoraLinear(x, packed, a, b, bias, scale, dropout ? p : 0f, 77);
            double[] e = new double[n * d], t = new double[n * d];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < d; j++)
                {
                    double s = bias.Data[j], abs = Math.Abs(bias.Data[j]);
                    for (int q = 0; q < k; q++) { s += (double)x.Data[i * k + q] * wData[j * k + q]; abs += Math.Abs((double)x.Data[i * k + q] * wData[j * k + q]); }
                    for (int c = 0; c < r; c++)
                    {
                        double h = 0, habs = 0;
                        for (int q = 0; q < k; q++)
                        {
                            double xd = x.Data[i * k + q] * (dropout ? mask[i * k + q] : 1.0);
                            h += xd * a.Data[c * k + q]; habs += Math.Abs(xd * a.Data[c * k + q]);
                        }
                        s += scale * h * b.Data[j * r + c];
                        abs += scale * habs * Math.Abs(b.Data[j * r + c]);
                    }
                    e[i * d + j] = s;
                    t[i * d + j] = (k + r + 4) * U * abs;
                }
            Close(y, e, t, dropout ? "lora+dropout" : "lora");
        }
        Tape.Current.Reset();
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    [InlineData(3, 2)]
    public void Conv2dMatchesADirectConvolution(int stride, int pad)
    {
        Tape.Current.Reset();
        const int n = 2, c = 3, h = 7, w = 6, co = 4, kh = 3, kw = 2;
        var x = Leaf(new Shape(n, c, h, w), 1);
        var wt = Leaf(new Shape(co, c, kh, kw), 2);
        var b = Leaf(new Shape(co), 3);
        var y = Ops.Conv2d(x, wt, b, stride, pad);
        int oh = (h + 2 * pad - kh) / stride + 1, ow = (w + 2 * pad - kw) / stride + 1;
        Assert.Equal(new Shape(n, co, oh, ow), y.Shape);
        var e = new double[y.Length];
        var t = new double[y.Length];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < co; o++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        double s = b.Data[o], abs = Math.Abs(b.Data[o]);
                        for (int ch = 0; ch < c; ch++)
                            for (int ki = 0; ki < kh; ki++)
                                for (int kj = 0; kj < kw; kj++)
                                {
                                    int iy = oy * stride - pad + ki, ix = ox * stride - pad + kj;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                    double v = (double)x.Data[((i * c + ch) * h + iy) * w + ix] * wt.Data[((o * c + ch) * kh + ki) * kw + kj];
                                    s += v; abs += Math.Abs(v);
                                }
                        int idx = ((i * co + o) * oh + oy) * ow + ox;
                        e[idx] = s;
                        t[idx] = (c * kh * kw + 2) * U * abs;
                    }
        Close(y, e, t, "conv2d");
        Tape.Current.Reset();
    }

    [Fact]
    public void ConcatSliceEmbeddingAndMaxPoolMoveValuesExactly()
    {
        Tape.Current.Reset();
        var a = new Tensor([1f, 2f, 3f, 4f], new Shape(2, 2));
        var b = new Tensor([5f, 6f], new Shape(2, 1));
        var cat = Ops.Concat(a, b);
        Assert.Equal([1f, 2f, 5f, 3f, 4f, 6f], cat.ToArray());
        Assert.Equal([2f, 5f, 4f, 6f], Ops.Slice(cat, 1, 2).ToArray());
        var table = new Tensor([0f, 1f, 10f, 11f, 20f, 21f], new Shape(3, 2));
        Assert.Equal([20f, 21f, 0f, 1f, 20f, 21f], Ops.Embedding(new[] { 2, 0, 2 }, table).ToArray());
        var img = new Tensor(Enumerable.Range(0, 16).Select(i => (float)((i * 5) % 16)).ToArray(), new Shape(1, 1, 4, 4));
        // rows: [0 5 10 15] [4 9 14 3] [8 13 2 7] [12 1 6 11]
        Assert.Equal([9f, 15f, 13f, 11f], Ops.MaxPool2d(img, 2).ToArray());
        Tape.Current.Reset();
    }

    [Fact]
    public void DropoutIsIdentityInEvalAndInvertedScaledInTraining()
    {
        Tape.Current.Reset();
        var x = new Tensor(Enumerable.Repeat(1f, 10_000).ToArray(), new Shape(100, 100), true);
        Assert.Same(x, Ops.Dropout(x, 0.5f, 1, training: false));
        Assert.Same(x, Ops.Dropout(x, 0f, 1));
        var y = Ops.Dropout(x, 0.2f, 3);
        Assert.All(y.ToArray(), v => Assert.True(v == 0f || v == 1.25f));
        Assert.Equal(1.0, y.ToArray().Average(v => (double)v), 0.05); // E = 1; sd of the mean ≈ 0.005
        var y2 = Ops.Dropout(x, 0.2f, 3);
        Assert.Equal(y.ToArray(), y2.ToArray()); // same seed, same bits
        Assert.Throws<ArgumentException>(() => Ops.Dropout(x, 1f, 3));
        Tape.Current.Reset();
    }

    [Fact]
    public void LossesMatchDouble()
    {
        Tape.Current.Reset();
        var logits = new Tensor([1f, 2f, 3f, -1f, 0f, 1000f], new Shape(2, 3));
        double l0 = Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(3)) - 1, l1 = 0; // row 2: label 2 dominates
        double ce = (l0 + l1) / 2;
        Assert.Equal(ce, Ops.SoftmaxCrossEntropy(logits, new[] { 0, 2 }).Item, 1e-6);
        var p = new Tensor([1f, 2f, 3f], new Shape(3));
        var t = new Tensor([1.5f, 2f, 1f], new Shape(3));
        Assert.Equal((0.25 + 0 + 4) / 3, Ops.Mse(p, t).Item, 1e-6);
        Assert.Equal(6f, Ops.Sum(p).Item);
        Assert.Equal(2f, Ops.Mean(p).Item);
        Tape.Current.Reset();
    }

    [Fact]
    public void LossesOfAnEmptyBatchAreNaNAndTheirBackwardAddsNothing()
    {
        // The mean of nothing, as PyTorch's mean-reduced losses give; cross-entropy used to say 0, a perfect loss.
        Tape.Current.Reset();
        var logits = new Parameter("logits", [], new Shape(0, 3));
        var ce = Ops.SoftmaxCrossEntropy(logits, Array.Empty<int>());
        Assert.True(float.IsNaN(ce.Item));
        Assert.True(float.IsNaN(Ops.Mean(new Tensor([], new Shape(0))).Item));
        ce.Backward();
        Assert.Equal(0, logits.Grad.Length);
        Tape.Current.Reset();
    }
}
