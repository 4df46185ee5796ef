using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>A DoRA adapter on a 2-D convolution against PEFT's formula evaluated in double: y = c ⊙ conv(x, V) + b with
/// V = W + s·B·A (the flat (out, in·k·k) view) and c = m/‖V_o‖ per output channel, the norm a constant in the backward;
/// with dropout, y = conv(x, W) + b + (c − 1) ⊙ conv(x̃, W) + c ⊙ s·B(A(x̃)).</summary>
public class DoraConvTests
{
    const int N = 2, Cin = 3, Cout = 4, Ks = 3, H = 5, Wd = 6, Stride = 1, Pad = 1, R = 2;
    const int Fan = Cin * Ks * Ks, Oh = (H + 2 * Pad - Ks) / Stride + 1, Ow = (Wd + 2 * Pad - Ks) / Stride + 1;

    static LoraConv2d Layer(float dropout = 0)
    {
        var conv = new Conv2d(Cin, Cout, Ks, new SeededRandom(5), Stride, Pad);
        conv.Freeze();
        var l = new LoraConv2d(conv);
        var ad = l.AddAdapter("default", R, 4, false, dropout, Random(R * Fan, 11, 0.3), Random(Cout * R, 12, 0.4), seed: 3, useDora: true);
        Random(Cout, 13, 0.4).Select(v => 1 + v).ToArray().CopyTo(ad.Magnitude!.Data); // moved away from the norms
        return l;
    }

    // conv(x, f) in double: x (N, Cin, H, Wd), f (Cout, Fan); returns (value, Σ|terms|) per output.
    static (double[] Y, double[] Mag) Conv(float[] x, double[] f, double[] fMag)
    {
        var y = new double[N * Cout * Oh * Ow]; var mag = new double[y.Length];
        for (int n = 0; n < N; n++)
            for (int o = 0; o < Cout; o++)
                for (int i = 0; i < Oh; i++)
                    for (int j = 0; j < Ow; j++)
                    {
                        double acc = 0, m = 0;
                        for (int c = 0; c < Cin; c++)
                            for (int u = 0; u < Ks; u++)
                                for (int v = 0; v < Ks; v++)
                                {
                                    int yy = i * Stride - Pad + u, xx = j * Stride - Pad + v;
                                    if (yy < 0 || yy >= H || xx < 0 || xx >= Wd) continue;
                                    double xv = x[((n * Cin + c) * H + yy) * Wd + xx];
                                    int q = (c * Ks + u) * Ks + v;
                                    acc += xv * f[o * Fan + q]; m += Math.Abs(xv) * fMag[o * Fan + q];
                                }
                        int at = ((n * Cout + o) * Oh + i) * Ow + j;
                        y[at] = acc; mag[at] = m;
                    }
        return (y, mag);
    }

    // V = W + s·B·A, its magnitudes, and c = m/‖V_o‖.
    static (double[] V, double[] VMag, double[] C) Adapted(LoraConv2d l)
    {
        var ad = l.Adapters[0];
        float[] w = l.BaseWeight.ToArray(), a = ad.A.ToArray(), b = ad.B.ToArray(), m = ad.Magnitude!.ToArray();
        var v = new double[Cout * Fan]; var vMag = new double[v.Length]; var c = new double[Cout];
        for (int o = 0; o < Cout; o++)
        {
            double norm = 0;
            for (int q = 0; q < Fan; q++)
            {
                double acc = w[o * Fan + q], mag = Math.Abs(w[o * Fan + q]);
                for (int t = 0; t < R; t++) { acc += ad.Scale * (double)b[o * R + t] * a[t * Fan + q]; mag += ad.Scale * Math.Abs((double)b[o * R + t] * a[t * Fan + q]); }
                v[o * Fan + q] = acc; vMag[o * Fan + q] = mag; norm += acc * acc;
            }
            c[o] = m[o] / Math.Sqrt(norm);
        }
        return (v, vMag, c);
    }

    static void AssertNear(double[] expected, double[] mag, ReadOnlySpan<float> actual, int depth, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double tol = depth * Eps * mag[i] + 1e-30;
            Assert.True(Math.Abs(actual[i] - expected[i]) <= tol, $"{what}[{i}]: {actual[i]} vs {expected[i]} (tol {tol:E2})");
        }
    }

    // A product-sum of depth Fan + R times c, whose norm has a relative error ≈ (Fan/2 + 4)·ε: 2·Fan + R + 16 covers both.
    const int Depth = 2 * Fan + R + 16;

    [Fact]
    public void ForwardMatchesPeftFormulaAndTheMagnitudeHasPeftsShape()
    {
        var l = Layer();
        l.Eval();
        Assert.Equal([1, Cout, 1, 1], l.Adapters[0].Magnitude!.Shape.ToArray());
        var x = Random(N * Cin * H * Wd, 21);
        var (v, vMag, c) = Adapted(l);
        var (y, mag) = Conv(x, v, vMag);
        var bias = l.BaseBias!.ToArray();
        for (int i = 0; i < y.Length; i++)
        {
            int o = i / (Oh * Ow) % Cout;
            y[i] = c[o] * y[i] + bias[o];
            mag[i] = Math.Abs(c[o]) * mag[i] + Math.Abs(bias[o]);
        }
        AssertNear(y, mag, Run(l, x, new Shape(N, Cin, H, Wd)), Depth, "y");
    }

    [Fact]
    public void ADroppedInputFeedsTheRescaledBaseAndTheLoraTermAsInPeft()
    {
        const float p = 0.4f;
        var l = Layer(p);
        l.Train();
        var ad = l.Adapters[0];
        var x = Random(N * Cin * H * Wd, 41);
        var shape = new Shape(N, Cin, H, Wd);
        float[] y, dropped;
        Tape.Current.Reset();
        using (Tape.NoGrad())
        {
            dropped = Ops.Dropout(new Tensor(x, shape), p, Dropout.MixSeed(ad.Seed, ad.Calls)).ToArray();
            y = l.Forward(new Tensor(x, shape)).ToArray();
        }
        Tape.Current.Reset();
        Assert.Contains(dropped, v => v == 0);
        var (v, vMag, c) = Adapted(l);
        var w = l.BaseWeight.ToArray().Select(f => (double)f).ToArray();
        var wMag = w.Select(Math.Abs).ToArray();
        var (baseX, baseXMag) = Conv(x, w, wMag);
        var (baseDropped, baseDroppedMag) = Conv(dropped, w, wMag);
        var (adapted, adaptedMag) = Conv(dropped, v, vMag);
        var bias = l.BaseBias!.ToArray();
        var expected = new double[y.Length]; var mag = new double[y.Length];
        for (int i = 0; i < y.Length; i++)
        {
            int o = i / (Oh * Ow) % Cout;
            expected[i] = baseX[i] + bias[o] + c[o] * adapted[i] - baseDropped[i];
            mag[i] = baseXMag[i] + Math.Abs(bias[o]) + Math.Abs(c[o]) * adaptedMag[i] + baseDroppedMag[i];
        }
        AssertNear(expected, mag, y, Depth, "y");
    }

    /// <summary>x and m: the norm depends on neither, so finite differences apply as they are (with dropout, the mask
    /// is held fixed by restarting the adapter's call counter).</summary>
    [Theory]
    [InlineData(0f)]
    [InlineData(0.3f)]
    public void FiniteDifferencesAgreeForInputMagnitudeAndBias(float dropout)
    {
        var l = Layer(dropout);
        if (dropout > 0) l.Train(); else l.Eval();
        var ad = l.Adapters[0];
        l.BaseBias!.Frozen = false;
        var x = new Tensor(Random(N * Cin * H * Wd, 31), new Shape(N, Cin, H, Wd), requiresGrad: true);
        var result = GradCheck.Run(() => { ad.Calls = 0; return l.Forward(x); }, [x, ad.Magnitude!, l.BaseBias!], null);
        Assert.True(result.Passed, result.ToString());
    }

    /// <summary>With the norm a constant, A and B get exactly the plain LoRA convolution's gradients for the upstream
    /// gradient scaled by c per channel (the same float products, so the same bits). A norm left in the graph, or c
    /// applied twice or not at all, breaks the equality.</summary>
    [Fact]
    public void FactorGradientsArePlainLoraGradientsOfTheRescaledUpstream()
    {
        var l = Layer();
        l.Train();
        var ad = l.Adapters[0];
        var shape = new Shape(N, Cin, H, Wd);
        var x = Random(N * Cin * H * Wd, 51);
        var g = Random(N * Cout * Oh * Ow, 52);
        Tape.Current.Reset();
        l.Forward(new Tensor(x, shape)).Backward(g);
        float[] dA = ad.A.Grad.ToArray(), dB = ad.B.Grad.ToArray();
        Tape.Current.Reset();

        float[] c;
        using (Tape.NoGrad())
            c = Ops.Mul(Ops.Reshape(ad.Magnitude!, new Shape(Cout)), Ops.InverseRowNorms(l.BaseWeight, ad.A, ad.B, ad.Scale)).ToArray();
        Tape.Current.Reset();
        var scaled = new float[g.Length];
        for (int i = 0; i < g.Length; i++) scaled[i] = g[i] * c[i / (Oh * Ow) % Cout];
        var a2 = new Parameter("a", ad.A.ToArray(), ad.A.Shape);
        var b2 = new Parameter("b", ad.B.ToArray(), ad.B.Shape);
        Ops.LoraConv2d(new Tensor(x, shape), l.BaseWeight, a2, b2, null, ad.Scale, Stride, Pad).Backward(scaled);
        Tape.Current.Reset();
        Assert.Equal(a2.Grad.ToArray(), dA);
        Assert.Equal(b2.Grad.ToArray(), dB);
        Assert.Contains(dA, v => v != 0);
    }

    [Fact]
    public void ZeroBStartsAtTheBaseOutputWithMagnitudeEqualToTheFilterNorms()
    {
        var conv = new Conv2d(Cin, Cout, Ks, new SeededRandom(5), Stride, Pad);
        var l = new LoraConv2d(conv);
        var ad = l.AddAdapter("default", R, 4, false, 0, Random(R * Fan, 11, 0.3), new float[Cout * R], useDora: true);
        var w = conv.Weight.ToArray();
        for (int o = 0; o < Cout; o++)
        {
            double n = Math.Sqrt(Enumerable.Range(0, Fan).Sum(q => (double)w[o * Fan + q] * w[o * Fan + q]));
            Assert.True(Math.Abs(ad.Magnitude!.Data[o] - n) <= (Fan / 2.0 + 2) * Eps * n, $"m[{o}] = {ad.Magnitude.Data[o]} vs {n}");
        }
        var x = Random(N * Cin * H * Wd, 21);
        var shape = new Shape(N, Cin, H, Wd);
        var expected = Run(conv, x, shape);
        l.Eval();
        var y = Run(l, x, shape);
        // c = 1 up to the norm's rounding, so y differs from the base by a few ε of each output's magnitude.
        var wd = w.Select(f => (double)f).ToArray();
        var (_, mag) = Conv(x, wd, wd.Select(Math.Abs).ToArray());
        var bias = conv.Bias!.ToArray();
        for (int i = 0; i < y.Length; i++)
            Assert.True(Math.Abs(y[i] - expected[i]) <= Depth * Eps * (mag[i] + Math.Abs(bias[i / (Oh * Ow) % Cout])), $"y[{i}] {y[i]} vs {expected[i]}");
    }

    [Fact]
    public void MergedOutputMatchesAndUnmergeRestoresW()
    {
        var l = Layer();
        l.Eval();
        var x = Random(N * Cin * H * Wd, 61);
        var shape = new Shape(N, Cin, H, Wd);
        var before = l.BaseWeight.ToArray();
        var (_, vMag, c) = Adapted(l);
        var unmerged = Run(l, x, shape);
        l.Merge();
        var merged = Run(l, x, shape);
        l.Unmerge();
        var (_, mag) = Conv(x, vMag, vMag);
        var bias = l.BaseBias!.ToArray();
        for (int i = 0; i < merged.Length; i++)
        {
            int o = i / (Oh * Ow) % Cout;
            double tol = 2 * Depth * Eps * (Math.Abs(c[o]) * mag[i] + Math.Abs(bias[o]));
            Assert.True(Math.Abs(merged[i] - unmerged[i]) <= tol, $"y[{i}] merged {merged[i]} vs {unmerged[i]}");
        }
        var after = l.BaseWeight.ToArray();
        for (int i = 0; i < before.Length; i++)
        {
            double tol = 2 * (R + 6) * Eps * (vMag[i] + Math.Abs(before[i]));
            Assert.True(Math.Abs(after[i] - before[i]) <= tol, $"W[{i}] {after[i]} vs {before[i]}");
        }
    }

    /// <summary>A frozen kernel's squares are kept between steps (LoraLayer's one mechanism for every layer kind); a
    /// kernel changed by hand (then refreshed), trained while unfrozen, or merged and unmerged must give what a fresh
    /// layer on the same values gives.</summary>
    [Fact]
    public void TheKeptSquaresFollowAChangedKernel()
    {
        var l = Layer();
        l.Eval();
        var x = Random(N * Cin * H * Wd, 71);
        var shape = new Shape(N, Cin, H, Wd);
        _ = Run(l, x, shape); // keeps the squares of the first kernel
        var w = l.BaseWeight;
        w.Data[5] += 0.5f;
        l.RefreshBaseWeight();
        AssertSameAsFresh(l, x, shape);
        w.Frozen = false;
        w.Data[Fan + 2] -= 0.25f;
        w.Frozen = true;
        AssertSameAsFresh(l, x, shape);
        l.Merge();
        l.Unmerge();
        AssertSameAsFresh(l, x, shape);
    }

    static void AssertSameAsFresh(LoraConv2d l, float[] x, Shape shape)
    {
        var ad = l.Adapters[0];
        var conv = new Conv2d(Cin, Cout, Ks, Stride, Pad);
        l.BaseWeight.Data.CopyTo(conv.Weight.Data);
        l.BaseBias!.Data.CopyTo(conv.Bias!.Data);
        conv.Freeze();
        var fresh = new LoraConv2d(conv);
        var fa = fresh.AddAdapter("default", R, 4, false, 0, ad.A.ToArray(), ad.B.ToArray(), useDora: true);
        ad.Magnitude!.ToArray().CopyTo(fa.Magnitude!.Data);
        fresh.Eval();
        Assert.Equal(Run(fresh, x, shape), Run(l, x, shape));
    }
}
