using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Modules;
using Lora.Core.Optim;

namespace Lora.Tests.Core.Modules;

/// <summary>A module registered at two paths (tied weights) lists its parameters once, under the first path, as
/// PyTorch's <c>named_parameters()</c> does: they used to be listed twice, so counts doubled and building an optimizer
/// from the model failed with "given to the optimizer twice".</summary>
public class SharedParameterTests
{
    [Fact]
    public void ATiedLayerIsCountedAndTrainedOnce()
    {
        var tied = new Linear(3, 3, new SeededRandom(1));
        var model = new Sequential(tied, new Activation(ActivationKind.Relu), tied);
        Assert.Equal(["0.weight", "0.bias"], model.NamedParameters().Select(p => p.Name));
        Assert.Equal(12, model.ParameterCount());
        Assert.Equal(12, model.TrainableParameterCount());

        var opt = TrainableSlots.Sgd(model, LearningRateSchedule.Constant(0.5));
        Assert.Equal(2, opt.Slots.Count);
        var x = new Tensor([0.3f, -1.2f, 0.8f, 1.5f, 0.1f, -0.4f], new Shape(2, 3));
        Tape.Current.Reset();
        var y = model.Forward(x);
        var loss = Ops.Sum(y);
        loss.Backward();
        float[] w = tied.Weight.Data.ToArray(), g = tied.Weight.Grad.ToArray();
        Assert.Contains(g, v => v != 0);
        opt.Step();
        for (int i = 0; i < w.Length; i++) Assert.Equal(w[i] - 0.5f * g[i], tied.Weight.Data[i]); // one update, not two
        Tape.Current.Reset();
    }

    [Fact]
    public void DistinctLayersAreUnaffected()
    {
        var model = new Sequential(new Linear(3, 4, new SeededRandom(1)), new Linear(4, 2, new SeededRandom(2)));
        Assert.Equal(["0.weight", "0.bias", "1.weight", "1.bias"], model.NamedParameters().Select(p => p.Name));
        Assert.Equal(3 * 4 + 4 + 4 * 2 + 2, model.ParameterCount());
    }
}
