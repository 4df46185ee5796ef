using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Optim;
using Lora.Kernels;
using static Lora.Tests.Core.Modules.RecurrentTestData;

namespace Lora.Tests.Core.Modules;

/// <summary>Training a recurrent character-LM-shaped model: the same seed gives the same bits for 1 and 2 threads,
/// and a steady-state step (forward, cross-entropy, backpropagation through time, AdamW) allocates nothing.</summary>
[Collection(global::Lora.Tests.SerialCollection.Name)]
public class RecurrentTrainingTests
{
    sealed class Run
    {
        readonly RecurrentTestModel _model;
        readonly Optimizer _optimizer;
        readonly Tensor _x;
        readonly int[] _labels;

        public Run(bool gru, bool lora, int n, int steps, int inputSize, int hidden, int vocab)
        {
            _model = new RecurrentTestModel(gru, inputSize, hidden, vocab, 31);
            if (lora) _model.ApplyLora(new LoraConfig { R = 4, Alpha = 8, Dropout = 0.1, TargetModules = ["rnn.ih", "rnn.hh"] }, seed: 32);
            _optimizer = TrainableSlots.AdamW(_model, LearningRateSchedule.Constant(1e-2));
            _x = new Tensor(Uniform(n * steps * inputSize, -1, 1, 33), new Shape(n, steps, inputSize));
            _labels = Labels(n * steps, vocab, 34);
        }

        public float Step()
        {
            var tape = Tape.Current;
            tape.Reset();
            var loss = Ops.SoftmaxCrossEntropy(_model.Forward(_x), _labels);
            loss.Backward();
            float value = loss.Item;
            _optimizer.Step();
            _optimizer.ZeroGrad();
            return value;
        }

        public float[] Weights() => _model.Parameters().SelectMany(p => p.ToArray()).ToArray();
    }

    static float[] Train(bool gru, bool lora, int threads)
    {
        int saved = KernelThreads.Count;
        long threshold = GemmDriver.MinFlopsPerPart;
        KernelThreads.Count = threads;
        GemmDriver.MinFlopsPerPart = 1 << 12; // split even these small GEMMs (and the per-step hh ones) across threads
        try
        {
            var run = new Run(gru, lora, 8, 5, 16, 24, 11);
            for (int i = 0; i < 3; i++) run.Step();
            Tape.Current.Reset();
            return run.Weights();
        }
        finally
        {
            KernelThreads.Count = saved;
            GemmDriver.MinFlopsPerPart = threshold;
        }
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    public void SameSeedSameBitsForOneAndTwoThreads(bool gru, bool lora)
    {
        var one = Train(gru, lora, 1);
        Assert.Equal(one, Train(gru, lora, 2));
        Assert.Equal(one, Train(gru, lora, 1));
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    public void ASteadyStateTrainingStepAllocatesNothing(bool gru, bool lora)
    {
        var run = new Run(gru, lora, 8, 6, 16, 24, 11);
        float first = run.Step();
        for (int i = 0; i < 3; i++) run.Step();
        // As in AllocationTests: the minimum over three trials of 10 steps is what the engine allocates.
        long allocated = long.MaxValue;
        float last = 0;
        for (int trial = 0; trial < 3; trial++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++) last = run.Step();
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Tape.Current.Reset();
        Assert.Equal(0, allocated);
        Assert.True(last < first, $"training should reduce the loss: {first} → {last}");
    }
}
