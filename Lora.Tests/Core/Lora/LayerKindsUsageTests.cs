using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>The adapter life cycle on the convolution and embedding LoRA layers, driven as a user does: the state
/// changes that must refuse rather than leave an adapter silently out of the forward.</summary>
public class LayerKindsUsageTests
{
    static LoraLayer Conv()
    {
        var l = new LoraConv2d(new Conv2d(2, 3, 3, new SeededRandom(1), stride: 2, padding: 1));
        l.AddAdapter("a", 2, 2, false, 0, Random(2 * 18, 2, 0.5), Random(3 * 2, 3, 0.5));
        return l;
    }

    static LoraLayer Table()
    {
        var l = new LoraEmbedding(new Embedding(6, 3, new SeededRandom(4)));
        l.AddAdapter("a", 2, 2, false, 0, Random(2 * 6, 5, 0.5), Random(3 * 2, 6, 0.5));
        return l;
    }

    static (float[] X, Shape Shape) Input(bool conv) => conv
        ? (Random(2 * 2 * 5 * 4, 7), new Shape(2, 2, 5, 4))
        : ([0, 5, 2, 2, 3, 1], new Shape(2, 3));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AddingAnAdapterToAMergedLayerIsRefusedAndChangesNothing(bool conv)
    {
        // A merged layer's forward is the base layer's (the merged adapters are in W), so an adapter added and made
        // active while merged was left out of the output until some later unmerge (it used to be accepted).
        var l = conv ? Conv() : Table();
        l.Eval();
        var (x, shape) = Input(conv);
        l.Merge();
        var merged = Run(l, x, shape);
        var w = l.BaseWeight.ToArray();
        var e = Assert.Throws<InvalidOperationException>(() =>
            l.AddAdapter("b", 1, 2, false, 0, Random(l.FanIn, 8, 0.5), Random(l.FanOut, 9, 0.5)));
        Assert.Contains("'b'", e.Message);
        Assert.Contains("Unmerge()", e.Message);
        Assert.Equal(["a"], l.Adapters.Select(a => a.Name));
        Assert.Equal(["a"], l.ActiveAdapters.Select(a => a.Name));
        Assert.DoesNotContain(l.NamedParameters(), p => p.Name.Contains("_A.b") || p.Name.Contains("_B.b"));
        Assert.Equal(w, l.BaseWeight.ToArray());
        Assert.Equal(merged, Run(l, x, shape));

        // Unmerged, the same call adds b, and the output moves by b's term.
        l.Unmerge();
        var before = Run(l, x, shape);
        l.AddAdapter("b", 1, 2, false, 0, Random(l.FanIn, 8, 0.5), Random(l.FanOut, 9, 0.5));
        Assert.Equal(["a", "b"], l.ActiveAdapters.Select(a => a.Name));
        var after = Run(l, x, shape);
        Assert.True(after.Zip(before).Max(t => Math.Abs(t.First - t.Second)) > 0.1, "b changed nothing");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AWeightedAdapterMayBeAddedToAMergedLayerInactiveAndFrozen(bool conv)
    {
        // AddWeightedAdapter does not activate its result, so it changes no forward and stays allowed while merged.
        var l = conv ? Conv() : Table();
        l.Eval();
        var (x, shape) = Input(conv);
        l.Merge();
        var merged = Run(l, x, shape);
        var w = l.AddWeightedAdapter("w", [("a", 0.5f)]);
        Assert.Equal(["a"], l.ActiveAdapters.Select(a => a.Name));
        Assert.True(w.A.Frozen && w.B.Frozen);
        Assert.Equal(merged, Run(l, x, shape));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AWrapperLeftInTheModelAfterItsMergeAndUnloadRunsTheMergedLayerOnce(bool conv)
    {
        // A user merging one layer calls the layer's MergeAndUnload and may leave the wrapper where it is. The wrapper
        // used to forget it was merged and add the adapters again on top of the merged weight (base + 2·delta), and a
        // second call merged the delta a second time.
        var l = conv ? Conv() : Table();
        var model = new Sequential(l).Eval();
        var (x, shape) = Input(conv);
        l.DisableAdapters();
        var baseOut = Run(model, x, shape);
        l.EnableAdapters();
        var adapted = Run(model, x, shape);
        // The adapters' term is large, so counting it twice could not hide within the tolerance below.
        Assert.True(adapted.Zip(baseOut).Max(t => Math.Abs(t.First - t.Second)) > 0.1);
        var plain = l.MergeAndUnload();
        Assert.Same(l.BaseWeight, plain.NamedParameters().Single(p => p.Name == "weight").Parameter);
        var merged = Run(plain, x, shape);
        Assert.Equal(merged, Run(model, x, shape)); // the same base forward on the same weight: bitwise
        var w = l.BaseWeight.ToArray();
        Assert.Same(plain, l.MergeAndUnload());
        Assert.Equal(w, l.BaseWeight.ToArray());
        // The merged output is the adapted one up to rounding.
        double gap = adapted.Zip(merged).Max(t => Math.Abs(t.First - t.Second));
        Assert.True(gap < 1e-4, $"merged output off by {gap}");
    }

    [Fact]
    public void TwoEmbeddingAdaptersAndATrainableTablePassTheGradientCheck()
    {
        // The layer's own composition (the first adapter fused with the table, the second as a table-less term added
        // on top), through float ids of rank 2 and int ids, repeated ids included; the op alone is checked in
        // LoraEmbeddingOpTests.
        var table = new Embedding(6, 4, new SeededRandom(10));
        var l = new LoraEmbedding(table);
        l.AddAdapter("one", 2, 3, false, 0, Random(2 * 6, 11, 0.5), Random(4 * 2, 12, 0.5));
        l.AddAdapter("two", 3, 2, true, 0, Random(3 * 6, 13, 0.5), Random(4 * 3, 14, 0.5));
        Assert.Equal(["one", "two"], l.ActiveAdapters.Select(a => a.Name));
        table.Weight.Frozen = false;
        var ps = new List<Tensor> { table.Weight };
        foreach (var a in l.Adapters) { ps.Add(a.A); ps.Add(a.B); }
        int[] ids = [5, 0, 3, 3, 1, 5];
        var x = new Tensor(ids.Select(i => (float)i).ToArray(), new Shape(2, 3));
        Tape.Current.Reset();
        var r = GradCheck.Run(() => Ops.Tanh(l.Forward(x)), ps, null);
        Assert.True(r.Passed, r.ToString());
        r = GradCheck.Run(() => Ops.Tanh(l.Forward(ids.AsMemory())), ps, null);
        Assert.True(r.Passed, r.ToString());
        Tape.Current.Reset();
    }

    /// <summary>conv: Unflatten → conv 3×3 → conv 1×1 → Flatten; table: Embedding → Flatten → Linear. Adapter a on both
    /// layers, b on the first only, both with non-zero B.</summary>
    static (Sequential Model, LoraLayer First, LoraLayer Second, float[] X, Shape Shape) TwoAdapters(bool conv)
    {
        var rng = new SeededRandom(20);
        var m = conv
            ? new Sequential(new Unflatten(2, 4, 3), new Conv2d(2, 3, 3, rng, padding: 1), new Conv2d(3, 2, 1, rng), new Flatten())
            : new Sequential(new Embedding(6, 4, rng), new Flatten(), new Linear(12, 2, rng));
        string[] both = conv ? ["1", "2"] : ["0", "2"];
        m.ApplyLora(new LoraConfig { R = 2, TargetModules = both }, "a");
        m.ApplyLora(new LoraConfig { R = 1, TargetModules = [both[0]] }, "b");
        foreach (var (_, l) in m.LoraLayers())
            foreach (var ad in l.Adapters) { Random(ad.A.Length, 21, 0.5).CopyTo(ad.A.Data); Random(ad.B.Length, 22, 0.5).CopyTo(ad.B.Data); }
        var (x, shape) = conv ? (Random(2 * 24, 23), new Shape(2, 24)) : (new float[] { 0, 5, 2, 2, 3, 1 }, new Shape(2, 3));
        return (m, (LoraLayer)m.GetSubmodule(both[0]), (LoraLayer)m.GetSubmodule(both[1]), x, shape);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ChoosingAnAdapterStopsTheOthersOnLayersThatLackIt(bool conv)
    {
        // Adapter b lives on the first layer only. Choosing b used to leave the second layer running a (frozen, but in
        // the output), so "the model with adapter b" silently included a; PEFT's set_adapter runs only the chosen
        // adapters on every layer, none on a layer that holds none of them.
        var (m, first, second, x, shape) = TwoAdapters(conv);
        m.Eval();
        m.SetActiveAdapters("b");
        Assert.Equal(["b"], first.ActiveAdapters.Select(a => a.Name));
        Assert.Empty(second.ActiveAdapters);
        Assert.True(second.GetAdapter("a").A.Frozen && second.GetAdapter("a").B.Frozen);
        var onlyB = Run(m, x, shape);
        second.DisableAdapters(); // the second layer's base forward, the same op as a layer with nothing active
        Assert.Equal(onlyB, Run(m, x, shape));
        second.EnableAdapters();

        // Naming both runs each layer's share of them.
        m.SetActiveAdapters("a", "b");
        Assert.Equal(["a", "b"], first.ActiveAdapters.Select(a => a.Name));
        Assert.Equal(["a"], second.ActiveAdapters.Select(a => a.Name));
        Assert.False(second.GetAdapter("a").A.Frozen);
        var withA = Run(m, x, shape);
        Assert.True(MaxGap(withA, onlyB) > 0.01, "adapter a changes nothing");

        // Merged: a choice that would change a merged layer is refused before anything changes.
        m.MergeAdapters();
        Assert.Throws<InvalidOperationException>(() => m.SetActiveAdapters("b"));
        Assert.Equal(["a", "b"], first.ActiveAdapters.Select(a => a.Name));
        Assert.Equal(["a"], second.ActiveAdapters.Select(a => a.Name));
        m.UnmergeAdapters();
        m.SetActiveAdapters("b");
        // Unmerging restores W up to rounding (LoraMath.AddDelta's bound, ~1e-7 relative here), far below a's term.
        Assert.True(MaxGap(Run(m, x, shape), onlyB) < 1e-5);
    }

    static double MaxGap(float[] a, float[] b) => a.Zip(b).Max(t => Math.Abs((double)t.First - t.Second));

    [Fact]
    public void ADoraConflictOnOneLayerChangesNoOtherLayer()
    {
        // DoRA adapter d on both layers, plain adapter a on the second only: choosing d and a is refused on the second
        // layer (a DoRA adapter runs alone), and the first layer, which would run d alone, must not have been switched.
        var rng = new SeededRandom(30);
        var m = new Sequential(new Linear(4, 5, rng), new Linear(5, 3, rng));
        m.ApplyLora(new LoraConfig { R = 2, TargetModules = ["0", "1"] }, "p");
        m.ApplyLora(new LoraConfig { R = 2, UseDora = true, TargetModules = ["0", "1"] }, "d");
        m.ApplyLora(new LoraConfig { R = 1, TargetModules = ["1"] }, "a");
        m.SetActiveAdapters("p");
        var first = (LoraLayer)m[0];
        var second = (LoraLayer)m[1];
        Assert.Throws<ArgumentException>(() => m.SetActiveAdapters("d", "a"));
        Assert.Equal(["p"], first.ActiveAdapters.Select(x => x.Name));
        Assert.Equal(["p"], second.ActiveAdapters.Select(x => x.Name));
        Assert.False(first.GetAdapter("p").A.Frozen);
        Assert.True(first.GetAdapter("d").A.Frozen);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AWeightedAdapterCoversEveryLayerHoldingASource(bool conv)
    {
        // w = a + b must run a + b on the first layer and a on the second, which holds only a. The second layer used
        // to get no w at all, so running w there ran nothing: a's term vanished from the combined model.
        var (m, first, second, x, shape) = TwoAdapters(conv);
        m.Eval();
        m.SetActiveAdapters("a", "b");
        var both = Run(m, x, shape);
        m.AddWeightedAdapter("w", [("a", 1f), ("b", 1f)]);
        Assert.Equal(3, first.GetAdapter("w").Rank);   // a (2) and b (1) concatenated
        Assert.Equal(2, second.GetAdapter("w").Rank);  // a alone
        m.SetActiveAdapters("w");
        // Concatenation is exact up to one rounding per element of B (LoraMath.Concatenate), far below a's term.
        var combined = Run(m, x, shape);
        Assert.True(MaxGap(combined, both) < 1e-5, $"w differs from a + b by {MaxGap(combined, both)}");
        m.SetActiveAdapters("b");
        Assert.True(MaxGap(Run(m, x, shape), both) > 0.01, "a's term is too small for this test to fail");
        // A second combination under a name a layer already has, or of an unknown source, changes nothing.
        Assert.Throws<ArgumentException>(() => m.AddWeightedAdapter("w", [("a", 1f)]));
        Assert.Throws<ArgumentException>(() => m.AddWeightedAdapter("v", [("a", 1f), ("typo", 1f)]));
        Assert.False(first.HasAdapter("v") || second.HasAdapter("v"));
    }
}
