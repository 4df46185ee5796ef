using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;

namespace Lora.Tests.Core.Lora;

/// <summary>A steady-state training step through a modules_to_save copy allocates nothing on the managed heap.</summary>
[Collection(global::Lora.Tests.SerialCollection.Name)]
public class ModulesToSaveAllocationTests
{
    [Fact]
    public void ATrainingStepThroughAModulesToSaveCopyAllocatesNothingOnceWarm()
    {
        var rng = new SeededRandom(1);
        var model = new Sequential(new Linear(8, 16, rng), new Linear(16, 4, rng));
        model.ApplyLora(new LoraConfig { R = 4, TargetModules = ["0"], ModulesToSave = ["1"] }, seed: 2);
        var trainable = model.TrainableParameters().Select(p => p.Parameter).ToArray();
        var opt = TrainableSlots.Sgd(model, LearningRateSchedule.Constant(0.05));
        var x = new Tensor(LoraTestUtil.Random(32 * 8, 3), new Shape(32, 8));
        int[] labels = Enumerable.Range(0, 32).Select(i => i % 4).ToArray();
        var tape = Tape.Current;
        float lastLoss = 0;
        void Step()
        {
            tape.Reset();
            var loss = Ops.SoftmaxCrossEntropy(model.Forward(x), labels);
            loss.Backward();
            lastLoss = loss.Item;
            opt.Step();
            foreach (var p in trainable) p.ZeroGrad();
        }
        for (int i = 0; i < 3; i++) Step();
        float firstLoss = lastLoss;
        long allocated = global::Lora.Tests.AllocationProbe.QuietestWindow(Step, calls: 10);
        tape.Reset();
        Assert.Equal(0, allocated);
        Assert.True(lastLoss < firstLoss, $"training should reduce the loss: {firstLoss} → {lastLoss}");
    }
}
