using Lora.Core.Experiments;

namespace Lora.Tests.Core.Experiments;

public class PhaseScheduleTests
{
    [Fact]
    public void ConstantKeepsThePhaseRate()
    {
        var s = new AdaptationOptions().ScheduleFor(0.03, 50);
        Assert.All(Enumerable.Range(0, 60), t => Assert.Equal(0.03, s.At(t)));
    }

    [Theory]
    [InlineData(100, 5)]
    [InlineData(20, 1)]
    [InlineData(2, 1)]
    public void CosineWarmsUpOverFivePercentThenDecaysToZero(int steps, int warmup)
    {
        var s = new AdaptationOptions { Schedule = PhaseSchedule.WarmupCosine }.ScheduleFor(0.03, steps);
        // Warm-up: lr·(t + 1)/warmup, so its last step already runs at the phase's rate, where the decay starts.
        for (int t = 0; t < warmup; t++) Assert.Equal(0.03 * (t + 1) / warmup, s.At(t), 12);
        for (int t = warmup + 1; t < steps; t++) Assert.True(s.At(t) < s.At(t - 1), $"decay falls at {t}");
        // Cosine from the peak to 0 at step `steps`, checked against the closed form in double.
        for (int t = warmup; t <= steps; t++)
            Assert.Equal(0.03 * 0.5 * (1 + Math.Cos(Math.PI * (t - warmup) / (steps - warmup))), s.At(t), 12);
    }

    [Fact]
    public void AOneStepPhaseIsConstantAndNamesRoundTrip()
    {
        Assert.Equal(0.5, new AdaptationOptions { Schedule = PhaseSchedule.WarmupCosine }.ScheduleFor(0.5, 1).At(0));
        foreach (var p in Enum.GetValues<PhaseSchedule>())
            Assert.True(AdaptationOptions.TryParseSchedule(AdaptationOptions.ScheduleName(p), out var back) && back == p);
        Assert.False(AdaptationOptions.TryParseSchedule("linear", out _));
        Assert.Throws<ArgumentException>(() => new AdaptationOptions { Schedule = (PhaseSchedule)7 }.Validate());
    }
}
