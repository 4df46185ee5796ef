using Lora.Kernels;
using static Lora.Tests.Kernels.KernelTestData;

namespace Lora.Tests.Kernels;

public class Im2ColPoolingTests
{
    public static TheoryData<int, int, int, int, int, int> Geometries => new()
    {
        // c, h, w, k, stride, pad
        { 1, 1, 1, 1, 1, 0 },
        { 2, 5, 5, 3, 1, 1 },
        { 3, 6, 7, 3, 2, 1 },
        { 1, 8, 5, 2, 2, 0 },
        { 2, 7, 9, 4, 3, 2 },
        { 1, 4, 4, 5, 1, 2 },
    };

    [Theory, MemberData(nameof(Geometries))]
    public void UnfoldMatchesDirectIndexingAndFoldIsItsAdjoint(int c, int h, int w, int k, int stride, int pad)
    {
        int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        Assert.Equal(oh, Im2Col.OutputSize(h, k, stride, pad));
        float[] x = Uniform(c * h * w, -1, 1, c + h * w);
        var cols = Enumerable.Repeat(float.NaN, c * k * k * oh * ow).ToArray(); // every cell must be written
        Im2Col.Unfold(c, h, w, k, k, stride, pad, x, cols);
        for (int ch = 0; ch < c; ch++)
            for (int ki = 0; ki < k; ki++)
                for (int kj = 0; kj < k; kj++)
                    for (int oy = 0; oy < oh; oy++)
                        for (int ox = 0; ox < ow; ox++)
                        {
                            int iy = oy * stride - pad + ki, ix = ox * stride - pad + kj;
                            float e = iy >= 0 && iy < h && ix >= 0 && ix < w ? x[(ch * h + iy) * w + ix] : 0f;
                            Assert.Equal(e, cols[((ch * k + ki) * k + kj) * oh * ow + oy * ow + ox]);
                        }
        // ⟨unfold(x), g⟩ = ⟨x, fold(g)⟩ for the adjoint, checked elementwise against a double scatter.
        float[] g = Uniform(cols.Length, -1, 1, 99), dx0 = Uniform(x.Length, -1, 1, 98), dx = (float[])dx0.Clone();
        Im2Col.FoldAdd(c, h, w, k, k, stride, pad, g, dx);
        double[] e2 = dx0.Select(v => (double)v).ToArray(), abs = dx0.Select(v => Math.Abs((double)v)).ToArray();
        for (int ch = 0; ch < c; ch++)
            for (int ki = 0; ki < k; ki++)
                for (int kj = 0; kj < k; kj++)
                    for (int oy = 0; oy < oh; oy++)
                        for (int ox = 0; ox < ow; ox++)
                        {
                            int iy = oy * stride - pad + ki, ix = ox * stride - pad + kj;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            double v = g[((ch * k + ki) * k + kj) * oh * ow + oy * ow + ox];
                            e2[(ch * h + iy) * w + ix] += v;
                            abs[(ch * h + iy) * w + ix] += Math.Abs(v);
                        }
        Close(dx, e2, abs.Select(a => k * k * U * a).ToArray(), "fold");
    }

    [Theory, MemberData(nameof(Geometries))]
    public void MaxPoolPicksTheWindowMaximumAndRoutesGradientsToIt(int c, int h, int w, int k, int stride, int pad)
    {
        if (pad > k / 2) pad = k / 2;
        int oh = Im2Col.OutputSize(h, k, stride, pad), ow = Im2Col.OutputSize(w, k, stride, pad);
        const int n = 2;
        float[] x = Uniform(n * c * h * w, -1, 1, h * 13 + w);
        var y = new float[n * c * oh * ow];
        var arg = new int[y.Length];
        Pooling.MaxPool2dForward(n * c, h, w, k, stride, pad, x, y, arg);
        float[] dy = Uniform(y.Length, -1, 1, 5), dx = new float[x.Length];
        Pooling.MaxPool2dBackward(n * c, h, w, oh, ow, dy, arg, dx);
        var dxe = new double[x.Length];
        var dxt = new double[x.Length];
        for (int p = 0; p < n * c; p++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                {
                    float best = float.NegativeInfinity; int bi = -1;
                    for (int i = oy * stride - pad; i < oy * stride - pad + k; i++)
                        for (int j = ox * stride - pad; j < ox * stride - pad + k; j++)
                            if (i >= 0 && i < h && j >= 0 && j < w && x[p * h * w + i * w + j] > best) { best = x[p * h * w + i * w + j]; bi = i * w + j; }
                    int o = (p * oh + oy) * ow + ox;
                    Assert.Equal(best, y[o]);
                    Assert.Equal(bi, arg[o]);
                    dxe[p * h * w + bi] += dy[o];
                    dxt[p * h * w + bi] += k * k * U * Math.Abs(dy[o]);
                }
        Close(dx, dxe, dxt, "maxpool.dx");
    }

    [Fact]
    public void BadGeometryIsRejected()
    {
        Assert.Throws<ArgumentException>(() => Im2Col.OutputSize(2, 5, 1, 1));
        Assert.Throws<ArgumentException>(() => Im2Col.OutputSize(4, 3, 0, 0));
        Assert.Throws<ArgumentException>(() => Pooling.MaxPool2dForward(1, 4, 4, 2, 2, 2, new float[16], new float[9], new int[9]));
        Assert.Throws<ArgumentException>(() => Im2Col.Unfold(1, 4, 4, 3, 3, 1, 0, new float[15], new float[36]));
    }
}
