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

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.2)]
    public void ADoraConvolutionStepAllocatesNothingOnceWarm(double dropout)
    {
        var rng = new SeededRandom(1);
        var model = new Sequential(new Conv2d(2, 4, 3, rng, padding: 1), new Flatten(), new Linear(4 * 5 * 5, 4, rng));
        model.ApplyLora(new LoraConfig { R = 2, Dropout = dropout, UseDora = true, TargetModules = ["0", "2"] }, seed: 2);
        LoraTestUtil.AssertTrainingStepAllocatesNothing(model, new Tensor(LoraTestUtil.Random(8 * 2 * 25, 3), new Shape(8, 2, 5, 5)), Enumerable.Range(0, 8).Select(i => i % 4).ToArray());
    }

    [Fact]
    public void ADoraEmbeddingStepAllocatesNothingOnceWarm()
    {
        var rng = new SeededRandom(1);
        var model = new Sequential(new Embedding(30, 8, rng), new Flatten(), new Linear(3 * 8, 4, rng));
        model.ApplyLora(new LoraConfig { R = 2, UseDora = true, TargetModules = ["0", "2"] }, seed: 2);
        var ids = Enumerable.Range(0, 6 * 3).Select(i => (float)(i * 7 % 30)).ToArray();
        LoraTestUtil.AssertTrainingStepAllocatesNothing(model, new Tensor(ids, new Shape(6, 3)), Enumerable.Range(0, 6).Select(i => i % 4).ToArray());
    }
}
