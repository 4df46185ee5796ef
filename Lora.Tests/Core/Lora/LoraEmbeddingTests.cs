using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Tests.Core.IO;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>LoraEmbedding: PEFT's init, layout and keys; merge/unmerge; sparse, table-preserving training steps.</summary>
public class LoraEmbeddingTests
{
    const int Num = 40, Dim = 12, R = 4;
    static readonly float[] Ids = [3, 17, 3, 0, 39, 17, 5];   // repeats; most rows unused

    /// <summary>Sequential(Embedding(num, dim), Linear(dim, 3)) with LoRA on the embedding ("0").</summary>
    static Sequential Model(ulong seed, LoraConfig? config = null, bool randomA = true)
    {
        var rng = new SeededRandom(seed);
        var m = new Sequential(new Embedding(Num, Dim, rng), new Linear(Dim, 3, rng));
        m.ApplyLora(config ?? new LoraConfig { R = R, Alpha = 6, TargetModules = ["0"] }, seed: seed + 1);
        // A starts at 0 (PEFT); give it values so the adapter does something.
        if (randomA) Random(R * Num, seed + 2).CopyTo(Layer(m).GetAdapter("default").A.Data);
        return m;
    }

    static LoraEmbedding Layer(Sequential m) => Assert.IsType<LoraEmbedding>(m[0]);

    static float[] Embed(Module layer, float[] ids)
    {
        Tape.Current.Reset();
        using (Tape.NoGrad())
        {
            var y = layer.Forward(new Tensor(ids, new Shape(ids.Length))).ToArray();
            Tape.Current.Reset();
            return y;
        }
    }

    [Fact]
    public void PeftInitZeroAAndStandardNormalBLeaveTheOutputUnchanged()
    {
        var rng = new SeededRandom(1);
        var e = new Embedding(200, 64, rng);
        var before = Embed(e, Ids);
        var m = new Sequential(e);
        m.ApplyLora(new LoraConfig { R = 8, TargetModules = ["0"] }, seed: 2);
        var lora = Assert.IsType<LoraEmbedding>(m[0]);
        var ad = lora.GetAdapter("default");
        Assert.Equal(new Shape(8, 200), ad.A.Shape);
        Assert.Equal(new Shape(64, 8), ad.B.Shape);
        Assert.Equal(["0.lora_embedding_A.default", "0.lora_embedding_B.default", "0.base_layer.weight"], m.NamedParameters().Select(p => p.Name));
        Assert.All(ad.A.ToArray(), v => Assert.Equal(0f, v));
        // B ~ N(0, 1): mean within 5 standard errors (1/√n), variance within 5 standard errors (√(2/n)).
        var b = ad.B.ToArray();
        double mean = b.Average(v => (double)v), var = b.Average(v => (double)v * v) - mean * mean;
        Assert.InRange(mean, -5 / Math.Sqrt(b.Length), 5 / Math.Sqrt(b.Length));
        Assert.InRange(var, 1 - 5 * Math.Sqrt(2.0 / b.Length), 1 + 5 * Math.Sqrt(2.0 / b.Length));
        // T[id] + s·0·Bᵀ adds exact zeros: bit for bit the base output.
        Assert.Equal(before, Embed(lora, Ids));
        Assert.True(lora.BaseWeight.Frozen);
        Assert.False(ad.A.Frozen);
    }

    [Fact]
    public void MergedEqualsUnmergedWithinTheRoundingBoundAndUnmergeRestoresTheTable()
    {
        var m = Model(3);
        var lora = Layer(m);
        var ad = lora.GetAdapter("default");
        float s = ad.Scale;
        var t0 = lora.BaseWeight.ToArray();
        float[] a = ad.A.ToArray(), b = ad.B.ToArray();
        // mag[row, c] = s·Σ_j |A[j, row]|·|B[c, j]|: the size of the terms in one element of ΔW = s·(B·A)ᵀ.
        var mag = new double[Num * Dim];
        for (int row = 0; row < Num; row++)
            for (int c = 0; c < Dim; c++)
                for (int j = 0; j < R; j++) mag[row * Dim + c] += s * Math.Abs((double)a[j * Num + row] * b[c * R + j]);
        var unmerged = Embed(lora, Ids);
        lora.Merge();
        Assert.NotEqual(t0, lora.BaseWeight.ToArray());
        var merged = Embed(lora, Ids);
        // Each path rounds an r-term product-sum, the scale and one add: (r + 2)·U·(|T| + mag) each.
        for (int i = 0; i < Ids.Length; i++)
            for (int c = 0; c < Dim; c++)
            {
                int k = (int)Ids[i] * Dim + c;
                double tol = 2 * (R + 2) * Eps * (Math.Abs(t0[k]) + mag[k]);
                Assert.True(Math.Abs(merged[i * Dim + c] - unmerged[i * Dim + c]) <= tol, $"y[{i}, {c}]: merged {merged[i * Dim + c]} vs {unmerged[i * Dim + c]}, bound {tol:E2}");
            }
        lora.Unmerge();
        var t2 = lora.BaseWeight.ToArray();
        for (int k = 0; k < t0.Length; k++)
        {
            double tol = 2 * (R + 2) * Eps * (Math.Abs(t0[k]) + 2 * mag[k]);
            Assert.True(Math.Abs(t2[k] - t0[k]) <= tol, $"T[{k}] after unmerge {t2[k]} vs {t0[k]}, bound {tol:E2}");
        }
        // MergeAndUnload hands back the Embedding, now holding ΔW.
        var plain = Model(3);
        var reference = Embed(plain[0], Ids);
        var unloaded = plain.MergeAndUnload();
        Assert.IsType<Embedding>(unloaded[0]);
        var y = Embed(unloaded[0], Ids);
        for (int i = 0; i < y.Length; i++)
        {
            int k = (int)Ids[i / Dim] * Dim + i % Dim;
            Assert.True(Math.Abs(y[i] - reference[i]) <= 2 * (R + 2) * Eps * (Math.Abs(t0[k]) + mag[k]));
        }
    }

    [Fact]
    public void ForwardMatchesADoubleReferenceWithTwoActiveAdaptersAndIntIds()
    {
        var m = Model(5);
        var lora = Layer(m);
        var second = lora.AddAdapter("second", 2, 3.0, false, 0, Random(2 * Num, 6), Random(Dim * 2, 7));
        lora.SetActiveAdapters("default", "second");
        var y = Embed(lora, Ids);
        var t = lora.BaseWeight.ToArray();
        for (int i = 0; i < Ids.Length; i++)
            for (int c = 0; c < Dim; c++)
            {
                int id = (int)Ids[i];
                double e = t[id * Dim + c], mag = Math.Abs(t[id * Dim + c]);
                foreach (var ad in lora.ActiveAdapters)
                    for (int j = 0; j < ad.Rank; j++)
                    {
                        double term = ad.Scale * (double)ad.A.Data[j * Num + id] * ad.B.Data[c * ad.Rank + j];
                        e += term; mag += Math.Abs(term);
                    }
                // Two r-term sums, their scales, and two adds: within (R + 2 + 2 + 2)·U·Σ|terms|.
                Assert.True(Math.Abs(y[i * Dim + c] - e) <= (R + 6) * Eps * mag, $"y[{i}, {c}] = {y[i * Dim + c]}, expected {e}");
            }
        Tape.Current.Reset();
        var yi = lora.Forward(Ids.Select(v => (int)v).ToArray()).ToArray();
        Assert.Equal(y, yi);
        Tape.Current.Reset();
        Assert.Equal(2, second.Rank);
    }

    [Fact]
    public void ALoraStepLeavesTheTableBitwiseUnchangedAndOnlyUsedColumnsOfAMove()
    {
        var m = Model(7);
        var lora = Layer(m);
        var ad = lora.GetAdapter("default");
        var t0 = lora.BaseWeight.ToArray();
        var a0 = ad.A.ToArray();
        var opt = TrainableSlots.Sgd(m, LearningRateSchedule.Constant(0.1));
        Tape.Current.Reset();
        var loss = Ops.Mean(Ops.Mul(m.Forward(new Tensor(Ids, new Shape(Ids.Length))), m.Forward(new Tensor(Ids, new Shape(Ids.Length)))));
        loss.Backward();
        Assert.False(lora.BaseWeight.HasGrad); // the frozen table costs no gradient at all
        var used = Ids.Select(v => (int)v).ToHashSet();
        for (int j = 0; j < R; j++)
            for (int row = 0; row < Num; row++)
                if (used.Contains(row)) Assert.NotEqual(0f, ad.A.Grad[j * Num + row]);
                else Assert.Equal(0f, ad.A.Grad[j * Num + row]);
        opt.Step();
        Tape.Current.Reset();
        Assert.Equal(t0, lora.BaseWeight.ToArray());
        for (int j = 0; j < R; j++)
            for (int row = 0; row < Num; row++)
                if (!used.Contains(row)) Assert.Equal(a0[j * Num + row], ad.A.Data[j * Num + row]);
        Assert.NotEqual(a0, ad.A.ToArray());
    }

    [Fact]
    public void ConfigDropoutIsKeptButNotAppliedAsInPeft()
    {
        var m = Model(9, new LoraConfig { R = R, Alpha = 6, Dropout = 0.5, TargetModules = ["0"] });
        var lora = Layer(m);
        Assert.Equal(0.5f, lora.GetAdapter("default").Dropout);
        m.Train();
        Tape.Current.Reset();
        var train = lora.Forward(new Tensor(Ids, new Shape(Ids.Length))).ToArray(); // gradients on, training mode
        m.Eval();
        Assert.Equal(train, Embed(lora, Ids));
        Tape.Current.Reset();
    }

    [Fact]
    public void SaveThenLoadIsBitwiseWithPeftKeysAndShapes()
    {
        using var dir = new TempDir();
        var m = Model(11);
        LoraAdapterFiles.Save(m, dir.File("adapter"));
        var st = SafeTensors.Read(Path.Combine(dir.File("adapter"), "adapter_model.safetensors"));
        Assert.True(st.TryGet("base_model.model.0.lora_embedding_A", out var ta));
        Assert.True(st.TryGet("base_model.model.0.lora_embedding_B", out var tb));
        Assert.Equal([R, Num], ta.Shape);
        Assert.Equal([Dim, R], tb.Shape);
        var rng = new SeededRandom(11); // the same base, not yet adapted
        var fresh = new Sequential(new Embedding(Num, Dim, rng), new Linear(Dim, 3, rng));
        LoraAdapterFiles.Load(fresh, dir.File("adapter"), trainable: true);
        var l0 = Layer(m).GetAdapter("default");
        var l1 = Layer(fresh).GetAdapter("default");
        Assert.Equal(l0.A.ToArray(), l1.A.ToArray());
        Assert.Equal(l0.B.ToArray(), l1.B.ToArray());
        Assert.Equal(l0.Scale, l1.Scale);
        Assert.Equal(Run(m, Ids, Ids.Length), Run(fresh, Ids, Ids.Length));
        Assert.False(l1.A.Frozen);
        Assert.True(Layer(fresh).BaseWeight.Frozen);
    }

    [Fact]
    public void PissaIsPeftsLinearPissaOnTheTransposedTableAndKeepsTheOutput()
    {
        // A Linear whose W (dim, num) is Tᵀ: its PiSSA factors are the embedding's, and its residual is T's transposed.
        var cfg = new LoraConfig { R = R, Alpha = 6, Init = LoraInit.Pissa, TargetModules = ["0"] };
        var rng = new SeededRandom(13);
        var e = new Embedding(Num, Dim, rng);
        var t0 = e.Weight.ToArray();
        var before = Embed(e, Ids);
        var tt = new float[Dim * Num];
        for (int i = 0; i < Num; i++) for (int c = 0; c < Dim; c++) tt[c * Num + i] = t0[i * Dim + c];
        var em = new Sequential(e);
        em.ApplyLora(cfg, seed: 14);
        var lm = new Sequential(new Linear(Num, Dim, tt, default, hasBias: false));
        lm.ApplyLora(cfg, seed: 14);
        var le = Assert.IsType<LoraEmbedding>(em[0]);
        var ll = Assert.IsType<LoraLinear>(lm[0]);
        Assert.Equal(ll.GetAdapter("default").A.ToArray(), le.GetAdapter("default").A.ToArray());
        Assert.Equal(ll.GetAdapter("default").B.ToArray(), le.GetAdapter("default").B.ToArray());
        var t1 = le.BaseWeight.ToArray();
        var w1 = ll.BaseWeight.ToArray();
        for (int i = 0; i < Num; i++) for (int c = 0; c < Dim; c++) Assert.Equal(w1[c * Num + i], t1[i * Dim + c]);
        Assert.NotEqual(t0, t1);
        // The output is unchanged up to rounding: T − ΔW (one rounded product-sum) + ΔW (another).
        var after = Embed(le, Ids);
        var ad = le.GetAdapter("default");
        for (int i = 0; i < Ids.Length; i++)
            for (int c = 0; c < Dim; c++)
            {
                int id = (int)Ids[i];
                double mag = 0;
                for (int j = 0; j < R; j++) mag += ad.Scale * Math.Abs((double)ad.A.Data[j * Num + id] * ad.B.Data[c * R + j]);
                double tol = 2 * (R + 2) * Eps * (Math.Abs(t0[id * Dim + c]) + 2 * mag);
                Assert.True(Math.Abs(after[i * Dim + c] - before[i * Dim + c]) <= tol, $"y[{i}, {c}] {after[i * Dim + c]} vs {before[i * Dim + c]}, bound {tol:E2}");
            }
    }

    [Fact]
    public void TrainingWhileMergedIsRefusedForFloatAndIntIds()
    {
        var m = Model(15);
        var lora = Layer(m);
        lora.Merge();
        Tape.Current.Reset();
        Assert.Throws<InvalidOperationException>(() => lora.Forward(new Tensor(Ids, new Shape(Ids.Length))));
        Assert.Throws<InvalidOperationException>(() => lora.Forward(new[] { 1, 2 }));
        lora.DisableAdapters(); // unmerges, as PEFT does
        Assert.False(lora.IsMerged);
        Assert.Equal(Embed(lora.BaseLayer, Ids), Embed(lora, Ids));
        Tape.Current.Reset();
    }
}
