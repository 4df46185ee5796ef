using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Modules;

/// <summary>Conv2d and LoraConv2d on legal but unusual geometry: images narrower or shorter than the kernel's
/// reach beyond the padding, where whole kernel columns see only padding.</summary>
public class ConvUsageTests
{
    // (height, width, kernel, stride, padding): PyTorch accepts all of them (h + 2p ≥ k, w + 2p ≥ k).
    public static TheoryData<int, int, int, int, int> NarrowImages => new()
    {
        { 2, 1, 5, 1, 2 },  // a "same" 5×5 convolution over a one-pixel-wide image
        { 1, 2, 7, 1, 3 },
        { 3, 1, 5, 1, 4 },
        { 1, 1, 5, 2, 2 },
        { 4, 2, 7, 2, 3 },
    };

    [Theory]
    [MemberData(nameof(NarrowImages))]
    public void NarrowImagesMatchTheDirectConvolutionWithAndWithoutAdapters(int h, int w, int k, int stride, int pad)
    {
        // Unfolding a row whose every position falls in the padding for some kernel column used to slice the input
        // row at a negative offset: an ArgumentOutOfRangeException from inside the kernel, for the plain and the
        // LoRA convolution alike.
        const int n = 2, c = 2, cout = 3;
        var conv = new Conv2d(c, cout, k, new SeededRandom(1), stride, pad);
        var l = new LoraConv2d(new Conv2d(c, cout, k, new SeededRandom(1), stride, pad));
        l.AddAdapter("a", 2, 3, false, 0, Random(2 * c * k * k, 2, 0.5), Random(cout * 2, 3, 0.5));
        l.AddAdapter("b", 1, 1, false, 0, Random(c * k * k, 4, 0.5), Random(cout, 5, 0.5));
        var x = Random(n * c * h * w, 6);
        var shape = new Shape(n, c, h, w);
        var plain = Run(conv, x, shape);
        var adapted = Run(l.Eval(), x, shape);
        var (exact, mag) = Direct(x, n, c, h, w, conv.Weight.ToArray(), conv.Bias!.ToArray(), cout, k, stride, pad);
        var (exactL, magL) = Direct(x, n, c, h, w, conv.Weight.ToArray(), conv.Bias!.ToArray(), cout, k, stride, pad, l);
        Assert.Equal(exact.Length, plain.Length);
        for (int i = 0; i < exact.Length; i++)
        {
            // One dot product of c·k·k terms plus the bias; the adapters add their own r + 4 roundings per term.
            Assert.True(Math.Abs(plain[i] - exact[i]) <= (c * k * k + 4) * Eps * mag[i], $"plain y[{i}] = {plain[i]}, exact {exact[i]}");
            Assert.True(Math.Abs(adapted[i] - exactL[i]) <= 2 * (c * k * k + 3 + 4) * Eps * magL[i], $"adapted y[{i}] = {adapted[i]}, exact {exactL[i]}");
        }

        // The backward (fold and the adapters' unfold) on the same geometry.
        var xt = new Tensor(x, shape, requiresGrad: true);
        var ps = new List<Tensor> { xt, l.BaseLayer.Bias! };
        foreach (var ad in l.Adapters) { ps.Add(ad.A); ps.Add(ad.B); }
        l.BaseLayer.Bias!.Frozen = false;
        Tape.Current.Reset();
        var r = GradCheck.Run(() => Ops.Tanh(l.Forward(xt)), ps, null);
        Assert.True(r.Passed, r.ToString());
        Tape.Current.Reset();
    }

    /// <summary>y = conv(x, W + Σ s·B·A) + b in double and M = Σ|W + …||x| + |b| per output (the rounding scale).</summary>
    static (double[] Y, double[] Mag) Direct(float[] x, int n, int c, int h, int w, float[] wt, float[] bias, int cout, int k,
        int stride, int pad, LoraConv2d? lora = null)
    {
        int ckk = c * k * k, oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        var weff = wt.Select(v => (double)v).ToArray();
        var wabs = wt.Select(v => Math.Abs((double)v)).ToArray();
        foreach (var ad in lora?.ActiveAdapters ?? [])
        {
            float[] A = ad.A.ToArray(), B = ad.B.ToArray();
            for (int o = 0; o < cout; o++)
                for (int p = 0; p < ckk; p++)
                    for (int j = 0; j < ad.Rank; j++)
                    {
                        double t = (double)ad.Scale * B[o * ad.Rank + j] * A[j * ckk + p];
                        weff[o * ckk + p] += t;
                        wabs[o * ckk + p] += Math.Abs(t);
                    }
        }
        var y = new double[n * cout * oh * ow];
        var mag = new double[y.Length];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < cout; o++)
                for (int py = 0; py < oh; py++)
                    for (int px = 0; px < ow; px++)
                    {
                        double acc = bias[o], m = Math.Abs(bias[o]);
                        for (int ch = 0; ch < c; ch++)
                            for (int u = 0; u < k; u++)
                                for (int v = 0; v < k; v++)
                                {
                                    int iy = py * stride - pad + u, ix = px * stride - pad + v;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                    double xv = x[((i * c + ch) * h + iy) * w + ix];
                                    int widx = (o * c + ch) * k * k + u * k + v;
                                    acc += xv * weff[widx];
                                    m += Math.Abs(xv) * wabs[widx];
                                }
                        int yi = ((i * cout + o) * oh + py) * ow + px;
                        y[yi] = acc;
                        mag[yi] = m;
                    }
        return (y, mag);
    }
}
