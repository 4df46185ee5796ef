using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;
using Lora.Tests.Core.IO;

namespace Lora.Tests.Core.Training;

/// <summary>A run resumed at <see cref="TrainerOptions.FirstEpoch"/> in a fresh model takes the uninterrupted run's
/// steps bit for bit with dropout on, too: the mask sequences (the MLP's dropout and the LoRA input dropout) used to
/// restart at call 0 in the fresh model, so epoch 2 drew epoch 1's masks.</summary>
public class ResumeDropoutTests
{
    static readonly LearningRateSchedule Schedule = LearningRateSchedule.WarmupCosine(0.02, 2, 15);

    static TrainerOptions Options(int epochs, int first = 1) => new() { Epochs = epochs, FirstEpoch = first, BatchSize = 8, Seed = 5 };

    static Mlp Model(double dropout, double loraDropout)
    {
        var m = new Mlp([6, 16, 3], ActivationKind.Relu, dropout, seed: 2);
        m.ApplyLora(new LoraConfig { R = 2, Alpha = 4, Dropout = loraDropout }, seed: 3);
        return m;
    }

    static float[] Trainable(Module m) => [.. m.TrainableParameters().SelectMany(p => p.Parameter.Data.ToArray())];

    [Theory]
    [InlineData(0.3, 0.0)]
    [InlineData(0.0, 0.4)]
    [InlineData(0.3, 0.4)]
    public void AResumedRunDrawsTheUninterruptedRunsMasks(double dropout, double loraDropout)
    {
        using var dir = new TempDir();
        var data = TrainingTestData.Gaussian(40, 6, 3, seed: 1, shift: 1.5);
        var whole = Model(dropout, loraDropout);
        new Trainer(whole, TrainableSlots.AdamW(whole, Schedule), Options(3)).Fit(data);

        var first = Model(dropout, loraDropout);
        var firstOpt = TrainableSlots.AdamW(first, Schedule);
        new Trainer(first, firstOpt, Options(1)).Fit(data);
        string state = dir.File("optimizer.safetensors");
        firstOpt.SaveState(state);

        // A fresh process: the same construction, the trained values put back, the optimizer state loaded.
        var resumed = Model(dropout, loraDropout);
        var from = first.TrainableParameters().ToList();
        var to = resumed.TrainableParameters().ToList();
        for (int i = 0; i < from.Count; i++) from[i].Parameter.Data.CopyTo(to[i].Parameter.Data);
        var opt = TrainableSlots.AdamW(resumed, Schedule);
        opt.LoadState(state);
        new Trainer(resumed, opt, Options(3, first: 2)).Fit(data);

        Assert.True(Trainable(whole).AsSpan().SequenceEqual(Trainable(resumed)));
    }

    [Fact]
    public void EpochsDrawDifferentMasks()
    {
        // The positioning must not replay one epoch's masks in the next: with a learning rate of 0 the parameters stay
        // put, so equal epoch losses would mean equal masks (the batch order is fixed by a batch of the whole set).
        var m = new Mlp([6, 16, 3], ActivationKind.Relu, 0.5, seed: 2);
        var options = new TrainerOptions { Epochs = 3, BatchSize = 40, Seed = 5 };
        var history = new Trainer(m, TrainableSlots.Sgd(m, LearningRateSchedule.Constant(0)), options)
            .Fit(TrainingTestData.Gaussian(40, 6, 3, seed: 1, shift: 1.5));
        var losses = history.Epochs.Select(e => e.TrainLoss).ToArray();
        Assert.Equal(3, losses.Distinct().Count());
    }
}
