using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>Applying LoRA to an MLP: naming, freezing, the report, validation, training and unloading.</summary>
public class LoraModelTests
{
    static readonly int[] Sizes = [8, 16, 12, 4];

    static Mlp Model(ulong seed = 1) => new(Sizes, ActivationKind.Relu, 0, seed);

    [Fact]
    public void NamesFollowPytorchAndPeft()
    {
        var m = Model();
        Assert.Equal(["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "layers.2.weight", "layers.2.bias"],
            m.NamedParameters().Select(p => p.Name));
        Assert.Equal("layers.1.weight", m.NamedParameters().ElementAt(2).Parameter.Name);
        m.ApplyLora(new LoraConfig { R = 2, TargetModules = ["layers.1"] });
        Assert.Equal(["layers.0.weight", "layers.0.bias", "layers.1.lora_A.default.weight", "layers.1.lora_B.default.weight",
            "layers.1.base_layer.weight", "layers.1.base_layer.bias", "layers.2.weight", "layers.2.bias"], m.NamedParameters().Select(p => p.Name));
        // the parameter objects carry their full path too (used in error messages)
        Assert.All(m.NamedParameters(), p => Assert.Equal(p.Name, p.Parameter.Name));
    }

    [Fact]
    public void ReportCountsAndFreezing()
    {
        var m = Model();
        long total = m.ParameterCount();
        var rep = m.ApplyLora(new LoraConfig { R = 2, Alpha = 4 });
        long lora = 2 * (8 + 16) + 2 * (16 + 12) + 2 * (12 + 4);
        Assert.Equal(["layers.0", "layers.1", "layers.2"], rep.WrappedModules);
        Assert.Equal(lora, rep.TrainableParameters);
        Assert.Equal(total + lora, rep.TotalParameters);
        Assert.Equal(total, rep.BaseParameters);
        Assert.Equal(lora * 16, rep.TrainableStateBytes);        // weights + grads + AdamW m, v
        Assert.Equal(total * 16, rep.FullFineTuningStateBytes);
        Assert.All(m.NamedParameters(), p => Assert.Equal(!LoraModel.IsLoraParameter(p.Name), p.Parameter.Frozen));

        var m2 = Model();
        var rep2 = m2.ApplyLora(new LoraConfig { R = 2, Bias = LoraBias.LoraOnly, TargetModules = ["layers.0"] });
        Assert.Equal(2 * (8 + 16) + 16, rep2.TrainableParameters);
        var m3 = Model();
        Assert.Equal(2 * (8 + 16) + 16 + 12 + 4, m3.ApplyLora(new LoraConfig { R = 2, Bias = LoraBias.All, TargetModules = ["layers.0"] }).TrainableParameters);
    }

    [Fact]
    public void FailedApplyLeavesTheModelUnchanged()
    {
        var m = Model();
        var before = Snapshot(m);
        var names = m.NamedParameters().Select(p => p.Name).ToList();
        var ex = Assert.Throws<ArgumentException>(() => m.ApplyLora(new LoraConfig { TargetModules = ["q_proj"] }));
        Assert.Contains("layers.0", ex.Message);                   // lists what exists
        Assert.Contains("q_proj", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => m.ApplyLora(new LoraConfig { R = 5 }));   // layers.2 has 4 outputs
        Assert.Contains("layers.2", ex.Message);
        Assert.Equal(names, m.NamedParameters().Select(p => p.Name));
        Assert.All(m.NamedParameters(), p => Assert.Equal(before[p.Name], p.Parameter.ToArray()));
        Assert.All(m.Parameters(), p => Assert.False(p.Frozen));
        Assert.Empty(m.LoraLayers());
        m.ApplyLora(new LoraConfig { R = 2 });
        Assert.Throws<ArgumentException>(() => m.ApplyLora(new LoraConfig { R = 2 }));   // "default" exists already
    }

    [Fact]
    public void ZeroInitModelOutputMatchesTheBase()
    {
        foreach (var init in new[] { LoraInit.KaimingUniform, LoraInit.Gaussian })
        {
            var m = Model(); var reference = Model();
            m.ApplyLora(new LoraConfig { R = 3, Init = init });
            var x = Random(6 * 8, 5);
            var a = Run(m.Eval(), x, 6); var b = Run(reference.Eval(), x, 6);
            // B = 0: the adapters add exact zeros; what remains is the GEMM rounding of the three layers summed in
            // the fused kernel's order (≤ 3·(k+4)·ε relative to Σ|terms|, which is below 16 for these unit-scale
            // weights and inputs); not bitwise, since the fused kernel blocks the sum its own way.
            for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 3 * 20 * Eps * 16, $"{init} [{i}]");
        }
    }

    [Fact]
    public void PissaKeepsTheOutputAndPutsThePrincipalPartInTheAdapter()
    {
        var m = Model(); var reference = Model();
        m.ApplyLora(new LoraConfig { R = 3, Alpha = 6, Init = LoraInit.Pissa });
        var x = Random(6 * 8, 5);
        var a = Run(m.Eval(), x, 6); var b = Run(reference.Eval(), x, 6);
        // W_res + s·B·A reproduces W up to the GEMM rounding of forming s·B·A (≈ (r+1)·ε·σ₁ per element) and the
        // truncated SVD's float round-off; 1e-4 absolute is ~100× those on this unit-scale model.
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-4, $"[{i}] {a[i]} vs {b[i]}");
        foreach (var (_, l) in m.LoraLayers()) Assert.Contains(l.Adapters[0].B.ToArray(), v => v != 0);
    }

    [Fact]
    public void LoraStepLeavesEveryFrozenWeightBitwiseUnchanged()
    {
        var m = Model();
        m.ApplyLora(new LoraConfig { R = 2, Alpha = 4 });
        var before = Snapshot(m);
        // weight decay is on: a frozen weight that leaked into the optimizer would shrink
        var opt = TrainableSlots.AdamW(m, LearningRateSchedule.Constant(0.05), weightDecay: 0.1);
        Assert.Equal(m.TrainableParameterCount() * 8, opt.StateBytes);
        int[] labels = [0, 1, 2, 3, 0, 1];
        for (int step = 0; step < 3; step++)
        {
            Tape.Current.Reset();
            var loss = Ops.SoftmaxCrossEntropy(m.Train().Forward(new Tensor(Random(6 * 8, 7), new Shape(6, 8))), labels);
            loss.Backward();
            opt.Step();
            opt.ZeroGrad();
        }
        Tape.Current.Reset();
        foreach (var (name, p) in m.NamedParameters())
        {
            if (p.Frozen) Assert.Equal(before[name], p.ToArray());
            else Assert.NotEqual(before[name], p.ToArray());
        }
    }

    [Fact]
    public void MergeAndUnloadGivesAPlainModelWithTheAdaptedOutput()
    {
        var m = Model();
        m.ApplyLora(new LoraConfig { R = 2, Alpha = 4, TargetModules = ["layers.0", "layers.2"] });
        foreach (var (_, l) in m.LoraLayers()) Random(l.Adapters[0].B.Length, 3, 0.2).CopyTo(l.Adapters[0].B.Data);
        var x = Random(6 * 8, 9);
        var adapted = Run(m.Eval(), x, 6);
        var plain = m.MergeAndUnload();
        Assert.Empty(plain.LoraLayers());
        Assert.Equal(Model().NamedParameters().Select(p => p.Name), plain.NamedParameters().Select(p => p.Name));
        Assert.All(plain.Layers.Children, c => Assert.IsType<Linear>(c.Module));
        var merged = Run(plain, x, 6);
        // merging perturbs each W element by (r+1)·ε·(|W| + s·Σ|B||A|); through three unit-scale layers this stays
        // below 1e-5 absolute.
        for (int i = 0; i < adapted.Length; i++) Assert.True(Math.Abs(adapted[i] - merged[i]) <= 1e-5, $"[{i}]");
    }

    [Fact]
    public void ModelLevelAdapterManagement()
    {
        var m = Model();
        m.ApplyLora(new LoraConfig { R = 2 }, "a", seed: 1);
        m.ApplyLora(new LoraConfig { R = 3 }, "b", seed: 2);
        Assert.All(m.LoraLayers(), l => Assert.Equal(["b"], l.Layer.ActiveAdapters.Select(a => a.Name)));
        // only the newest adapter trains
        Assert.All(m.NamedParameters(), p => Assert.Equal(p.Name.Contains(".b.weight"), !p.Parameter.Frozen));
        m.SetActiveAdapters("a", "b");
        Assert.All(m.LoraLayers(), l => Assert.Equal(2, l.Layer.ActiveAdapters.Count));
        // a name no layer holds is an error naming it and the known ones, and changes nothing (PEFT raises too)
        var e = Assert.Throws<ArgumentException>(() => m.SetActiveAdapters("a", "typo"));
        Assert.Contains("'typo'", e.Message);
        Assert.Contains("[a, b]", e.Message);
        Assert.All(m.LoraLayers(), l => Assert.Equal(["a", "b"], l.Layer.ActiveAdapters.Select(x => x.Name)));
        m.AddWeightedAdapter("ab", [("a", 1f), ("b", 1f)]);
        Assert.All(m.LoraLayers(), l => Assert.Equal(5, l.Layer.GetAdapter("ab").Rank));
        m.DeleteAdapter("a");
        Assert.DoesNotContain(m.NamedParameters(), p => p.Name.Contains(".a.weight"));
        m.DisableAdapters();
        Assert.All(m.LoraLayers(), l => Assert.True(l.Layer.AdaptersDisabled));
    }

    [Fact]
    public void EvalAndFreezePropagate()
    {
        var m = Model();
        m.Eval();
        Assert.All(m.NamedModules(), x => Assert.False(x.Module.Training));
        m.ApplyLora(new LoraConfig { R = 2 });
        Assert.All(m.NamedModules(), x => Assert.False(x.Module.Training));   // wrappers take over the mode
        m.Train();
        Assert.All(m.NamedModules(), x => Assert.True(x.Module.Training));
    }
}
