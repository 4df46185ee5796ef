using Lora.Core.Data;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;

namespace Lora.Tests.Core.Training;

/// <summary>A trainer refuses an optimizer that would update none of its model's trainable parameters: one built
/// before <c>ApplyLora</c> froze the base weights, or over another model.</summary>
public class OptimizerMismatchTests
{
    static LearningRateSchedule Lr => LearningRateSchedule.Constant(1e-2);

    static Dataset Data() => TrainingTestData.Gaussian(32, 6, 3, 5);

    [Fact]
    public void AnOptimizerBuiltBeforeApplyLoraIsRefusedAndTheBaseIsUntouched()
    {
        var model = new Mlp([6, 8, 3], seed: 1);
        var early = TrainableSlots.AdamW(model, Lr);
        model.ApplyLora(new LoraConfig { R = 2, Alpha = 4 });
        var e = Assert.Throws<ArgumentException>(() => new Trainer(model, early));
        Assert.Contains("are all frozen in this model", e.Message);
        Assert.Contains("'layers.0.weight'", e.Message);
        Assert.Equal("optimizer", e.ParamName);
        // Even stepped by hand, it leaves the now-frozen weights as they were (the skip in Optimizer.Step).
        var before = model.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Data.ToArray());
        foreach (var s in early.Slots) s.Gradient.Fill(1f);
        early.Step();
        foreach (var (name, p) in model.NamedParameters()) Assert.True(before[name].AsSpan().SequenceEqual(p.Data), name);
    }

    [Fact]
    public void AnotherModelsOptimizerIsRefused()
    {
        var model = new Mlp([6, 3], seed: 1);
        var other = new Mlp([6, 3], seed: 1);
        var e = Assert.Throws<ArgumentException>(() => new Trainer(model, TrainableSlots.Sgd(other, Lr)));
        Assert.Contains("are not in this model", e.Message);
    }

    [Fact]
    public void FitRefusesOnceTheModelHasChangedUnderTheTrainer()
    {
        var model = new Mlp([6, 8, 3], seed: 1);
        var trainer = new Trainer(model, TrainableSlots.AdamW(model, Lr), new TrainerOptions { Epochs = 1, BatchSize = 8 });
        model.ApplyLora(new LoraConfig { R = 2, Alpha = 4 });
        var e = Assert.Throws<InvalidOperationException>(() => trainer.Fit(Data()));
        Assert.Contains("are all frozen in this model", e.Message);
    }

    [Fact]
    public void AnOptimizerOverPartOfTheModelOrOverRawMemoryIsAccepted()
    {
        var model = new Mlp([6, 8, 3], seed: 1);
        var head = model.NamedParameters().Where(p => p.Name.StartsWith("layers.1.", StringComparison.Ordinal))
            .Select(p => new OptimizerSlot(p.Parameter)).ToArray();
        float[] headBefore = head[0].Value.ToArray();
        var history = new Trainer(model, new Sgd(head, Lr), new TrainerOptions { Epochs = 1, BatchSize = 8 }).Fit(Data());
        Assert.Equal(4, history.Steps);
        Assert.False(headBefore.AsSpan().SequenceEqual(head[0].Value));
        // Slots over raw memory cannot be matched to the model, so they are taken on trust.
        float[] value = new float[4], grad = new float[4];
        var raw = new Trainer(model, new Sgd([new OptimizerSlot("raw", value, grad)], Lr));
        Assert.Same(model, raw.Model);
    }
}
