using Lora.Autograd;
using Lora.Core.Optim;

namespace Lora.Tests.Core.Optim;

/// <summary>A slot whose parameter is frozen is skipped by the update and by the clipping norm (PyTorch skips a
/// parameter without a gradient), so an optimizer built before the base weights were frozen leaves them unchanged.</summary>
public class FrozenSlotTests
{
    static Parameter Param(string name, params float[] values) => new(name, values, new Shape(values.Length));

    [Fact]
    public void AdamWLeavesAFrozenParameterBitwiseUnchangedAndResumesWhenUnfrozen()
    {
        var frozen = Param("frozen", 0.5f, -1.5f, 2f);
        var live = Param("live", 1f, -2f);
        var opt = new AdamW([new OptimizerSlot(frozen), new OptimizerSlot(live)], LearningRateSchedule.Constant(0.1), weightDecay: 0.5);
        frozen.Frozen = true;
        float[] frozenBefore = frozen.Data.ToArray(), liveBefore = live.Data.ToArray();
        for (int t = 0; t < 3; t++)
        {
            // A stale, nonzero gradient on the frozen slot: neither it nor the weight decay may touch the values.
            frozen.Grad.Fill(0.25f);
            live.Grad.Fill(0.25f);
            opt.Step();
        }
        Assert.True(frozenBefore.AsSpan().SequenceEqual(frozen.Data));
        Assert.False(liveBefore.AsSpan().SequenceEqual(live.Data));

        frozen.Frozen = false;
        frozen.Grad.Fill(0.25f);
        opt.Step();
        for (int i = 0; i < frozenBefore.Length; i++) Assert.NotEqual(frozenBefore[i], frozen.Data[i]);
    }

    [Fact]
    public void SgdSkipsAFrozenParameter()
    {
        var frozen = Param("frozen", 3f, 4f);
        var opt = new Sgd([new OptimizerSlot(frozen)], LearningRateSchedule.Constant(0.1), momentum: 0.9, weightDecay: 0.1);
        frozen.Frozen = true;
        frozen.Grad.Fill(1f);
        opt.Step();
        Assert.Equal([3f, 4f], frozen.Data.ToArray());
    }

    [Fact]
    public void TheClippingNormLeavesOutFrozenParameters()
    {
        var frozen = Param("frozen", 0f, 0f);
        var live = Param("live", 0f, 0f, 0f);
        var opt = new Sgd([new OptimizerSlot(frozen), new OptimizerSlot(live)], LearningRateSchedule.Constant(1), maxGradNorm: 1);
        frozen.Frozen = true;
        frozen.Grad.Fill(100f);
        float[] g = [3f, 4f, 12f]; // norm 13
        g.CopyTo(live.Grad);
        opt.Step();
        Assert.Equal(13.0, opt.LastGradNorm, 12);
        Assert.Equal([100f, 100f], frozen.Grad.ToArray()); // not scaled
        for (int i = 0; i < 3; i++) Assert.Equal(-(double)g[i] / 13, live.Data[i], 6);
    }
}
