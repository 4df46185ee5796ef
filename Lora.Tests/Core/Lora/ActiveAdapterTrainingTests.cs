using Lora.Core.Data;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;
using Lora.Tests.Core.Training;

namespace Lora.Tests.Core.Lora;

/// <summary>Setting the active adapters makes them trainable and freezes the others (PEFT's <c>set_adapter</c>), so
/// switching to an earlier adapter and training trains that adapter and leaves the other one bitwise alone.</summary>
public class ActiveAdapterTrainingTests
{
    static Mlp TwoAdapters(bool headCopies = true)
    {
        var m = new Mlp([6, 12, 10, 3], ActivationKind.Relu, 0, seed: 4);
        var config = new LoraConfig { R = 2, Alpha = 4, TargetModules = ["layers.0", "layers.1"], ModulesToSave = headCopies ? ["layers.2"] : [] };
        m.ApplyLora(config, "a", seed: 1);
        m.ApplyLora(config, "b", seed: 2);
        return m;
    }

    static Dictionary<string, float[]> Snapshot(Module m) => m.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Data.ToArray());

    static bool Trainable(Module m, string name) => !m.NamedParameters().First(p => p.Name == name).Parameter.Frozen;

    [Fact]
    public void TheActiveAdapterTrainsAndTheOtherStaysBitwiseUnchanged()
    {
        var m = TwoAdapters();
        Assert.True(Trainable(m, "layers.0.lora_A.b.weight"));
        Assert.False(Trainable(m, "layers.0.lora_A.a.weight"));

        m.SetActiveAdapters("a");
        foreach (var (name, p) in m.NamedParameters())
        {
            bool isA = name.Contains(".a.", StringComparison.Ordinal);
            Assert.True(isA != p.Frozen, $"{name}: frozen {p.Frozen}"); // a's factors and head copy, nothing else
        }
        var before = Snapshot(m);
        var data = TrainingTestData.Gaussian(24, 6, 3, 9);
        // AdamW with weight decay: an inactive adapter left trainable would be decayed although it gets no gradient.
        var opt = TrainableSlots.AdamW(m, LearningRateSchedule.Constant(1e-2), weightDecay: 0.1);
        new Trainer(m, opt, new TrainerOptions { Epochs = 2, BatchSize = 8 }).Fit(data);
        foreach (var (name, p) in m.NamedParameters())
        {
            bool changed = !before[name].AsSpan().SequenceEqual(p.Data);
            bool isA = name.Contains(".a.", StringComparison.Ordinal);
            Assert.True(changed == isA, $"{name}: changed {changed}");
        }
    }

    [Fact]
    public void SeveralActiveAdaptersAllTrainAndALayerCanBeSetOnItsOwn()
    {
        var m = TwoAdapters(headCopies: false); // one modules_to_save copy runs at a time, so none here
        m.SetActiveAdapters("a", "b");
        Assert.All(m.NamedParameters().Where(p => p.Name.Contains("lora_", StringComparison.Ordinal)), p => Assert.False(p.Parameter.Frozen, p.Name));
        var layer = (LoraLayer)m.GetSubmodule("layers.1");
        layer.SetActiveAdapters("b");
        Assert.True(Trainable(m, "layers.1.lora_B.b.weight"));
        Assert.False(Trainable(m, "layers.1.lora_B.a.weight"));
        Assert.True(Trainable(m, "layers.0.lora_B.a.weight")); // the other layer is untouched
    }

    [Fact]
    public void AnOptimizerBuiltBeforeSwitchingIsRefused()
    {
        var m = TwoAdapters();
        var overB = TrainableSlots.AdamW(m, LearningRateSchedule.Constant(1e-2));
        m.SetActiveAdapters("a");
        var e = Assert.Throws<ArgumentException>(() => new Trainer(m, overB));
        Assert.Contains("are all frozen in this model", e.Message);
    }
    [Fact]
    public void DisablingFreezesEveryAdapterAndEnablingThawsTheActiveOnes()
    {
        var m = TwoAdapters();
        m.SetActiveAdapters("a");
        m.DisableAdapters();
        Assert.Equal(0, m.TrainableParameterCount());
        m.SetActiveAdapters("a"); // choosing adapters while disabled keeps them frozen: they would get no gradient
        Assert.Equal(0, m.TrainableParameterCount());
        m.EnableAdapters();
        foreach (var (name, p) in m.NamedParameters())
            Assert.True(name.Contains(".a.", StringComparison.Ordinal) != p.Frozen, $"{name}: frozen {p.Frozen}");
    }

    [Fact]
    public void TrainingWithDisabledAdaptersIsAClearErrorAndChangesNothing()
    {
        var m = TwoAdapters();
        var trainer = new Trainer(m, TrainableSlots.AdamW(m, LearningRateSchedule.Constant(1e-2), weightDecay: 0.1));
        m.DisableAdapters();
        var before = Snapshot(m);
        var x = new float[8 * 6];
        for (int i = 0; i < x.Length; i++) x[i] = MathF.Sin(i);
        var e = Assert.Throws<InvalidOperationException>(() => trainer.Step(x, [0, 1, 2, 0, 1, 2, 0, 1], 8, 6));
        Assert.Contains("EnableAdapters", e.Message);
        foreach (var (name, p) in m.NamedParameters()) Assert.True(before[name].AsSpan().SequenceEqual(p.Data), name);
        var fit = Assert.Throws<InvalidOperationException>(() => trainer.Fit(new Dataset("x", x, [0, 1, 2, 0, 1, 2, 0, 1], 6, 3)));
        Assert.Contains("are all frozen in this model", fit.Message);
        m.EnableAdapters();
        Assert.True(float.IsFinite(trainer.Step(x, [0, 1, 2, 0, 1, 2, 0, 1], 8, 6).Loss)); // trains again
        Assert.False(before["layers.0.lora_A.b.weight"].AsSpan().SequenceEqual(m.NamedParameters().First(p => p.Name == "layers.0.lora_A.b.weight").Parameter.Data));
    }
    [Fact]
    public void AWeightedAdapterStaysFrozenUntilChosen()
    {
        var m = TwoAdapters(headCopies: false);
        m.AddWeightedAdapter("w", [("a", 0.5f), ("b", 0.5f)]);
        Assert.All(m.NamedParameters().Where(p => p.Name.Contains(".w.", StringComparison.Ordinal)), p => Assert.True(p.Parameter.Frozen, p.Name));
        Assert.True(Trainable(m, "layers.0.lora_A.b.weight")); // the active adapter is untouched
        m.SetActiveAdapters("w");
        Assert.True(Trainable(m, "layers.0.lora_A.w.weight"));
        Assert.False(Trainable(m, "layers.0.lora_A.b.weight"));
    }
    [Fact]
    public void MarkTrainableWithAnUnknownNameIsRefusedAndChangesNothing()
    {
        var m = TwoAdapters();
        var before = m.NamedParameters().Select(p => p.Parameter.Frozen).ToArray();
        var e = Assert.Throws<ArgumentException>(() => m.MarkTrainable("typo", LoraBias.None));
        Assert.Contains("'typo'", e.Message);
        Assert.Contains("[a, b]", e.Message);
        Assert.Equal(before, m.NamedParameters().Select(p => p.Parameter.Frozen).ToArray()); // it used to freeze everything
    }
}
