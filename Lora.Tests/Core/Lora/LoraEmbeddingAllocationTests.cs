using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;

namespace Lora.Tests.Core.Lora;

/// <summary>A steady-state LoRA-embedding training step (float ids through the module, SGD) allocates nothing.</summary>
[Collection(global::Lora.Tests.SerialCollection.Name)]
public class LoraEmbeddingAllocationTests
{
    [Fact]
    public void ATrainingStepThroughLoraEmbeddingAllocatesNothingOnceWarm()
    {
        var rng = new SeededRandom(1);
        var model = new Sequential(new Embedding(100, 16, rng), new Linear(16, 4, rng));
        model.ApplyLora(new LoraConfig { R = 4, TargetModules = ["0"] }, seed: 2);
        var trainable = model.TrainableParameters().Select(p => p.Parameter).ToArray();
        var opt = TrainableSlots.Sgd(model, LearningRateSchedule.Constant(0.05));
        var ids = new Tensor(Enumerable.Range(0, 32).Select(i => (float)(i * 7 % 100)).ToArray(), new Shape(32));
        int[] labels = Enumerable.Range(0, 32).Select(i => i % 4).ToArray();
        var tape = Tape.Current;
        float lastLoss = 0;
        void Step()
        {
            tape.Reset();
            var loss = Ops.SoftmaxCrossEntropy(model.Forward(ids), labels);
            loss.Backward();
            lastLoss = loss.Item;
            opt.Step();
            foreach (var p in trainable) p.ZeroGrad(); // Module.ZeroGrad enumerates (allocates); the step does not
        }
        for (int i = 0; i < 3; i++) Step();
        float firstLoss = lastLoss;
        long allocated = global::Lora.Tests.AllocationProbe.QuietestWindow(Step, calls: 10);
        tape.Reset();
        Assert.Equal(0, allocated);
        Assert.True(lastLoss < firstLoss, $"training should reduce the loss: {firstLoss} → {lastLoss}");
    }
}
