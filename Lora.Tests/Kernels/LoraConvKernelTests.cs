using Lora.Kernels;
using static Lora.Tests.Kernels.KernelTestData;

namespace Lora.Tests.Kernels;

/// <summary>The fused LoRA convolution and its scalar twin against a double-precision direct convolution.</summary>
public class LoraConvKernelTests
{
    public static IEnumerable<object[]> Cases => new object[][]
    {
        // n, c, h, w, cout, k, stride, pad, r, bias, dropout
        [2, 3, 7, 6, 5, 3, 1, 1, 2, true, 0f],     // plane 42: a partial 16-column panel; cout + r = 7 rows
        [3, 2, 9, 8, 7, 3, 2, 1, 4, false, 0f],    // stride 2, no bias
        [1, 4, 5, 5, 13, 1, 1, 0, 3, true, 0.25f], // 1×1 kernel, dropout
        [2, 60, 5, 5, 7, 3, 1, 1, 3, true, 0f],    // c·k·k = 540 > KC: two k-blocks
        [2, 3, 8, 8, 6, 3, 1, 1, 0, true, 0f],     // r = 0: the plain convolution
        [2, 5, 10, 9, 20, 3, 2, 2, 8, true, 0.3f], // padding 2, dropout, W and A rows in one panel
        [1, 1, 66, 66, 2, 3, 1, 1, 1, true, 0f],   // 4356 positions > NC: two column blocks
        [1, 2, 4, 4, 190, 1, 1, 0, 5, true, 0f],   // 195 stacked rows > MC: two row blocks
        [2, 3, 8, 8, 10, 3, 1, 1, 8, true, 0f],    // AVX-512 tile: 64 positions, a 12-row pair straddling y's and h's rows
        [1, 60, 8, 8, 24, 3, 1, 1, 12, true, 0f],  // AVX-512 tile: pairs within y and within h, two k-blocks
    };

    [Theory, MemberData(nameof(Cases))]
    public void ForwardMatchesTheDirectConvolutionAndTheTwin(int n, int c, int h, int w, int cout, int k, int stride, int pad, int r, bool bias, float dropout)
    {
        var cc = new ConvCase(n, c, h, w, cout, k, stride, pad, r, bias, dropout, seed: n + c + cout + r);
        var (hf, yf, xdf) = Forward(cc, reference: false);
        var (ht, yt, xdt) = Forward(cc, reference: true);
        if (cc.Drop.IsActive)
        {
            var mask = new float[cc.X.Length];
            DropoutKernels.MaskScalar(cc.Drop.Seed, 0, cc.Drop.P, mask);
            Assert.Equal(cc.X.Select((v, i) => v * mask[i]).ToArray(), xdf);
            Assert.Equal(xdf, xdt);
        }
        var (he, htol, ye, ytol) = cc.Forward(xdf);
        Close(hf, he, htol, $"h {cc}");
        Close(yf, ye, ytol, $"y {cc}");
        Close(ht, he, htol, $"twin h {cc}");
        Close(yt, ye, ytol, $"twin y {cc}");
    }

    [Theory, MemberData(nameof(Cases))]
    public void BackwardAddsTheDirectGradientsAndMatchesTheTwin(int n, int c, int h, int w, int cout, int k, int stride, int pad, int r, bool bias, float dropout)
    {
        var cc = new ConvCase(n, c, h, w, cout, k, stride, pad, r, bias, dropout, seed: 2 * n + c + cout);
        var (hf, _, xd) = Forward(cc, reference: false);
        var initial = cc.Initial(9);
        var fast = Backward(cc, hf, xd, initial.Copy(), reference: false);
        var twin = Backward(cc, hf, xd, initial.Copy(), reference: true);
        foreach (var (name, (value, tol)) in cc.Backward(xd, hf, initial))
        {
            Close(fast[name], value, tol, $"{name} {cc}");
            Close(twin[name], value, tol, $"twin {name} {cc}");
        }
    }

    [Fact]
    public void SkippedGradientsAreLeftAloneAndZeroBGivesThePlainConvolutionBitwise()
    {
        var cc = new ConvCase(2, 3, 7, 6, 5, 3, 1, 1, 4, true, 0f, seed: 4);
        float[] plainY = new float[cc.N * cc.Cout * cc.Plane], y = new float[plainY.Length], h = new float[cc.N * cc.R * cc.Plane];
        LoraConv.Forward(cc.N, cc.C, cc.H, cc.W, cc.Cout, cc.K, cc.K, cc.Stride, cc.Pad, 0, cc.S, cc.X, default, cc.Wt, [], [], cc.Bias, [], plainY, default);
        // B = 0: the low-rank stretch adds exact zeros before the bias, in the same tiles, so y is the plain one bitwise.
        LoraConv.Forward(cc.N, cc.C, cc.H, cc.W, cc.Cout, cc.K, cc.K, cc.Stride, cc.Pad, cc.R, cc.S, cc.X, default, cc.Wt, cc.A,
            new float[cc.B.Length], cc.Bias, h, y, default);
        Assert.Equal(plainY, y);
        // scale = 0 drops the stretch: the same bits again.
        LoraConv.Forward(cc.N, cc.C, cc.H, cc.W, cc.Cout, cc.K, cc.K, cc.Stride, cc.Pad, cc.R, 0f, cc.X, default, cc.Wt, cc.A, cc.B, cc.Bias, h, y, default);
        Assert.Equal(plainY, y);
        // Only dB wanted: the other outputs are empty spans and nothing else is touched.
        var dB = new float[cc.B.Length];
        LoraConv.Backward(cc.N, cc.C, cc.H, cc.W, cc.Cout, cc.K, cc.K, cc.Stride, cc.Pad, cc.R, cc.S, cc.X, default, cc.Wt, cc.A, cc.B, h,
            cc.Dy, default, default, dB, default, default, default);
        Assert.Contains(dB, v => v != 0f);
    }

    [Fact]
    public void BadShapesAreRejectedWithTheirShapes()
    {
        var cc = new ConvCase(2, 3, 7, 6, 5, 3, 1, 1, 2, true, 0f, seed: 5);
        float[] h = new float[cc.N * cc.R * cc.Plane], y = new float[cc.N * cc.Cout * cc.Plane];
        void Fwd(float[] x, float[] wt, float[] a, float[] hh, float[] yy, float[] bias) =>
            LoraConv.Forward(cc.N, cc.C, cc.H, cc.W, cc.Cout, cc.K, cc.K, cc.Stride, cc.Pad, cc.R, cc.S, x, default, wt, a, cc.B, bias, hh, yy, default);
        Assert.Contains("(2, 3, 7, 6)", Assert.Throws<ArgumentException>(() => Fwd(new float[5], cc.Wt, cc.A, h, y, cc.Bias)).Message);
        Assert.Contains("(5, 3, 3, 3)", Assert.Throws<ArgumentException>(() => Fwd(cc.X, new float[7], cc.A, h, y, cc.Bias)).Message);
        Assert.Contains("(2, 3, 3, 3)", Assert.Throws<ArgumentException>(() => Fwd(cc.X, cc.Wt, new float[3], h, y, cc.Bias)).Message);
        Assert.Contains("(2, 5, 7, 6)", Assert.Throws<ArgumentException>(() => Fwd(cc.X, cc.Wt, cc.A, h, new float[3], cc.Bias)).Message);
        Assert.Contains("(5)", Assert.Throws<ArgumentException>(() => Fwd(cc.X, cc.Wt, cc.A, h, y, new float[4])).Message);
        Assert.Throws<ArgumentException>(() => LoraConv.Forward(1, 1, 2, 2, 1, 3, 3, 1, 0, 0, 1f, new float[4], default, new float[9], [], [], [], [], new float[1], default));
        Assert.Throws<ArgumentException>(() => LoraConv.Forward(1, 3, 7, 6, 5, 3, 3, 1, 1, 2, 1f, cc.X[..126], default, cc.Wt, cc.A, cc.B, cc.Bias, h[..84],
            y[..210], new LoraDropout(0.5f, 1))); // dropout needs xDrop
        Assert.Contains("dA", Assert.Throws<ArgumentException>(() => LoraConv.Backward(cc.N, cc.C, cc.H, cc.W, cc.Cout, cc.K, cc.K, cc.Stride,
            cc.Pad, cc.R, cc.S, cc.X, default, cc.Wt, cc.A, cc.B, h, y, default, new float[1], default, default, default, default)).Message);
    }

    internal static (float[] H, float[] Y, float[] XDrop) Forward(ConvCase cc, bool reference)
    {
        float[] h = new float[cc.N * cc.R * cc.Plane], y = new float[cc.N * cc.Cout * cc.Plane], xd = new float[cc.X.Length];
        // NaN-filled outputs: every element must be written.
        Array.Fill(h, float.NaN); Array.Fill(y, float.NaN);
        if (reference)
            LoraConvReference.Forward(cc.N, cc.C, cc.H, cc.W, cc.Cout, cc.K, cc.K, cc.Stride, cc.Pad, cc.R, cc.S, cc.X, xd, cc.Wt, cc.A, cc.B, cc.Bias, h, y, cc.Drop);
        else
            LoraConv.Forward(cc.N, cc.C, cc.H, cc.W, cc.Cout, cc.K, cc.K, cc.Stride, cc.Pad, cc.R, cc.S, cc.X, xd, cc.Wt, cc.A, cc.B, cc.Bias, h, y, cc.Drop);
        return (h, y, xd);
    }

    internal static ConvCase.Grads Backward(ConvCase cc, float[] h, float[] xd, ConvCase.Grads g, bool reference)
    {
        if (reference)
            LoraConvReference.Backward(cc.N, cc.C, cc.H, cc.W, cc.Cout, cc.K, cc.K, cc.Stride, cc.Pad, cc.R, cc.S, cc.X, xd, cc.Wt, cc.A, cc.B, h, cc.Dy,
                g.Dx, g.DA, g.DB, g.DBias, g.DW, cc.Drop);
        else
            LoraConv.Backward(cc.N, cc.C, cc.H, cc.W, cc.Cout, cc.K, cc.K, cc.Stride, cc.Pad, cc.R, cc.S, cc.X, xd, cc.Wt, cc.A, cc.B, h, cc.Dy,
                g.Dx, g.DA, g.DB, g.DBias, g.DW, cc.Drop);
        return g;
    }
}
