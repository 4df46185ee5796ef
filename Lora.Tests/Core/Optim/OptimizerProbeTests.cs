using Lora.Autograd;
using Lora.Core.Optim;

namespace Lora.Tests.Core.Optim;

/// <summary>Misuse of the optimizer API gets a clear error and changes nothing: a null slot, a null schedule, and a
/// custom schedule whose rate is NaN, negative or beyond float (which used to be cast to ±∞ or NaN and applied).</summary>
public class OptimizerProbeTests
{
    static Parameter Param(string name, params float[] values) => new(name, values, new Shape(values.Length));

    sealed class FixedSchedule(double lr) : LearningRateSchedule
    {
        public override double At(long step) => lr;
    }

    [Fact]
    public void ANullSlotIsAnArgumentError()
    {
        var e = Assert.Throws<ArgumentException>(() => new Sgd([new OptimizerSlot(Param("a", 1f)), null!], LearningRateSchedule.Constant(0.1)));
        Assert.Contains("slot 1", e.Message);
    }

    [Fact]
    public void ANullScheduleIsRefusedAndTheOldOneKept()
    {
        var p = Param("a", 1f, 2f);
        var schedule = LearningRateSchedule.Constant(0.5);
        var opt = new Sgd([new OptimizerSlot(p)], schedule);
        Assert.Throws<ArgumentNullException>(() => opt.Schedule = null!);
        Assert.Same(schedule, opt.Schedule);
        p.Grad.Fill(1f);
        opt.Step();
        Assert.Equal([1f - 0.5f, 2f - 0.5f], p.Data.ToArray());
    }

    [Theory]
    [InlineData(double.NaN, 1f)]
    [InlineData(-1e-3, 1f)]
    [InlineData(double.PositiveInfinity, 1f)]
    [InlineData(1e300, 1f)]  // finite in double, ∞ in float
    [InlineData(1e38, 16f)]  // finite in float, ∞ once a LoRA+ slot multiplies it
    public void ABadScheduledRateThrowsBeforeAnythingChanges(double lr, float scale)
    {
        var a = Param("a", 0.5f, -1f, 2f);
        var b = Param("b", 3f, -4f);
        var opt = new AdamW([new OptimizerSlot(a), new OptimizerSlot(b, scale)], new FixedSchedule(lr), maxGradNorm: 1e-3);
        a.Grad.Fill(2f);
        b.Grad.Fill(-3f);
        float[] aBefore = a.Data.ToArray(), bBefore = b.Data.ToArray(), gaBefore = a.Grad.ToArray(), gbBefore = b.Grad.ToArray();
        var e = Assert.Throws<InvalidOperationException>(opt.Step);
        Assert.Contains("FixedSchedule", e.Message);
        Assert.Contains("step 0", e.Message);
        Assert.Equal(0, opt.StepCount);
        Assert.Equal(aBefore, a.Data.ToArray());
        Assert.Equal(bBefore, b.Data.ToArray());
        Assert.Equal(gaBefore, a.Grad.ToArray()); // the clipping did not scale them either
        Assert.Equal(gbBefore, b.Grad.ToArray());
    }

    [Fact]
    public void TheLargestRateFloatHoldsIsStillAccepted()
    {
        // The check is on the float the update uses, not a tighter bound: lr = float.MaxValue with scale 1 runs.
        var p = Param("a", 0f);
        var opt = new Sgd([new OptimizerSlot(p)], new FixedSchedule(float.MaxValue));
        p.Grad[0] = 0.5f;
        opt.Step();
        Assert.Equal(-0.5f * float.MaxValue, p.Data[0]);
    }
}
