using System.Globalization;

namespace Lora.Core.Optim;

/// <summary>The learning rate as a function of the optimizer step t = 0, 1, 2, … (the step about to be taken).</summary>
/// <remarks>
/// Schedules compose: <c>LearningRateSchedule.LinearWarmup(1e-3, 100).Then(100, LearningRateSchedule.Cosine(1e-3, 900))</c>
/// warms up over 100 steps and then decays over 900; <see cref="WarmupCosine"/> builds exactly that. Optimizers call
/// <see cref="At"/> once per step; LoRA+ and parameter groups multiply the value by their own factor.
/// </remarks>
public abstract class LearningRateSchedule
{
    /// <summary>The learning rate for step <paramref name="step"/> (≥ 0).</summary>
    public abstract double At(long step);

    /// <summary>This schedule for steps t &lt; <paramref name="steps"/>, then <paramref name="next"/> at t − steps.</summary>
    /// <exception cref="ArgumentException"><paramref name="steps"/> &lt; 0.</exception>
    public LearningRateSchedule Then(long steps, LearningRateSchedule next)
    {
        ArgumentNullException.ThrowIfNull(next);
        if (steps < 0) throw new ArgumentException($"Then: steps {steps} must be ≥ 0.", nameof(steps));
        return new Sequence(this, steps, next);
    }

    /// <summary>The same learning rate at every step.</summary>
    public static LearningRateSchedule Constant(double lr) => new ConstantSchedule(CheckLr(lr, nameof(lr)));

    /// <summary>Linear warm-up: lr·(t + 1)/steps for t &lt; steps, then lr.</summary>
    /// <remarks>The first step already uses lr/steps (not 0), so no step is wasted; after <paramref name="steps"/>
    /// steps the rate is exactly lr.</remarks>
    public static LearningRateSchedule LinearWarmup(double lr, long steps)
    {
        CheckLr(lr, nameof(lr));
        if (steps < 1) throw new ArgumentException($"LinearWarmup: steps {steps} must be ≥ 1.", nameof(steps));
        return new WarmupSchedule(lr, steps);
    }

    /// <summary>Cosine decay from lr to minLr over <paramref name="steps"/> steps, then minLr:
    /// minLr + (lr − minLr)·(1 + cos(π·min(t, T)/T))/2.</summary>
    public static LearningRateSchedule Cosine(double lr, long steps, double minLr = 0)
    {
        CheckLr(lr, nameof(lr));
        CheckLr(minLr, nameof(minLr));
        if (steps < 1) throw new ArgumentException($"Cosine: steps {steps} must be ≥ 1.", nameof(steps));
        return new CosineSchedule(lr, steps, minLr);
    }

    /// <summary>Linear warm-up over <paramref name="warmupSteps"/>, then cosine decay to <paramref name="minLr"/>
    /// at <paramref name="totalSteps"/>.</summary>
    public static LearningRateSchedule WarmupCosine(double lr, long warmupSteps, long totalSteps, double minLr = 0)
    {
        if (warmupSteps < 0) throw new ArgumentException($"WarmupCosine: warmupSteps {warmupSteps} must be ≥ 0.", nameof(warmupSteps));
        if (totalSteps <= warmupSteps)
            throw new ArgumentException($"WarmupCosine: totalSteps {totalSteps} must exceed warmupSteps {warmupSteps}.", nameof(totalSteps));
        var decay = Cosine(lr, totalSteps - warmupSteps, minLr);
        return warmupSteps == 0 ? decay : LinearWarmup(lr, warmupSteps).Then(warmupSteps, decay);
    }

    static double CheckLr(double lr, string name) => double.IsFinite(lr) && lr >= 0 ? lr
        : throw new ArgumentException($"Learning rate {name} = {lr.ToString("R", CultureInfo.InvariantCulture)} must be finite and ≥ 0.", name);

    static long CheckStep(long step) => step >= 0 ? step : throw new ArgumentException($"Schedule step {step} must be ≥ 0.", nameof(step));

    sealed class ConstantSchedule(double lr) : LearningRateSchedule
    {
        public override double At(long step) { CheckStep(step); return lr; }
    }

    sealed class WarmupSchedule(double lr, long steps) : LearningRateSchedule
    {
        public override double At(long step) => CheckStep(step) < steps ? lr * (step + 1) / steps : lr;
    }

    sealed class CosineSchedule(double lr, long steps, double minLr) : LearningRateSchedule
    {
        public override double At(long step) =>
            minLr + (lr - minLr) * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(CheckStep(step), steps) / steps));
    }

    sealed class Sequence(LearningRateSchedule first, long steps, LearningRateSchedule next) : LearningRateSchedule
    {
        public override double At(long step) => CheckStep(step) < steps ? first.At(step) : next.At(step - steps);
    }
}
