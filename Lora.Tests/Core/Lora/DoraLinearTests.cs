using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>A DoRA adapter on one Linear layer: forward, gradients, merge and unmerge against PEFT's formulas
/// evaluated independently in double precision.</summary>
/// <remarks>PEFT: y = x·Wᵀ + b + (c − 1)⊙x·Wᵀ + c⊙s·(x·Aᵀ)·Bᵀ with c = m/‖W + s·B·A‖ (row norms, a constant in the
/// backward), i.e. y = c⊙(x·Wᵀ + s·(x·Aᵀ)·Bᵀ) + b.</remarks>
public class DoraLinearTests
{
    const int N = 4, K = 9, D = 6, R = 3;
    const float Alpha = 6;

    static LoraLinear Layer(bool frozenW = true, float dropout = 0)
    {
        var lin = new Linear(K, D, new SeededRandom(5));
        lin.Freeze();
        var l = new LoraLinear(lin);
        var ad = l.AddAdapter("default", R, Alpha, false, dropout, Random(R * K, 11, 0.4), Random(D * R, 12, 0.4), seed: 3, useDora: true);
        Random(D, 13, 0.5).Select(v => 1 + v).ToArray().CopyTo(ad.Magnitude!.Data); // a magnitude moved away from ‖W + s·B·A‖
        lin.Weight.Frozen = frozenW;
        return l;
    }

    sealed record Ref(double[] Y, double[] YMag, double[] C, double[] Norm, double[] Fused, double[] V, double[] VMag);

    static Ref Reference(LoraLinear l, float[] x)
    {
        var ad = l.Adapters[0];
        float[] w = l.BaseLayer.Weight.ToArray(), b = l.BaseLayer.Bias!.ToArray(), a = ad.A.ToArray(), bb = ad.B.ToArray(), m = ad.Magnitude!.ToArray();
        double s = ad.Scale;
        var v = new double[D * K]; var vMag = new double[D * K];
        var norm = new double[D]; var c = new double[D];
        for (int j = 0; j < D; j++)
        {
            for (int q = 0; q < K; q++)
            {
                double acc = w[j * K + q], mag = Math.Abs(w[j * K + q]);
                for (int t = 0; t < R; t++) { acc += s * bb[j * R + t] * a[t * K + q]; mag += s * Math.Abs(bb[j * R + t] * a[t * K + q]); }
                v[j * K + q] = acc; vMag[j * K + q] = mag; norm[j] += acc * acc;
            }
            norm[j] = Math.Sqrt(norm[j]);
            c[j] = m[j] / norm[j];
        }
        var y = new double[N * D]; var yMag = new double[N * D]; var fused = new double[N * D];
        for (int i = 0; i < N; i++)
            for (int j = 0; j < D; j++)
            {
                double f = 0, mag = 0;
                for (int q = 0; q < K; q++) { f += (double)x[i * K + q] * v[j * K + q]; mag += Math.Abs((double)x[i * K + q]) * vMag[j * K + q]; }
                fused[i * D + j] = f;
                y[i * D + j] = c[j] * f + b[j];
                yMag[i * D + j] = Math.Abs(c[j]) * mag + Math.Abs(b[j]);
            }
        return new Ref(y, yMag, c, norm, fused, v, vMag);
    }

    // Each output is a product-sum of depth K + R (the fused path) times c, whose norm carries a relative
    // (K/2 + 4)·ε; (2K + R + 16)·ε·Σ|terms| covers both with room for the scale and the bias add.
    static void AssertNear(double[] expected, double[] mag, ReadOnlySpan<float> actual, int depth, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double tol = depth * Eps * mag[i] + 1e-30;
            Assert.True(Math.Abs(actual[i] - expected[i]) <= tol, $"{what}[{i}]: {actual[i]} vs {expected[i]} (tol {tol:E2})");
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ForwardMatchesPeftFormula(bool frozenW)
    {
        var l = Layer(frozenW);
        var x = Random(N * K, 21);
        var r = Reference(l, x);
        AssertNear(r.Y, r.YMag, Run(l.Eval(), x, N), 2 * K + R + 16, "y");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GradientsMatchPeftFormulaWithTheNormDetached(bool frozenW)
    {
        var l = Layer(frozenW);
        l.Train();
        l.BaseLayer.Bias!.Frozen = false; // bias = "all": its gradient is checked too
        var ad = l.Adapters[0];
        var x = Random(N * K, 21);
        var g = Random(N * D, 22);
        var r = Reference(l, x);
        Tape.Current.Reset();
        var xt = new Tensor((float[])x.Clone(), new Shape(N, K), requiresGrad: true);
        l.Forward(xt).Backward(g);

        float[] a = ad.A.ToArray(), bb = ad.B.ToArray();
        double s = ad.Scale;
        var gf = new double[N * D];
        for (int i = 0; i < N * D; i++) gf[i] = g[i] * r.C[i % D];
        var (dm, dmMag) = (new double[D], new double[D]);
        var (db, dbMag) = (new double[D], new double[D]);
        var (dB, dBMag) = (new double[D * R], new double[D * R]);
        var (dA, dAMag) = (new double[R * K], new double[R * K]);
        var (dx, dxMag) = (new double[N * K], new double[N * K]);
        var (dW, dWMag) = (new double[D * K], new double[D * K]);
        for (int i = 0; i < N; i++)
        {
            var h = new double[R]; var hMag = new double[R];
            for (int t = 0; t < R; t++)
                for (int q = 0; q < K; q++) { h[t] += (double)x[i * K + q] * a[t * K + q]; hMag[t] += Math.Abs((double)x[i * K + q] * a[t * K + q]); }
            for (int j = 0; j < D; j++)
            {
                double gij = g[i * D + j], f = gf[i * D + j];
                dm[j] += gij * r.Fused[i * D + j] / r.Norm[j];
                dmMag[j] += Math.Abs(gij) * r.YMag[i * D + j] / Math.Abs(r.C[j]) / r.Norm[j];
                db[j] += gij; dbMag[j] += Math.Abs(gij);
                for (int t = 0; t < R; t++) { dB[j * R + t] += s * f * h[t]; dBMag[j * R + t] += s * Math.Abs(f) * hMag[t]; }
                for (int q = 0; q < K; q++)
                {
                    dx[i * K + q] += f * r.V[j * K + q]; dxMag[i * K + q] += Math.Abs(f) * r.VMag[j * K + q];
                    dW[j * K + q] += f * x[i * K + q]; dWMag[j * K + q] += Math.Abs(f * x[i * K + q]);
                }
            }
            for (int t = 0; t < R; t++)
            {
                double gb = 0, gbMag = 0;
                for (int j = 0; j < D; j++) { gb += gf[i * D + j] * bb[j * R + t]; gbMag += Math.Abs(gf[i * D + j] * bb[j * R + t]); }
                for (int q = 0; q < K; q++) { dA[t * K + q] += s * gb * x[i * K + q]; dAMag[t * K + q] += s * gbMag * Math.Abs(x[i * K + q]); }
            }
        }
        int depth = 2 * (K + D + N + R) + 24;
        AssertNear(dm, dmMag, ad.Magnitude!.Grad, depth, "dm");
        AssertNear(dB, dBMag, ad.B.Grad, depth, "dB");
        AssertNear(dA, dAMag, ad.A.Grad, depth, "dA");
        AssertNear(dx, dxMag, xt.Grad, depth, "dx");
        AssertNear(db, dbMag, l.BaseLayer.Bias!.Grad, depth, "db");
        if (frozenW) Assert.False(l.BaseLayer.Weight.HasGrad && l.BaseLayer.Weight.Grad.ToArray().Any(v => v != 0));
        else AssertNear(dW, dWMag, l.BaseLayer.Weight.Grad, depth, "dW");
        Tape.Current.Reset();
    }

    /// <summary>The norm depends on neither x nor m, so finite differences apply to them as they are, in eval and
    /// in training with dropout (the mask is held fixed by restarting the adapter's call counter).</summary>
    [Theory]
    [InlineData(0f)]
    [InlineData(0.3f)]
    public void FiniteDifferencesAgreeForInputAndMagnitude(float dropout)
    {
        var l = Layer(dropout: dropout);
        if (dropout > 0) l.Train(); else l.Eval();
        var ad = l.Adapters[0];
        var x = new Tensor(Random(N * K, 31), new Shape(N, K), requiresGrad: true);
        var result = GradCheck.Run(() => { ad.Calls = 0; return l.Forward(x); }, [x, ad.Magnitude!], null);
        Assert.True(result.Passed, result.ToString());
    }

    [Fact]
    public void ADroppedInputFeedsTheRescaledBaseAndTheLoraTermAsInPeft()
    {
        const float p = 0.4f;
        var l = Layer(dropout: p);
        l.Train();
        var ad = l.Adapters[0];
        var x = Random(N * K, 41);
        ulong seed = Dropout.MixSeed(ad.Seed, ad.Calls);
        float[] y;
        Tape.Current.Reset();
        using (Tape.NoGrad()) y = l.Forward(new Tensor(x, new Shape(N, K))).ToArray();
        float[] dropped;
        using (Tape.NoGrad()) dropped = Ops.Dropout(new Tensor(x, new Shape(N, K)), p, seed).ToArray();
        Tape.Current.Reset();
        Assert.Contains(dropped, v => v == 0);
        // y = x·Wᵀ + b + (c − 1)⊙x̃·Wᵀ + c⊙s·(x̃·Aᵀ)·Bᵀ = [x·Wᵀ + b] + [c⊙(x̃·(W + sBA)ᵀ)] − x̃·Wᵀ
        var withDropped = Reference(l, dropped);
        var w = l.BaseLayer.Weight.ToArray(); var b = l.BaseLayer.Bias!.ToArray();
        var expected = new double[N * D]; var mag = new double[N * D];
        for (int i = 0; i < N; i++)
            for (int j = 0; j < D; j++)
            {
                double baseX = b[j], baseDropped = 0, m = Math.Abs(b[j]);
                for (int q = 0; q < K; q++)
                {
                    baseX += (double)x[i * K + q] * w[j * K + q];
                    baseDropped += (double)dropped[i * K + q] * w[j * K + q];
                    m += Math.Abs((double)x[i * K + q] * w[j * K + q]) + Math.Abs((double)dropped[i * K + q] * w[j * K + q]);
                }
                expected[i * D + j] = baseX + (withDropped.Y[i * D + j] - b[j]) - baseDropped;
                mag[i * D + j] = m + withDropped.YMag[i * D + j];
            }
        AssertNear(expected, mag, y, 2 * K + R + 16, "y");
    }

    [Fact]
    public void ZeroBStartsAtTheBaseOutputWithMagnitudeEqualToTheRowNorms()
    {
        var lin = new Linear(K, D, new SeededRandom(5));
        var l = new LoraLinear(lin);
        var ad = l.AddAdapter("default", R, Alpha, false, 0, Random(R * K, 11, 0.4), new float[D * R], useDora: true);
        var w = lin.Weight.ToArray();
        for (int j = 0; j < D; j++)
        {
            double n = Math.Sqrt(Enumerable.Range(0, K).Sum(q => (double)w[j * K + q] * w[j * K + q]));
            Assert.True(Math.Abs(ad.Magnitude!.Data[j] - n) <= (K / 2.0 + 2) * Eps * n, $"m[{j}] = {ad.Magnitude.Data[j]} vs ‖W_j‖ = {n}");
        }
        var x = Random(N * K, 21);
        var expected = Reference(l, x);
        AssertNear(expected.Y, expected.YMag, Run(lin, x, N), 2 * K + 8, "base");
        AssertNear(expected.Y, expected.YMag, Run(l.Eval(), x, N), 2 * K + R + 16, "DoRA at init");
    }

    /// <summary>The layer keeps ‖W_i‖² while W is frozen; a W changed by hand (then refreshed) or trained while
    /// unfrozen must give the output of a layer built fresh on the new W, bit for bit.</summary>
    [Fact]
    public void TheKeptRowSquaresFollowAChangedW()
    {
        var x = Random(N * K, 21);
        var l = Layer();
        l.Eval();
        _ = Run(l, x, N); // keeps the squares of the first W
        var w = l.BaseLayer.Weight;
        w.Data[3] += 0.5f;                 // by hand, then refreshed
        l.RefreshBaseWeight();
        AssertSameAsFresh(l, x);
        w.Frozen = false;                  // "trained" while unfrozen, frozen again: no refresh needed
        w.Data[K + 1] -= 0.25f;
        w.Frozen = true;
        AssertSameAsFresh(l, x);
    }

    static void AssertSameAsFresh(LoraLinear l, float[] x)
    {
        var ad = l.Adapters[0];
        var lin = new Linear(K, D, l.BaseLayer.Weight.ToArray(), l.BaseLayer.Bias!.ToArray(), hasBias: true);
        lin.Freeze();
        var fresh = new LoraLinear(lin);
        var fa = fresh.AddAdapter("default", R, Alpha, false, 0, ad.A.ToArray(), ad.B.ToArray(), useDora: true);
        ad.Magnitude!.ToArray().CopyTo(fa.Magnitude!.Data);
        fresh.Eval();
        Assert.Equal(Run(fresh, x, N), Run(l, x, N));
    }

    [Fact]
    public void MergedOutputMatchesAndUnmergeRestoresW()
    {
        var l = Layer();
        l.Eval();
        var ad = l.Adapters[0];
        var w0 = l.BaseLayer.Weight.ToArray();
        var x = Random(N * K, 21);
        var r = Reference(l, x);
        l.Merge();
        AssertNear(r.Y, r.YMag, Run(l, x, N), 2 * K + R + 16, "merged y");
        l.Unmerge();
        // Merge: W + s·B·A with (R + 1)·ε·M per element (M = |W| + s·Σ|B||A|), times m/n; unmerge: times n/m, minus
        // s·B·A, another (R + 1)·ε·M; the two scalings are not exact inverses: a few ε of |W + s·B·A| ≤ M.
        for (int i = 0; i < w0.Length; i++)
        {
            double tol = (2 * R + 12) * Eps * r.VMag[i];
            Assert.True(Math.Abs(l.BaseWeight.Data[i] - w0[i]) <= tol, $"W[{i}]: {l.BaseWeight.Data[i]} vs {w0[i]} (tol {tol:E2})");
        }
        Assert.Null(ad.MergedNorms);
        var unloaded = l.MergeAndUnload();
        AssertNear(r.Y, r.YMag, Run(unloaded, x, N), 2 * K + 3 * R + 28, "merged and unloaded y");
    }

    [Fact]
    public void AZeroNormRowGivesAZeroOutputNotNaNAndSurvivesMergeAndUnmerge()
    {
        var lin = new Linear(K, D, new SeededRandom(5));
        lin.Weight.Data.Slice(2 * K, K).Clear(); // a pruned output row
        var l = new LoraLinear(lin);
        l.AddAdapter("default", R, Alpha, false, 0, Random(R * K, 11, 0.4), new float[D * R], useDora: true);
        Assert.Equal(0f, l.Adapters[0].Magnitude!.Data[2]);
        var x = Random(N * K, 21);
        var y = Run(l.Eval(), x, N);
        for (int i = 0; i < N; i++) Assert.Equal(lin.Bias!.Data[2], y[i * D + 2]);
        Assert.DoesNotContain(y, float.IsNaN);
        var w0 = lin.Weight.ToArray();
        l.Merge();
        l.Unmerge();
        Assert.Equal(new float[K], lin.Weight.Data.Slice(2 * K, K).ToArray());
        Assert.DoesNotContain(lin.Weight.ToArray(), float.IsNaN);
        Assert.Equal(w0.Length, lin.Weight.Length);
    }

    [Fact]
    public void MergingAZeroMagnitudeOnALiveRowIsRefusedAndChangesNothing()
    {
        var l = Layer();
        l.Adapters[0].Magnitude!.Data[1] = 0;
        var w0 = l.BaseWeight.ToArray();
        var e = Assert.Throws<InvalidOperationException>(() => l.Merge());
        Assert.Contains("output 1", e.Message);
        Assert.Equal(w0, l.BaseWeight.ToArray());
        Assert.False(l.IsMerged);
    }
}
