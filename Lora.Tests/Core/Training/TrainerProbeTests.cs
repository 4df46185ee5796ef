using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;

namespace Lora.Tests.Core.Training;

/// <summary>Trainer edge cases found by probing: Step's feature count, and early stopping on a NaN metric (a diverged
/// run with <see cref="TrainerOptions.StopOnNonFiniteLoss"/> off used to make every NaN epoch the "best" one and
/// never stop).</summary>
public class TrainerProbeTests
{
    static Trainer Make(TrainerOptions? options = null)
    {
        var model = new Mlp([6, 8, 3], seed: 3);
        return new Trainer(model, TrainableSlots.AdamW(model, LearningRateSchedule.Constant(1e-2)), options);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void StepRefusesAFeatureCountBelowOne(int featureCount)
    {
        var e = Assert.Throws<ArgumentException>(() => Make().Step(new float[6], [0], 1, featureCount));
        Assert.Contains("Step:", e.Message);
        Assert.Contains($"{featureCount} features", e.Message);
    }

    [Fact]
    public void NaNEpochsAreNeverTheBestAndEarlyStoppingCountsThem()
    {
        var trainer = Make(new TrainerOptions { Epochs = 6, BatchSize = 8, StopOnNonFiniteLoss = false, EarlyStoppingPatience = 2, RestoreBestWeights = true });
        var w = trainer.Model.NamedParameters().First(p => p.Name == "layers.1.weight").Parameter;
        w.Data[0] = float.NaN; // every loss is NaN from the first step
        var history = trainer.Fit(TrainingTestData.Gaussian(24, 6, 3, seed: 1));
        Assert.All(history.Epochs, e => Assert.True(double.IsNaN(e.TrainLoss)));
        Assert.Equal(0, history.BestEpoch);
        Assert.True(history.StoppedEarly);
        Assert.Equal(2, history.Epochs.Count);
    }

    [Fact]
    public void ANaNValidationEpochAfterAFiniteOneDoesNotReplaceIt()
    {
        // Epoch 1 is finite; its weights then go NaN by hand: epoch 2 must count as no improvement.
        var trainer = Make(new TrainerOptions { Epochs = 3, BatchSize = 8, StopOnNonFiniteLoss = false, EarlyStoppingPatience = 1 });
        var w = trainer.Model.NamedParameters().First(p => p.Name == "layers.1.weight").Parameter;
        trainer.Progress += p => { if (p.Kind == ProgressKind.EpochEnd && p.Epoch == 1) w.Data[0] = float.NaN; };
        var data = TrainingTestData.Gaussian(24, 6, 3, seed: 1);
        var history = trainer.Fit(data, TrainingTestData.Gaussian(9, 6, 3, seed: 2));
        Assert.True(double.IsFinite(history.Epochs[0].ValidationLoss!.Value));
        Assert.True(double.IsNaN(history.Epochs[1].ValidationLoss!.Value));
        Assert.Equal(1, history.BestEpoch);
        Assert.True(history.StoppedEarly);
    }
}
