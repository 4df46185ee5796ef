using Lora.Core.Optim;

namespace Lora.Tests.Core.Optim;

/// <summary>
/// <see cref="Optimizer.NonFiniteGradients"/>: under Throw and Skip a step whose gradients hold a NaN or ∞ changes
/// nothing (parameters, moments, step counts), which a twin optimizer that never saw that step proves bit for bit
/// when both go on; under Apply (the default) the NaN reaches the parameter, as in PyTorch.
/// </summary>
public class NonFiniteGradientTests
{
    sealed class Run
    {
        public readonly float[] A = [0.5f, -1f, 2f], GA = new float[3], B = [1f, 0.25f], GB = new float[2];
        public readonly AdamW Opt;

        public Run(double? maxGradNorm, NonFiniteGradientPolicy policy)
        {
            Opt = new AdamW([new OptimizerSlot("a", A, GA, 1f, true), new OptimizerSlot("b", B, GB, 1f, true)],
                LearningRateSchedule.LinearWarmup(0.1, 3), weightDecay: 0.1, maxGradNorm: maxGradNorm) { NonFiniteGradients = policy };
        }

        public void Step(int t, float poison = 0f)
        {
            for (int i = 0; i < 3; i++) GA[i] = (float)Math.Sin(t + i);
            for (int i = 0; i < 2; i++) GB[i] = (float)Math.Cos(2 * t + i);
            if (poison != 0f) GB[1] = poison;
            Opt.Step();
        }
    }

    static void Same(Run x, Run y)
    {
        Assert.Equal(x.A.Select(BitConverter.SingleToInt32Bits), y.A.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(x.B.Select(BitConverter.SingleToInt32Bits), y.B.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(x.Opt.StepCount, y.Opt.StepCount);
    }

    [Theory]
    [InlineData(null, float.NaN)]
    [InlineData(null, float.PositiveInfinity)]
    [InlineData(0.5, float.NaN)]
    [InlineData(0.5, float.NegativeInfinity)]
    public void ThrowChangesNothingAndNamesTheStepAndTheElement(double? maxGradNorm, float poison)
    {
        var run = new Run(maxGradNorm, NonFiniteGradientPolicy.Throw);
        var twin = new Run(maxGradNorm, NonFiniteGradientPolicy.Throw);
        run.Step(1);
        twin.Step(1);
        float[] a = (float[])run.A.Clone(), b = (float[])run.B.Clone();
        var e = Assert.Throws<InvalidOperationException>(() => run.Step(2, poison));
        Assert.Contains("step 2", e.Message);
        Assert.Contains("'b' element 1", e.Message);
        Assert.Contains(float.IsNaN(poison) ? "NaN" : "∞", e.Message);
        Assert.Equal(a, run.A);
        Assert.Equal(b, run.B);
        Assert.Equal(poison, run.GB[1]); // the gradients are not scaled either
        Assert.Equal(1, run.Opt.StepCount);
        // Going on from here is going on as if the failed step had never been tried: same moments, same counts.
        for (int t = 3; t <= 5; t++)
        {
            run.Step(t);
            twin.Step(t);
        }
        Same(run, twin);
        Assert.True(double.IsFinite(run.Opt.LastGradNorm));
    }

    [Fact]
    public void SkipLeavesTheStepOutAndCountsIt()
    {
        var run = new Run(null, NonFiniteGradientPolicy.Skip);
        var twin = new Run(null, NonFiniteGradientPolicy.Skip);
        run.Step(1);
        twin.Step(1);
        run.Step(2, float.NaN);
        run.Step(3, float.PositiveInfinity);
        Assert.Equal(2, run.Opt.SkippedSteps);
        Assert.Equal(1, run.Opt.StepCount);
        Assert.True(double.IsNaN(run.Opt.LastGradNorm) || double.IsInfinity(run.Opt.LastGradNorm));
        for (int t = 4; t <= 6; t++)
        {
            run.Step(t);
            twin.Step(t);
        }
        Same(run, twin);
        Assert.Equal(0, twin.Opt.SkippedSteps);
    }

    [Fact]
    public void ApplyIsTheDefaultAndLetsTheNaNThrough()
    {
        var run = new Run(null, NonFiniteGradientPolicy.Apply);
        var fresh = new Sgd([new OptimizerSlot("x", new float[1], new float[1], 1f, true)], LearningRateSchedule.Constant(0.1));
        Assert.Equal(NonFiniteGradientPolicy.Apply, fresh.NonFiniteGradients);
        run.Step(1, float.NaN);
        Assert.True(float.IsNaN(run.B[1]));
        Assert.False(float.IsNaN(run.B[0]));
        Assert.Equal(1, run.Opt.StepCount);
        Assert.True(double.IsNaN(run.Opt.LastGradNorm)); // not computed: no clipping, no check
    }

    [Fact]
    public void APolicyOutsideTheEnumIsRejected()
    {
        var run = new Run(null, NonFiniteGradientPolicy.Throw);
        var e = Assert.Throws<ArgumentException>(() => run.Opt.NonFiniteGradients = (NonFiniteGradientPolicy)7);
        Assert.Contains("7", e.Message);
        Assert.Equal(NonFiniteGradientPolicy.Throw, run.Opt.NonFiniteGradients);
    }
}
