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
    public void ANegativeWarmupIsNamedAsSuch()
    {
        // It used to be reported as "LinearWarmup: steps -1", a call the user never made.
        var e = Assert.Throws<ArgumentException>(() => LearningRateSchedule.WarmupCosine(0.1, -1, 10));
        Assert.Equal("warmupSteps", e.ParamName);
        Assert.Contains("WarmupCosine", e.Message);
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

/// <summary>Hyper-parameters are checked as the float32 the update uses: β within 2⁻²⁵ of 1 rounds to 1 (AdamW's v
/// never grew, so steps were lr·m/ε, about 10⁷·lr), ε below 2⁻¹⁴⁹ rounds to 0 (a zero gradient gave 0/0 = NaN).</summary>
public class OptimizerFloatRangeTests
{
    static OptimizerSlot[] Slot() => [new OptimizerSlot(new Parameter("a", [1f, 2f], new Shape(2)))];

    static readonly LearningRateSchedule Lr = LearningRateSchedule.Constant(1e-3);

    [Theory]
    [InlineData(1 - 1e-9, 0.999, 1e-8, "beta1")]
    [InlineData(0.9, 1 - 1e-9, 1e-8, "beta2")]
    [InlineData(0.9, 0.999, 1e-50, "eps")]
    public void AdamWRefusesValuesThatLeaveTheirRangeInFloat(double beta1, double beta2, double eps, string name)
    {
        var e = Assert.Throws<ArgumentException>(() => new AdamW(Slot(), Lr, beta1, beta2, eps));
        Assert.Equal(name, e.ParamName);
    }

    [Fact]
    public void SgdRefusesAMomentumThatIsOneInFloat()
    {
        var e = Assert.Throws<ArgumentException>(() => new Sgd(Slot(), Lr, momentum: 1 - 1e-9));
        Assert.Equal("momentum", e.ParamName);
    }

    [Fact]
    public void TheLargestFloatBelowOneAndTheSmallestPositiveEpsAreAccepted()
    {
        double below = 1 - Math.Pow(2, -24); // float's largest value below 1
        var p = new Parameter("a", [1f, 2f], new Shape(2));
        var opt = new AdamW([new OptimizerSlot(p)], Lr, below, below, float.Epsilon, 0);
        p.Grad[0] = 0; p.Grad[1] = 0.5f;
        opt.Step();
        Assert.Equal(1f, p.Data[0]); // a zero gradient moves nothing (no 0/0)
        Assert.True(float.IsFinite(p.Data[1]));
        Assert.Equal((float)below, new Sgd([new OptimizerSlot(new Parameter("b", [1f], new Shape(1)))], Lr, momentum: below).Momentum);
    }
}
