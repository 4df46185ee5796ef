using Lora.Core.Optim;

namespace Lora.Tests.Core.Optim;

public class ScheduleAndClippingTests
{
    [Fact]
    public void ConstantIsConstant()
    {
        var s = LearningRateSchedule.Constant(0.01);
        Assert.Equal(0.01, s.At(0));
        Assert.Equal(0.01, s.At(1_000_000));
    }

    [Fact]
    public void WarmupRampsLinearlyThenHolds()
    {
        var s = LearningRateSchedule.LinearWarmup(1.0, 4);
        Assert.Equal([0.25, 0.5, 0.75, 1.0, 1.0], Enumerable.Range(0, 5).Select(t => s.At(t)).ToArray());
    }

    [Fact]
    public void CosineFollowsTheFormula()
    {
        var s = LearningRateSchedule.Cosine(2.0, 10, minLr: 0.5);
        for (int t = 0; t <= 12; t++)
        {
            double expected = 0.5 + 1.5 * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(t, 10) / 10.0));
            Assert.Equal(expected, s.At(t), 12);
        }
        Assert.Equal(2.0, s.At(0));
        Assert.Equal(0.5, s.At(10), 12);
    }

    [Fact]
    public void WarmupCosineComposes()
    {
        var s = LearningRateSchedule.WarmupCosine(1.0, warmupSteps: 2, totalSteps: 6);
        Assert.Equal(0.5, s.At(0));
        Assert.Equal(1.0, s.At(1));
        Assert.Equal(1.0, s.At(2));                       // cosine starts at its peak
        Assert.Equal(0.5, s.At(4), 12);                   // half-way through the 4 decay steps
        Assert.Equal(0.0, s.At(6), 12);
    }

    [Fact]
    public void BadSchedulesThrow()
    {
        Assert.Throws<ArgumentException>(() => LearningRateSchedule.Constant(-1));
        Assert.Throws<ArgumentException>(() => LearningRateSchedule.Constant(double.NaN));
        Assert.Throws<ArgumentException>(() => LearningRateSchedule.LinearWarmup(1, 0));
        Assert.Throws<ArgumentException>(() => LearningRateSchedule.Cosine(1, 0));
        Assert.Throws<ArgumentException>(() => LearningRateSchedule.WarmupCosine(1, 5, 5));
        Assert.Throws<ArgumentException>(() => LearningRateSchedule.Constant(1).At(-1));
    }

    [Fact]
    public void ClippingScalesToMaxNormOnlyWhenAbove()
    {
        float[] a = [3, 0], b = [0, 4];                  // total norm 5
        double norm = GradientClipping.Clip([a, b], maxNorm: 1);
        Assert.Equal(5.0, norm, 12);
        double coef = 1 / (5 + 1e-6);
        Assert.Equal((float)(3 * coef), a[0], 6);
        Assert.Equal((float)(4 * coef), b[1], 6);
        Assert.Equal(1.0, GradientClipping.TotalNorm([a, b]), 5);

        float[] c = [0.3f, 0.4f];
        Assert.Equal(0.5, GradientClipping.Clip([c], maxNorm: 1), 6);
        Assert.Equal([0.3f, 0.4f], c);                    // below the threshold: untouched, bit for bit
    }

    [Fact]
    public void NonFiniteNormIsReportedNotSpread()
    {
        float[] a = [float.NaN, 1];
        Assert.True(double.IsNaN(GradientClipping.Clip([a], 1)));
        Assert.Equal(1f, a[1]);
        Assert.Throws<ArgumentException>(() => GradientClipping.Coefficient(1, 0));
    }
}
