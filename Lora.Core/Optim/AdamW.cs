namespace Lora.Core.Optim;

/// <summary>Adam with decoupled weight decay and bias-corrected moments (PyTorch's <c>torch.optim.AdamW</c>).</summary>
/// <remarks>Two floats of state (m, v) per trainable element, allocated as two contiguous arenas at construction.
/// See <see cref="UpdateRules.AdamW"/> for the formula.</remarks>
public sealed class AdamW : Optimizer
{
    readonly Memory<float>[] _m, _v;
    readonly double _beta1, _beta2;

    /// <summary>Creates AdamW over <paramref name="slots"/> (PyTorch's defaults: β = (0.9, 0.999), ε = 1e-8, λ = 0.01).</summary>
    /// <exception cref="ArgumentException">β outside [0, 1), ε ≤ 0, or negative weight decay, also once rounded to the
    /// float32 the update uses (β within 2⁻²⁵ of 1 rounds to 1, ε below 2⁻¹⁴⁹ to 0).</exception>
    public AdamW(IEnumerable<OptimizerSlot> slots, LearningRateSchedule schedule, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 0.01, double? maxGradNorm = null)
        : base(slots, schedule, maxGradNorm)
    {
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentException($"AdamW: beta1 {beta1} must be in [0, 1).", nameof(beta1));
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentException($"AdamW: beta2 {beta2} must be in [0, 1).", nameof(beta2));
        if (!(eps > 0 && double.IsFinite(eps))) throw new ArgumentException($"AdamW: eps {eps} must be finite and > 0.", nameof(eps));
        if (!(weightDecay >= 0 && double.IsFinite(weightDecay))) throw new ArgumentException($"AdamW: weight decay {weightDecay} must be finite and ≥ 0.", nameof(weightDecay));
        // The update runs in float: β2 = 1 − 1e-9 passes the checks above but is 1 in float, so v never grew and
        // every step was lr·m/ε; ε = 1e-50 is 0 in float, so a zero gradient gave 0/0 = NaN.
        if ((float)beta1 >= 1) throw new ArgumentException($"AdamW: beta1 {beta1} rounds to 1 in float32 (it must be below 1 − 2⁻²⁵).", nameof(beta1));
        if ((float)beta2 >= 1) throw new ArgumentException($"AdamW: beta2 {beta2} rounds to 1 in float32 (it must be below 1 − 2⁻²⁵).", nameof(beta2));
        if (!((float)eps > 0 && float.IsFinite((float)eps))) throw new ArgumentException($"AdamW: eps {eps} is {(float)eps} in float32; it must be positive and finite there.", nameof(eps));
        if (!float.IsFinite((float)weightDecay)) throw new ArgumentException($"AdamW: weight decay {weightDecay} overflows float32.", nameof(weightDecay));
        _beta1 = beta1; _beta2 = beta2;
        Beta1 = (float)beta1; Beta2 = (float)beta2; Eps = (float)eps; WeightDecay = (float)weightDecay;
        _m = AllocateState();
        _v = AllocateState();
    }

    /// <summary>β1, the first-moment decay.</summary>
    public float Beta1 { get; }

    /// <summary>β2, the second-moment decay.</summary>
    public float Beta2 { get; }

    /// <summary>ε in the denominator.</summary>
    public float Eps { get; }

    /// <summary>λ, the decoupled weight decay: p ← p·(1 − lr·λ).</summary>
    public float WeightDecay { get; }

    /// <inheritdoc/>
    public override int StateFloatsPerParameter => 2;

    /// <inheritdoc/>
    protected override IReadOnlyList<(string Kind, Memory<float>[] Views)> StateKinds => [("exp_avg", _m), ("exp_avg_sq", _v)];

    /// <inheritdoc/>
    protected override void Update(int index, Span<float> value, ReadOnlySpan<float> gradient, float lr, bool decay)
    {
        // The step size depends on the per-slot lr (LoRA+), so the constants are formed per slot (two Math.Pow);
        // β enters the bias corrections in double, as in PyTorch, with the slot's own step count: a slot that was
        // frozen for a while has fresh moments (or moments that waited) and needs its own correction.
        var (stepSize, invSqrtBias2) = UpdateRules.AdamWConstants(lr, _beta1, _beta2, SlotStepCount(index));
        UpdateRules.AdamW(value, gradient, _m[index].Span, _v[index].Span, lr, Beta1, Beta2, Eps,
            decay ? WeightDecay : 0f, stepSize, invSqrtBias2);
    }
}
