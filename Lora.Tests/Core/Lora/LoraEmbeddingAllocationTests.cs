using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;

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
        LoraTestUtil.AssertTrainingStepAllocatesNothing(model, new Tensor(Enumerable.Range(0, 32).Select(i => (float)(i * 7 % 100)).ToArray(), new Shape(32)), Enumerable.Range(0, 32).Select(i => i % 4).ToArray());
    }
}
