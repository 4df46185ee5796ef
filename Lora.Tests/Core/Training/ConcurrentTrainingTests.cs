using Lora.Core.Data;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;
using Lora.Kernels;

namespace Lora.Tests.Core.Training;

/// <summary>An embedding program may train several models at once, one per thread: each thread has its own tape and
/// kernel scratch, the worker pool runs one parallel job at a time, and every result keeps the bits it has when the
/// models are trained one after another.</summary>
[Collection(global::Lora.Tests.SerialCollection.Name)]
public class ConcurrentTrainingTests
{
    // Layers big enough (64 × 256 × 512 per forward product) that the kernels split them over the pool's threads.
    static float[] Train(ulong seed, Dataset data)
    {
        var model = new Mlp([256, 512, 4], ActivationKind.Relu, dropout: 0.1, seed: seed);
        model.ApplyLora(new LoraConfig { R = 4, Alpha = 8, Dropout = 0.1 }, seed: seed + 1);
        var opt = TrainableSlots.AdamW(model, LearningRateSchedule.Constant(1e-2));
        new Trainer(model, opt, new TrainerOptions { Epochs = 2, BatchSize = 64, Seed = seed }).Fit(data);
        return model.Parameters().SelectMany(p => p.ToArray()).ToArray();
    }

    [Fact]
    public void ModelsTrainedOnThreeThreadsAtOnceKeepTheirSequentialBits()
    {
        int saved = KernelThreads.Count;
        KernelThreads.Count = 2;
        try
        {
            var data = TrainingTestData.Gaussian(256, 256, 4, 3, shift: 1);
            ulong[] seeds = [11, 12, 13];
            var sequential = seeds.Select(s => Train(s, data)).ToArray();
            Assert.NotEqual(sequential[0], sequential[1]);
            var concurrent = new float[seeds.Length][];
            var errors = new Exception?[seeds.Length];
            var threads = seeds.Select((s, i) => new Thread(() =>
            {
                try { concurrent[i] = Train(s, data); }
                catch (Exception e) { errors[i] = e; }
            })).ToArray();
            foreach (var t in threads) t.Start();
            foreach (var t in threads) t.Join();
            for (int i = 0; i < seeds.Length; i++)
            {
                Assert.Null(errors[i]);
                Assert.True(sequential[i].AsSpan().SequenceEqual(concurrent[i]), $"model {i} (seed {seeds[i]}) differs");
            }
        }
        finally { KernelThreads.Count = saved; }
    }
}
