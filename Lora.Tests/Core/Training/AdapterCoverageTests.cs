using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;

namespace Lora.Tests.Core.Training;

/// <summary>A trainer refuses an optimizer that lacks some of the model's trainable adapter parameters: built before a
/// second adapter was applied with Bias = All, it still covered the biases, so training ran and silently left the new
/// adapter as initialised.</summary>
public class AdapterCoverageTests
{
    static readonly LearningRateSchedule Lr = LearningRateSchedule.Constant(0.05);

    [Fact]
    public void AnOptimizerMissingANewAdaptersFactorsIsRefusedWhenBuiltAndWhenFitting()
    {
        var model = new Mlp([6, 8, 3], seed: 1);
        model.ApplyLora(new LoraConfig { R = 2, Bias = LoraBias.All });
        var opt = TrainableSlots.AdamW(model, Lr);
        var trainer = new Trainer(model, opt, new TrainerOptions { Epochs = 1, BatchSize = 8 });
        model.ApplyLora(new LoraConfig { R = 2, Bias = LoraBias.All }, "second");

        var before = model.Parameters().Select(p => p.Data.ToArray()).ToList();
        var e = Assert.Throws<InvalidOperationException>(() => trainer.Fit(TrainingTestData.Gaussian(16, 6, 3, seed: 2)));
        Assert.Contains("layers.0.lora_A.second.weight", e.Message);
        var after = model.Parameters().ToList();
        for (int i = 0; i < before.Count; i++) Assert.True(before[i].AsSpan().SequenceEqual(after[i].Data));

        var built = Assert.Throws<ArgumentException>(() => new Trainer(model, opt));
        Assert.Contains("lora_B.second", built.Message);
        // Rebuilt from the model as it is now, it trains the new adapter.
        var history = new Trainer(model, TrainableSlots.AdamW(model, Lr), new TrainerOptions { Epochs = 1, BatchSize = 8 })
            .Fit(TrainingTestData.Gaussian(16, 6, 3, seed: 2));
        Assert.Equal(2, history.Steps);
        Assert.Contains(model.NamedParameters(), p => p.Name == "layers.0.lora_B.second.weight" && p.Parameter.Data.ToArray().Any(v => v != 0));
    }

    [Fact]
    public void AModulesToSaveCopyOutsideTheOptimizerIsRefusedToo()
    {
        var model = new Mlp([6, 8, 3], seed: 1);
        model.ApplyLora(new LoraConfig { R = 2, TargetModules = ["layers.0"], ModulesToSave = ["layers.1"] });
        var slots = TrainableSlots.From(model).Where(s => !ModulesToSaveLayer.IsCopyParameter(s.Name)).ToArray();
        var e = Assert.Throws<ArgumentException>(() => new Trainer(model, new Sgd(slots, Lr)));
        Assert.Contains("modules_to_save", e.Message);
    }

    [Fact]
    public void FrozenOrDisabledFactorsNeedNoSlotAndAHeadOnlyOptimizerOfAPlainModelStaysAccepted()
    {
        var model = new Mlp([6, 8, 3], seed: 1);
        model.ApplyLora(new LoraConfig { R = 2, Bias = LoraBias.All });
        var opt = TrainableSlots.AdamW(model, Lr);
        model.ApplyLora(new LoraConfig { R = 2, Bias = LoraBias.All }, "second");
        model.MarkTrainable("default", LoraBias.All); // back to the first adapter: the second's factors are frozen
        _ = new Trainer(model, opt);

        var plain = new Mlp([6, 8, 3], seed: 1);
        var head = plain.NamedParameters().Where(p => p.Name.StartsWith("layers.1.", StringComparison.Ordinal)).Select(p => new OptimizerSlot(p.Parameter));
        _ = new Trainer(plain, new Sgd(head, Lr));
    }
}
