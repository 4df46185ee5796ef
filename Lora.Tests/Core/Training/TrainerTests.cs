using Lora.Autograd;
using Lora.Core.Data;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;
using Lora.Kernels;

namespace Lora.Tests.Core.Training;

[Collection(global::Lora.Tests.SerialCollection.Name)]
public class TrainerTests
{
    /// <summary>Four Gaussian blobs in 8 dimensions, class c centred at 2·e_c: linearly separable with margin.</summary>
    static Dataset Blobs(int count, ulong seed, int features = 8)
    {
        var rng = new SeededRandom(seed);
        var x = new float[count * features];
        var y = new int[count];
        for (int i = 0; i < count; i++)
        {
            y[i] = i % 4;
            for (int f = 0; f < features; f++) x[i * features + f] = (float)(0.5 * rng.NextGaussian() + (f == y[i] ? 2 : 0));
        }
        return new Dataset("blobs", x, y, features, 4);
    }

    [Fact]
    public void LearnsSeparableBlobsAndReportsProgress()
    {
        var model = new Mlp([8, 16, 4], seed: 3);
        var opt = TrainableSlots.AdamW(model, LearningRateSchedule.Constant(0.02));
        var trainer = new Trainer(model, opt, new TrainerOptions { Epochs = 5, BatchSize = 32, Seed = 1 });
        var events = new List<TrainingProgress>();
        trainer.Progress += events.Add;
        var train = Blobs(200, 1);
        var history = trainer.Fit(train, Blobs(80, 2));
        Assert.Equal(5, history.Epochs.Count);
        Assert.Equal(5 * 7, history.Steps);                                   // ⌈200/32⌉ = 7 steps per epoch
        Assert.True(history.Epochs[^1].TrainLoss < history.Epochs[0].TrainLoss);
        Assert.True(history.Epochs[^1].ValidationAccuracy >= 0.95, $"accuracy {history.Epochs[^1].ValidationAccuracy}");
        var batchEvents = events.Where(e => e.Kind == ProgressKind.Batch).ToList();
        Assert.Equal(35, batchEvents.Count);
        Assert.Equal(1000, batchEvents[^1].SamplesSeen);
        Assert.All(batchEvents, e => Assert.True(e.SamplesPerSecond > 0 && e.BatchesPerEpoch == 7 && e.Epochs == 5));
        var ends = events.Where(e => e.Kind == ProgressKind.EpochEnd).ToList();
        Assert.Equal([1, 2, 3, 4, 5], ends.Select(e => e.Epoch));
        Assert.All(ends, e => Assert.NotNull(e.EpochResult));
        var eval = Trainer.Evaluate(model, Blobs(80, 2));
        Assert.Equal(history.Epochs[^1].ValidationLoss!.Value, eval.Loss, 12);
        Assert.True(model.Training);                                          // evaluation restored the mode
    }

    [Fact]
    public void CancellingMidEpochMarksThatEpochAsCutShort()
    {
        // Cancelled after the third batch of epoch 2 (of 7): the run stops there, that epoch is recorded with the 96
        // samples it saw and Complete = false, and the per-epoch time averages the complete epoch only.
        var model = new Mlp([8, 16, 4], seed: 3);
        var opt = TrainableSlots.AdamW(model, LearningRateSchedule.Constant(0.02));
        var trainer = new Trainer(model, opt, new TrainerOptions { Epochs = 5, BatchSize = 32, Seed = 1 });
        using var cts = new CancellationTokenSource();
        trainer.Progress += p => { if (p.Kind == ProgressKind.Batch && p.Epoch == 2 && p.Batch == 3) cts.Cancel(); };
        var history = trainer.Fit(Blobs(200, 1), Blobs(40, 2), cts.Token);
        Assert.True(history.Cancelled);
        Assert.Equal(2, history.Epochs.Count);
        Assert.Equal(7 + 3, history.Steps);
        Assert.True(history.Epochs[0].Complete);
        Assert.Equal(200, history.Epochs[0].Samples);
        Assert.False(history.Epochs[1].Complete);
        Assert.Equal(96, history.Epochs[1].Samples);
        Assert.Equal(history.Epochs[0].Seconds, history.SecondsPerEpoch);
        Assert.Equal(296 / (history.Epochs[0].Seconds + history.Epochs[1].Seconds), history.SamplesPerSecond, 9);
    }

    [Fact]
    public void EarlyStoppingAndRestoreBestWeights()
    {
        var model = new Mlp([8, 16, 4], seed: 3);
        // lr = 0: nothing ever improves after epoch 1, so patience 2 stops after epoch 3
        var opt = TrainableSlots.Sgd(model, LearningRateSchedule.Constant(0));
        var history = new Trainer(model, opt, new TrainerOptions { Epochs = 10, BatchSize = 50, EarlyStoppingPatience = 2 }).Fit(Blobs(100, 1));
        Assert.True(history.StoppedEarly);
        Assert.Equal(3, history.Epochs.Count);
        Assert.Equal(1, history.BestEpoch);

        // a huge learning rate makes things worse after the first epoch: restoring gives back epoch 1's weights
        var m2 = new Mlp([8, 16, 4], seed: 3);
        var snapshots = new List<float[]>();
        var t2 = new Trainer(m2, TrainableSlots.Sgd(m2, LearningRateSchedule.Constant(0.05).Then(4, LearningRateSchedule.Constant(50))),
            new TrainerOptions { Epochs = 4, BatchSize = 25, RestoreBestWeights = true });
        t2.Progress += e => { if (e.Kind == ProgressKind.EpochEnd) snapshots.Add(m2.Parameters().SelectMany(p => p.ToArray()).ToArray()); };
        var h2 = t2.Fit(Blobs(100, 1));
        Assert.Equal(snapshots[h2.BestEpoch - 1], m2.Parameters().SelectMany(p => p.ToArray()).ToArray());
    }

    static float[] TrainLora(int threads, ulong seed, bool dora = false)
    {
        int saved = KernelThreads.Count;
        KernelThreads.Count = threads;
        try
        {
            // DoRA's norms run W·Aᵀ on the thin-product kernel, which splits over threads for a 512-row layer.
            var model = new Mlp(dora ? [64, 512, 4] : [64, 96, 4], ActivationKind.Relu, dropout: 0.1, seed: 5);
            model.ApplyLora(new LoraConfig { R = 4, Alpha = 8, Dropout = 0.1, UseDora = dora }, seed: 6);
            var opt = TrainableSlots.AdamW(model, LearningRateSchedule.WarmupCosine(0.01, 2, 8), loraPlusRatio: 4, maxGradNorm: 1);
            new Trainer(model, opt, new TrainerOptions { Epochs = 2, BatchSize = 64, Seed = seed }).Fit(Blobs(256, 9, 64));
            return model.Parameters().SelectMany(p => p.ToArray()).ToArray();
        }
        finally { KernelThreads.Count = saved; }
    }

    [Fact]
    public void SameSeedSameBitsWhateverTheThreadCount()
    {
        var one = TrainLora(1, 11);
        Assert.Equal(one, TrainLora(2, 11));
        Assert.Equal(one, TrainLora(1, 11));
        Assert.NotEqual(one, TrainLora(1, 12));                              // the seed matters (batch order)
        var dora = TrainLora(1, 11, dora: true);
        Assert.Equal(dora, TrainLora(2, 11, dora: true));
    }

    [Fact]
    public void SteadyStateStepAllocatesNothing()
    {
        foreach (var (lora, drop, loraDrop) in new[] { (true, 0.0, 0.0), (false, 0.1, 0.0), (true, 0.1, 0.0), (true, 0.0, 0.1), (true, 0.1, 0.1) })
        {
            var model = new Mlp([64, 96, 10], ActivationKind.Relu, dropout: drop, seed: 5);
            if (lora) model.ApplyLora(new LoraConfig { R = 4, Alpha = 8, Dropout = loraDrop });
            var opt = TrainableSlots.AdamW(model, LearningRateSchedule.Constant(1e-3), maxGradNorm: 1);
            var trainer = new Trainer(model, opt);
            var data = Blobs(32, 3, 64);
            for (int i = 0; i < 3; i++) trainer.Step(data.Features, data.Labels, 32, 64); // warm-up sizes the pools
            // The per-thread counter ignores other threads; the quietest of several windows of 5 steps ignores a
            // one-time runtime allocation landing late under load (see AllocationProbe).
            long allocated = AllocationProbe.QuietestWindow(() => trainer.Step(data.Features, data.Labels, 32, 64), 5);
            Assert.True(allocated == 0, $"{(lora ? "LoRA" : "full")} {drop} {loraDrop} steps allocated {allocated} bytes");
        }
    }

    [Fact]
    public void PredictIsTheArgmaxOfTheLogitsAndKeepsTheMode()
    {
        var model = new Mlp([8, 16, 4], seed: 3);
        var data = Blobs(13, 4);
        model.Train();
        int[] predicted = Trainer.Predict(model, data.Features, 13, 8);
        Assert.True(model.Training);
        // an independent argmax over a plain forward of each sample alone (eval mode, no tape)
        model.Eval();
        using (Tape.NoGrad())
            for (int i = 0; i < 13; i++)
            {
                Tape.Current.Reset();
                var row = model.Forward(new Tensor(data.Features.AsSpan(i * 8, 8).ToArray(), new Shape(1, 8))).Data.ToArray();
                Assert.Equal(Array.IndexOf(row, row.Max()), predicted[i]);
            }
    }

    [Fact]
    public void BadInputsThrow()
    {
        var model = new Mlp([8, 4], seed: 1);
        var t = new Trainer(model, TrainableSlots.Sgd(model, LearningRateSchedule.Constant(0.1)));
        Assert.Throws<ArgumentException>(() => t.Fit(new Dataset("e", [], [], 8, 4)));
        Assert.Throws<ArgumentException>(() => t.Fit(Blobs(8, 1), Blobs(8, 1, 6)));
        // A validation set that is empty, or has classes the training set lacks, is refused before any training.
        var before = model.Parameters().SelectMany(p => p.ToArray()).ToArray();
        var ev = Assert.Throws<ArgumentException>(() => t.Fit(Blobs(8, 1), new Dataset("none", [], [], 8, 4)));
        Assert.Contains("'none' is empty", ev.Message);
        var wide = Blobs(8, 2);
        ev = Assert.Throws<ArgumentException>(() => t.Fit(Blobs(8, 1), new Dataset("wide", wide.Features, wide.Labels, 8, 6)));
        Assert.Contains("6 classes but training set 'blobs' has 4", ev.Message);
        Assert.Equal(before, model.Parameters().SelectMany(p => p.ToArray()).ToArray());
        Assert.Throws<ArgumentException>(() => new TrainerOptions { Epochs = 0 });
        Assert.Throws<ArgumentException>(() => new TrainerOptions { BatchSize = -1 });
        Assert.Throws<ArgumentException>(() => t.Step(new float[8], new int[1], 2, 8));
        // Predict names the sizes instead of failing inside a span slice
        var e = Assert.Throws<ArgumentException>(() => Trainer.Predict(model, new float[64], 9, 8));
        Assert.Contains("9 samples of 8 features need 72 values", e.Message);
        Assert.Throws<ArgumentException>(() => Trainer.Predict(model, new float[64], 0, 8));
        Assert.Throws<ArgumentException>(() => Trainer.Predict(model, new float[64], 2, 0));
        var frozen = new Mlp([8, 4], seed: 1);
        frozen.Freeze();
        Assert.Throws<ArgumentException>(() => TrainableSlots.AdamW(frozen, LearningRateSchedule.Constant(0.1)));
    }
}
