using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>A DoRA adapter on an embedding table against PEFT's formula evaluated in double: with V = T + s·(B·A)ᵀ
/// (num, dim) and c = m/‖V[:, j]‖ per embedding dimension (the norm a constant in the backward),
/// y[i, :] = c ⊙ V[id_i, :].</summary>
public class DoraEmbeddingTests
{
    const int Num = 11, Dim = 7, R = 3;
    static readonly int[] Ids = [3, 0, 10, 3, 7, 5];

    static LoraEmbedding Layer()
    {
        var e = new Embedding(Num, Dim, new SeededRandom(5));
        e.Freeze();
        var l = new LoraEmbedding(e);
        var ad = l.AddAdapter("default", R, 6, false, 0, Random(R * Num, 11, 0.4), Random(Dim * R, 12, 0.4), useDora: true);
        Random(Dim, 13, 0.4).Select(v => 1 + v).ToArray().CopyTo(ad.Magnitude!.Data); // moved away from the norms
        return l;
    }

    // V, |T| + s·|B||A| (transposed), and c.
    static (double[] V, double[] VMag, double[] C) Adapted(LoraEmbedding l)
    {
        var ad = l.Adapters[0];
        float[] t = l.BaseWeight.ToArray(), a = ad.A.ToArray(), b = ad.B.ToArray(), m = ad.Magnitude!.ToArray();
        var v = new double[Num * Dim]; var vMag = new double[v.Length]; var norm = new double[Dim];
        for (int id = 0; id < Num; id++)
            for (int j = 0; j < Dim; j++)
            {
                double acc = t[id * Dim + j], mag = Math.Abs(t[id * Dim + j]);
                for (int u = 0; u < R; u++) { acc += ad.Scale * (double)b[j * R + u] * a[u * Num + id]; mag += ad.Scale * Math.Abs((double)b[j * R + u] * a[u * Num + id]); }
                v[id * Dim + j] = acc; vMag[id * Dim + j] = mag; norm[j] += acc * acc;
            }
        return (v, vMag, Enumerable.Range(0, Dim).Select(j => m[j] / Math.Sqrt(norm[j])).ToArray());
    }

    static float[] Forward(LoraEmbedding l)
    {
        Tape.Current.Reset();
        float[] y;
        using (Tape.NoGrad()) y = l.Forward(Ids.AsMemory()).ToArray();
        Tape.Current.Reset();
        return y;
    }

    // Each output is c (norm over Num terms: relative (Num/2 + 4)·ε) times a depth-(R + 1) sum: Num + R + 16 covers both.
    const int Depth = Num + R + 16;

    [Fact]
    public void ForwardMatchesPeftFormulaForIdsAndForFloatIds()
    {
        var l = Layer();
        l.Eval();
        var (v, vMag, c) = Adapted(l);
        var y = Forward(l);
        for (int i = 0; i < Ids.Length; i++)
            for (int j = 0; j < Dim; j++)
            {
                double expected = c[j] * v[Ids[i] * Dim + j], tol = Depth * Eps * Math.Abs(c[j]) * vMag[Ids[i] * Dim + j];
                Assert.True(Math.Abs(y[i * Dim + j] - expected) <= tol, $"y[{i}, {j}] {y[i * Dim + j]} vs {expected}");
            }
        var asFloats = Run(l, Ids.Select(i => (float)i).ToArray(), new Shape(Ids.Length));
        Assert.Equal(y, asFloats);
    }

    [Fact]
    public void FiniteDifferencesAgreeForTheMagnitude()
    {
        var l = Layer();
        l.Train();
        var m = l.Adapters[0].Magnitude!;
        var result = GradCheck.Run(() => l.Forward(Ids.AsMemory()), [m], null);
        Assert.True(result.Passed, result.ToString());
    }

    /// <summary>With the norm a constant, A and B get exactly the plain LoRA lookup's gradients for the upstream
    /// gradient scaled by c per dimension (the same float products, so the same bits).</summary>
    [Fact]
    public void FactorGradientsArePlainLoraGradientsOfTheRescaledUpstream()
    {
        var l = Layer();
        l.Train();
        var ad = l.Adapters[0];
        var g = Random(Ids.Length * Dim, 52);
        Tape.Current.Reset();
        l.Forward(Ids.AsMemory()).Backward(g);
        float[] dA = ad.A.Grad.ToArray(), dB = ad.B.Grad.ToArray();
        Tape.Current.Reset();
        float[] c;
        using (Tape.NoGrad()) c = Ops.Mul(ad.Magnitude!, Ops.InverseColumnNorms(l.BaseWeight, ad.A, ad.B, ad.Scale)).ToArray();
        Tape.Current.Reset();
        var scaled = g.Select((v, i) => v * c[i % Dim]).ToArray();
        var a2 = new Parameter("a", ad.A.ToArray(), ad.A.Shape);
        var b2 = new Parameter("b", ad.B.ToArray(), ad.B.Shape);
        Ops.LoraEmbedding(Ids.AsMemory(), l.BaseWeight, a2, b2, ad.Scale).Backward(scaled);
        Tape.Current.Reset();
        Assert.Equal(a2.Grad.ToArray(), dA);
        Assert.Equal(b2.Grad.ToArray(), dB);
        Assert.Contains(dA, v => v != 0);
    }

    /// <summary>PEFT's embedding init (A = 0, B random) leaves the output unchanged: m = the table's column norms.</summary>
    [Fact]
    public void ADefaultInitStartsAtTheBaseOutputWithMagnitudeEqualToTheColumnNorms()
    {
        var e = new Embedding(Num, Dim, new SeededRandom(5));
        var model = new Sequential(e);
        model.ApplyLora(new LoraConfig { R = R, UseDora = true, TargetModules = ["0"] }, seed: 4);
        var l = (LoraEmbedding)model.GetSubmodule("0");
        var ad = l.Adapters[0];
        Assert.All(ad.A.ToArray(), v => Assert.Equal(0f, v));
        var t = e.Weight.ToArray();
        for (int j = 0; j < Dim; j++)
        {
            double n = Math.Sqrt(Enumerable.Range(0, Num).Sum(id => (double)t[id * Dim + j] * t[id * Dim + j]));
            Assert.True(Math.Abs(ad.Magnitude!.Data[j] - n) <= (Num / 2.0 + 2) * Eps * n, $"m[{j}] = {ad.Magnitude.Data[j]} vs {n}");
        }
        l.Eval();
        var y = Forward(l);
        for (int i = 0; i < Ids.Length; i++)
            for (int j = 0; j < Dim; j++)
            {
                float expected = t[Ids[i] * Dim + j];
                Assert.True(Math.Abs(y[i * Dim + j] - expected) <= Depth * Eps * Math.Abs(expected), $"y[{i}, {j}] {y[i * Dim + j]} vs {expected}");
            }
    }

    [Fact]
    public void MergedOutputMatchesAndUnmergeRestoresTheTable()
    {
        var l = Layer();
        l.Eval();
        var before = l.BaseWeight.ToArray();
        var (_, vMag, c) = Adapted(l);
        var unmerged = Forward(l);
        l.Merge();
        var merged = Forward(l);
        for (int i = 0; i < merged.Length; i++)
        {
            int j = i % Dim, id = Ids[i / Dim];
            double tol = 2 * Depth * Eps * Math.Abs(c[j]) * vMag[id * Dim + j];
            Assert.True(Math.Abs(merged[i] - unmerged[i]) <= tol, $"y[{i}] merged {merged[i]} vs {unmerged[i]}");
        }
        l.Unmerge();
        var after = l.BaseWeight.ToArray();
        for (int i = 0; i < before.Length; i++)
        {
            double tol = 2 * (R + 6) * Eps * (vMag[i] + Math.Abs(before[i]));
            Assert.True(Math.Abs(after[i] - before[i]) <= tol, $"T[{i}] {after[i]} vs {before[i]}");
        }
    }

    /// <summary>The frozen table's column squares are kept between steps; a table changed by hand (then refreshed),
    /// trained while unfrozen, or merged and unmerged must give what a fresh layer on the same values gives.</summary>
    [Fact]
    public void TheKeptColumnSquaresFollowAChangedTable()
    {
        var l = Layer();
        l.Eval();
        _ = Forward(l); // keeps the squares of the first table
        var t = l.BaseWeight;
        t.Data[3 * Dim + 2] += 0.5f;       // by hand, then refreshed
        l.RefreshBaseWeight();
        AssertSameAsFresh(l);
        t.Frozen = false;                  // "trained" while unfrozen, frozen again: no refresh needed
        t.Data[5 * Dim + 1] -= 0.25f;
        t.Frozen = true;
        AssertSameAsFresh(l);
        l.Merge();
        l.Unmerge();                       // T restored up to rounding: the squares follow its new bits
        AssertSameAsFresh(l);
    }

    static void AssertSameAsFresh(LoraEmbedding l)
    {
        var ad = l.Adapters[0];
        var e = new Embedding(Num, Dim);
        l.BaseWeight.Data.CopyTo(e.Weight.Data);
        e.Freeze();
        var fresh = new LoraEmbedding(e);
        var fa = fresh.AddAdapter("default", R, 6, false, 0, ad.A.ToArray(), ad.B.ToArray(), useDora: true);
        ad.Magnitude!.ToArray().CopyTo(fa.Magnitude!.Data);
        fresh.Eval();
        Assert.Equal(Forward(fresh), Forward(l));
    }
}
