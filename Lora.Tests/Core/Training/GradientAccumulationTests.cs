using Lora.Core.Data;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;

namespace Lora.Tests.Core.Training;

/// <summary><see cref="TrainerOptions.GradientAccumulation"/>: k minibatches summed into one step are one batch of their
/// size. With zero weights, 0/1 features, four classes and power-of-two sizes and learning rate every operation of the
/// first step is exact, so the comparison is bit for bit; the epoch's last group (one minibatch) repeats the reference's
/// own last batch exactly.</summary>
public class GradientAccumulationTests
{
    static Dataset Data(int count)
    {
        var rng = new SeededRandom(3);
        var x = new float[count * 6];
        for (int i = 0; i < x.Length; i++) x[i] = rng.NextInt(2);
        return new Dataset("bits", x, Enumerable.Range(0, count).Select(i => (i * 7) % 4).ToArray(), 6, 4);
    }

    static (float[] Params, Sgd Opt, TrainingHistory History) Run(int batch, int accumulate, Dataset data)
    {
        var m = new Mlp([6, 4], seed: 1);
        foreach (var p in m.Parameters()) p.Data.Clear();
        var opt = TrainableSlots.Sgd(m, LearningRateSchedule.Constant(0.5));
        var h = new Trainer(m, opt, new TrainerOptions { Epochs = 1, BatchSize = batch, GradientAccumulation = accumulate, Seed = 9 }).Fit(data);
        return (m.Parameters().SelectMany(p => p.ToArray()).ToArray(), opt, h);
    }

    [Fact]
    public void TwoMinibatchesOfFourAreOneBatchOfEight()
    {
        var data = Data(12); // batches of 4: groups {0, 1} and {2}; the reference's batches of 8: {0..7}, {8..11}
        var (accumulated, opt, history) = Run(4, 2, data);
        var (reference, refOpt, _) = Run(8, 1, data);
        Assert.True(reference.AsSpan().SequenceEqual(accumulated));
        Assert.Equal(2, opt.StepCount);
        Assert.Equal(2, history.Steps);
        Assert.Equal(refOpt.StepCount, opt.StepCount);
        Assert.Equal(2, new TrainerOptions { Epochs = 1, BatchSize = 4, GradientAccumulation = 2 }.TotalSteps(12));
        var (plain, _, _) = Run(4, 1, data);
        Assert.False(plain.AsSpan().SequenceEqual(accumulated)); // three steps of four differ
    }

    [Fact]
    public void ADivergenceInsideAGroupDropsTheGroupsGradients()
    {
        var data = Data(16);
        var it = new MinibatchIterator(data, 4, 9, shuffle: true, dropLast: false);
        it.StartEpoch(0);
        var f = new float[4 * 6];
        var l = new int[4];
        it.Next(f, l, out _);
        it.Next(f, l, out _);
        foreach (int i in it.LastIndices) data.Features[i * 6] = float.NaN; // the group's second minibatch
        var m = new Mlp([6, 4], seed: 1); // no ReLU, which would turn the NaN into 0
        var opt = TrainableSlots.AdamW(m, LearningRateSchedule.Constant(0.01));
        var before = m.Parameters().SelectMany(p => p.ToArray()).ToArray();
        var e = Assert.Throws<TrainingDivergedException>(() =>
            new Trainer(m, opt, new TrainerOptions { Epochs = 1, BatchSize = 4, GradientAccumulation = 2, Seed = 9 }).Fit(data));
        Assert.Equal(2, e.Step);
        Assert.Equal(0, opt.StepCount);
        Assert.True(before.AsSpan().SequenceEqual(m.Parameters().SelectMany(p => p.ToArray()).ToArray()));
        Assert.All(opt.Slots, s => Assert.All(s.Gradient.ToArray(), g => Assert.Equal(0f, g)));
    }

    [Fact]
    public void AccumulationBelowOneIsRefused() =>
        Assert.Throws<ArgumentException>(() => new TrainerOptions { GradientAccumulation = 0 });
}
