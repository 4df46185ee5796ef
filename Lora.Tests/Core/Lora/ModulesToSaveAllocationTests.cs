using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;

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
        LoraTestUtil.AssertTrainingStepAllocatesNothing(model, new Tensor(LoraTestUtil.Random(32 * 8, 3), new Shape(32, 8)), Enumerable.Range(0, 32).Select(i => i % 4).ToArray());
    }
}
