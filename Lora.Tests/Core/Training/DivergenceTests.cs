using Lora.Core.Data;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;

namespace Lora.Tests.Core.Training;

/// <summary><see cref="TrainerOptions.StopOnNonFiniteLoss"/>: the first step with a NaN or infinite loss throws
/// before its update, so the parameters stay those of the step before.</summary>
[Collection(global::Lora.Tests.SerialCollection.Name)]
public class DivergenceTests
{
    static Dataset Data(int count, ulong seed) => TrainingTestData.Gaussian(count, 8, 4, seed);

    static float[][] Snapshot(Optimizer o) => o.Slots.Select(s => s.Value.ToArray()).ToArray();

    static void AssertBitwise(float[][] expected, Optimizer o)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(expected[i].AsSpan().SequenceEqual(o.Slots[i].Value), $"slot {o.Slots[i].Name} changed");
    }

    [Fact]
    public void ANaNWeightBehindAReluStillStopsTheRun()
    {
        // ReLU used to map NaN to 0, so a NaN in the first layer left the loss finite and the layer silently dead.
        var model = new Mlp([8, 16, 4], seed: 3);
        model.NamedParameters().First(p => p.Name == "layers.0.weight").Parameter.Data[5] = float.NaN;
        var trainer = new Trainer(model, TrainableSlots.AdamW(model, LearningRateSchedule.Constant(1e-3)), new TrainerOptions { Epochs = 1, BatchSize = 16, Seed = 1 });
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Fit(Data(64, 2)));
        Assert.Equal((1, 1), (e.Epoch, e.Step));
        Assert.True(float.IsNaN(e.Loss));
    }

    [Fact]
    public void FitStopsAtTheFirstNonFiniteLossBeforeItsUpdate()
    {
        var model = new Mlp([8, 16, 4], seed: 3);
        // AdamW moves every weight by about the learning rate per step: 1e38 overflows the next forward pass.
        var opt = TrainableSlots.AdamW(model, LearningRateSchedule.Constant(1e38));
        var trainer = new Trainer(model, opt, new TrainerOptions { Epochs = 3, BatchSize = 16, Seed = 1 });
        var last = Snapshot(opt);
        int batches = 0;
        trainer.Progress += p => { if (p.Kind == ProgressKind.Batch) { last = Snapshot(opt); batches++; } };
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Fit(Data(64, 1)));
        Assert.False(float.IsFinite(e.Loss));
        Assert.Equal(1, e.Epoch);
        Assert.Equal(batches + 1, e.Step);                 // the steps before it ran and raised their events
        Assert.True(e.Step >= 2, $"diverged at step {e.Step}: the first step's loss is the initial model's");
        Assert.Null(e.Phase);
        Assert.Contains($"epoch 1, step {e.Step}", e.Message);
        AssertBitwise(last, opt);                          // the diverging step's update was not applied
        Assert.All(opt.Slots, s => Assert.All(s.Value.ToArray(), v => Assert.False(float.IsNaN(v))));
    }

    [Fact]
    public void WithoutTheCheckTheRunGoesOnAndTurnsNaN()
    {
        var model = new Mlp([8, 16, 4], seed: 3);
        var opt = TrainableSlots.AdamW(model, LearningRateSchedule.Constant(1e38));
        var trainer = new Trainer(model, opt, new TrainerOptions { Epochs = 2, BatchSize = 16, Seed = 1, StopOnNonFiniteLoss = false });
        var history = trainer.Fit(Data(64, 1));
        Assert.Equal(2, history.Epochs.Count);
        Assert.True(double.IsNaN(history.Epochs[^1].TrainLoss));
        Assert.Contains(opt.Slots, s => s.Value.ToArray().Any(float.IsNaN));
    }

    [Fact]
    public void StepThrowsWithoutAnEpochAndLeavesTheParameters()
    {
        var model = new Mlp([8, 16, 4], seed: 3);
        var opt = TrainableSlots.AdamW(model, LearningRateSchedule.Constant(1e-3));
        var trainer = new Trainer(model, opt);
        var data = Data(16, 2);
        trainer.Step(data.Features, data.Labels, 16, 8);   // a finite step first: the optimizer has state
        opt.Slots[0].Value[5] = float.PositiveInfinity;     // an overflowed weight: the next loss is not finite
        var before = Snapshot(opt);
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Step(data.Features, data.Labels, 16, 8));
        Assert.Equal(0, e.Epoch);
        Assert.Equal(0, e.Step);
        Assert.StartsWith("training diverged: the loss is", e.Message);
        AssertBitwise(before, opt);
        opt.Slots[0].Value[5] = 0.25f;                       // repaired, training goes on from the same state
        var (loss, _) = trainer.Step(data.Features, data.Labels, 16, 8);
        Assert.True(float.IsFinite(loss));
    }

    [Fact]
    public void WithPhaseNamesTheRunAndKeepsTheFigures()
    {
        var e = new TrainingDivergedException(2, 7, float.NegativeInfinity).WithPhase("full fine-tuning");
        Assert.Equal((2, 7, "full fine-tuning"), (e.Epoch, e.Step, e.Phase));
        Assert.True(float.IsNegativeInfinity(e.Loss));
        Assert.StartsWith("full fine-tuning diverged at epoch 2, step 7: the loss is −∞.", e.Message);
        Assert.IsType<TrainingDivergedException>(e.InnerException);
    }
}
