using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;

namespace Lora.Tests.Core.Lora;

/// <summary>A steady-state DoRA training step (the norms, the rescale, with and without dropout) allocates nothing on
/// the managed heap.</summary>
[Collection(global::Lora.Tests.SerialCollection.Name)]
public class DoraAllocationTests
{
    [Theory]
    [InlineData(0.0)]
    [InlineData(0.2)]
    public void ADoraTrainingStepAllocatesNothingOnceWarm(double dropout)
    {
        var rng = new SeededRandom(1);
        var model = new Sequential(new Linear(40, 48, rng), new Linear(48, 4, rng));
        model.ApplyLora(new LoraConfig { R = 4, Dropout = dropout, UseDora = true, TargetModules = ["all-linear"] }, seed: 2);
        LoraTestUtil.AssertTrainingStepAllocatesNothing(model, new Tensor(LoraTestUtil.Random(32 * 40, 3), new Shape(32, 40)), Enumerable.Range(0, 32).Select(i => i % 4).ToArray());
    }
}
