using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>modules_to_save in the model: wrapping, freezing, the report, training, switching, unloading, refusals.</summary>
public class ModulesToSaveTests
{
    static Mlp Model(ulong seed = 1) => new([8, 16, 12, 4], ActivationKind.Relu, 0, seed);

    static LoraConfig HeadConfig(LoraBias bias = LoraBias.None) =>
        new() { R = 2, Alpha = 4, TargetModules = ["layers.0", "layers.1"], ModulesToSave = ["layers.2"], Bias = bias };

    static ModulesToSaveLayer Head(Module m) => (ModulesToSaveLayer)m.GetSubmodule("layers.2");

    [Fact]
    public void ApplyWrapsFreezesTheOriginalAndReportsTheCopy()
    {
        var m = Model();
        var before = Snapshot(m);
        var report = m.ApplyLora(HeadConfig());
        var head = Head(m);
        var names = m.NamedParameters().Select(p => p.Name).ToList();
        Assert.Contains("layers.2.original_module.weight", names);
        Assert.Contains("layers.2.modules_to_save.default.weight", names);
        Assert.Contains("layers.2.modules_to_save.default.bias", names);
        Assert.Equal(["default"], head.AdapterNames);
        Assert.Equal("default", head.ActiveAdapter);
        // the copy starts equal to the original, bit for bit; the original is the base model's, untouched and frozen
        Assert.Equal(before["layers.2.weight"], ((Linear)head.GetCopy("default")).Weight.ToArray());
        Assert.Equal(before["layers.2.bias"], ((Linear)head.GetCopy("default")).Bias!.ToArray());
        Assert.True(head.Original.Parameters().All(p => p.Frozen));
        Assert.True(head.GetCopy("default").Parameters().All(p => !p.Frozen));

        long lora = (2 * 8 + 16 * 2) + (2 * 16 + 12 * 2), copy = 12 * 4 + 4;  // A, B of layers.0 and layers.1; W, b of the head
        long baseCount = 8 * 16 + 16 + 16 * 12 + 12 + 12 * 4 + 4;
        Assert.Equal(["layers.0", "layers.1"], report.WrappedModules);
        Assert.Equal(["layers.2"], report.ModulesToSave);
        Assert.Equal(lora + copy, report.TrainableParameters);
        Assert.Equal(baseCount, report.BaseParameters);
        Assert.Equal(baseCount + lora + copy, report.TotalParameters);
        Assert.Equal((lora + copy) * 16, report.TrainableStateBytes);
        var again = m.Report();
        Assert.Equal((report.TrainableParameters, report.BaseParameters, report.TotalParameters), (again.TrainableParameters, again.BaseParameters, again.TotalParameters));
        Assert.Equal(["layers.2"], again.ModulesToSave);
        Assert.Contains("modules_to_save): layers.2", report.ToString());
        // the base weights save under their plain names, so a clone is the base model again
        var clone = ModelFiles.Clone(m);
        Assert.Equal(before.Keys, clone.NamedParameters().Select(p => p.Name));
        foreach (var (name, p) in clone.NamedParameters()) Assert.Equal(before[name], p.ToArray());
    }

    [Theory]
    [InlineData(LoraBias.None)]
    [InlineData(LoraBias.All)]
    public void TrainingChangesTheCopyAndLeavesTheOriginalBitwiseUnchanged(LoraBias bias)
    {
        var m = Model();
        m.ApplyLora(HeadConfig(bias));
        var before = Snapshot(m);
        var opt = TrainableSlots.AdamW(m, LearningRateSchedule.Constant(0.05), weightDecay: 0.1);
        int[] labels = [0, 1, 2, 3, 0, 1];
        for (int step = 0; step < 2; step++)
        {
            Tape.Current.Reset();
            Ops.SoftmaxCrossEntropy(m.Train().Forward(new Tensor(Random(6 * 8, 7), new Shape(6, 8))), labels).Backward();
            opt.Step();
            opt.ZeroGrad();
        }
        Tape.Current.Reset();
        Assert.True(Head(m).Original.Parameters().All(p => p.Frozen));
        foreach (var (name, p) in m.NamedParameters())
        {
            if (p.Frozen) Assert.Equal(before[name], p.ToArray());
            else Assert.NotEqual(before[name], p.ToArray());
        }
        Assert.NotEqual(before["layers.2.modules_to_save.default.weight"], m.NamedParameters().First(p => p.Name == "layers.2.modules_to_save.default.weight").Parameter.ToArray());
    }

    /// <summary>A model with adapters "a" and "b", each with its own LoRA factors and head copy, all made different.</summary>
    static Mlp TwoAdapters()
    {
        var m = Model(3);
        m.ApplyLora(HeadConfig(), "a", seed: 1);
        m.ApplyLora(HeadConfig(), "b", seed: 2);
        ulong s = 10;
        foreach (var (_, l) in m.LoraLayers())
            foreach (var ad in l.Adapters) Random(ad.B.Length, s++, 0.3).CopyTo(ad.B.Data);
        foreach (var name in new[] { "a", "b" })
            foreach (var p in Head(m).GetCopy(name).Parameters()) Random(p.Length, s++, 0.5).CopyTo(p.Data);
        return m;
    }

    static float[] HeadOutput(Module m, Linear reference, float[] h)
    {
        var expected = Run(reference, h, 3);
        Assert.Equal(expected, Run(Head(m), h, 3)); // same op on the same weights: the same bits
        return expected;
    }

    [Fact]
    public void TheActiveAdaptersCopyRunsAndDisablingRunsTheOriginal()
    {
        var m = TwoAdapters();
        var head = Head(m);
        var h = Random(3 * 12, 5);
        Assert.Equal("b", head.ActiveAdapter); // the last applied adapter is active, as on the LoRA layers
        HeadOutput(m, (Linear)head.GetCopy("b"), h);
        m.SetActiveAdapters("a");
        Assert.Equal("a", head.ActiveAdapter);
        HeadOutput(m, (Linear)head.GetCopy("a"), h);
        var x = Random(3 * 8, 6);
        var ya = Run(m.Eval(), x, 3);
        m.SetActiveAdapters("b");
        Assert.NotEqual(ya, Run(m, x, 3));

        // disabled: the original, and the whole model is the base model bit for bit
        m.DisableAdapters();
        HeadOutput(m, (Linear)head.Original, h);
        Assert.Equal(Run(ModelFiles.Clone(m).Eval(), x, 3), Run(m, x, 3));
        m.EnableAdapters();
        HeadOutput(m, (Linear)head.GetCopy("b"), h);

        // two copies cannot run at once: refused before any layer changes
        var e = Assert.Throws<ArgumentException>(() => m.SetActiveAdapters("a", "b"));
        Assert.Contains("layers.2", e.Message);
        Assert.Equal("b", head.ActiveAdapter);
        Assert.All(m.LoraLayers(), l => Assert.Equal(["b"], l.Layer.ActiveAdapters.Select(a => a.Name)));

        // deleting the active adapter runs the one left, as PEFT: its LoRA factors and its copy of the head, trainable
        m.DeleteAdapter("b");
        Assert.Equal(["a"], head.AdapterNames);
        Assert.All(m.LoraLayers(), l => Assert.Equal(["a"], l.Layer.ActiveAdapters.Select(a => a.Name)));
        Assert.Equal("a", head.ActiveAdapter);
        HeadOutput(m, (Linear)head.GetCopy("a"), h);
        Assert.DoesNotContain(m.NamedParameters(), p => p.Name.Contains(".b."));
        Assert.All(m.NamedParameters().Where(p => p.Name.Contains(".a.")), p => Assert.False(p.Parameter.Frozen, p.Name));
        Assert.Equal(ya, Run(m.Eval(), x, 3));
        // and deleting the last one leaves the original running
        m.DeleteAdapter("a");
        Assert.Null(head.ActiveAdapter);
        HeadOutput(m, (Linear)head.Original, h);
    }

    [Fact]
    public void MergeAndUnloadPutsTheActiveCopyInPlace()
    {
        var m = TwoAdapters();
        m.SetActiveAdapters("a");
        var copyA = (Linear)Head(m).GetCopy("a");
        var x = Random(5 * 8, 7);
        var adapted = Run(m.Eval(), x, 5);
        var plain = m.MergeAndUnload();
        Assert.Same(copyA, plain.GetSubmodule("layers.2"));
        Assert.Empty(plain.ModulesToSaveLayers());
        Assert.Equal(["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "layers.2.weight", "layers.2.bias"],
            plain.NamedParameters().Select(p => p.Name));
        var y = Run(plain.Eval(), x, 5);
        // merging moves each W element by (r+1)·ε·(|W| + s·Σ|B||A|); through three unit-scale layers < 1e-5
        for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - adapted[i]) <= 1e-5, $"[{i}] {y[i]} vs {adapted[i]}");

        var d = TwoAdapters();
        var original = Head(d).Original;
        d.DisableAdapters();
        Assert.Same(original, d.MergeAndUnload().GetSubmodule("layers.2"));
    }

    [Fact]
    public void AllLinearLeavesTheSavedModulesOutAndTheSuffixRuleIsPlain()
    {
        var m = Model();
        var report = m.ApplyLora(new LoraConfig { R = 2, ModulesToSave = ["2"] });
        Assert.Equal(["layers.0", "layers.1"], report.WrappedModules);
        Assert.Equal(["layers.2"], report.ModulesToSave);
        var c = new LoraConfig { ModulesToSave = ["head", "layers.2"] };
        Assert.True(c.SavesModule("classifier_head"));   // no dot boundary, as PEFT's key.endswith(name)
        Assert.True(c.SavesModule("block.layers.2"));
        Assert.False(c.SavesModule("layers.12"));
        Assert.False(c.SavesModule(""));
        Assert.Throws<ArgumentException>(() => new LoraConfig { ModulesToSave = ["layers.2", ""] });
        Assert.NotEqual(new LoraConfig(), c with { ModulesToSave = [] } with { ModulesToSave = ["x"] });
    }

    static void AssertRefused(Module m, Action apply, params string[] expected)
    {
        var before = Snapshot(m);
        var structure = m.NamedModules().Select(n => (n.Path, n.Module)).ToList();
        var e = Assert.Throws<ArgumentException>(apply);
        foreach (var s in expected) Assert.Contains(s, e.Message);
        Assert.Equal(structure, m.NamedModules().Select(n => (n.Path, n.Module)).ToList());
        Assert.Equal(before.Keys, Snapshot(m).Keys);
        foreach (var (name, p) in m.NamedParameters()) Assert.Equal(before[name], p.ToArray());
    }

    [Fact]
    public void RefusesWhatCannotBeSavedAndLeavesTheModelUnchanged()
    {
        var m = Model();
        AssertRefused(m, () => m.ApplyLora(HeadConfig() with { ModulesToSave = ["layers.2", "classifier"] }), "'classifier'", "selects no module");
        AssertRefused(m, () => m.ApplyLora(HeadConfig() with { TargetModules = ["layers.0", "layers.2"] }), "'layers.2'", "both target_modules and modules_to_save");
        AssertRefused(m, () => m.ApplyLora(HeadConfig() with { ModulesToSave = ["layers"] }), "'layers'", "ModuleList");

        var lora = Model();
        lora.ApplyLora(new LoraConfig { R = 2 }, "a");
        AssertRefused(lora, () => lora.ApplyLora(HeadConfig(), "b"), "'layers.2'", "LoRA");

        var saved = Model();
        saved.ApplyLora(HeadConfig(), "a");
        AssertRefused(saved, () => saved.ApplyLora(new LoraConfig { R = 2, TargetModules = ["layers.2"] }, "b"), "'layers.2'", "modules_to_save");
        AssertRefused(saved, () => saved.AddWeightedAdapter("mix", [("a", 0.5f)]), "'layers.2'", "modules_to_save");
        Assert.Throws<ArgumentException>(() => saved.DeleteAdapter("zzz"));
    }
}
