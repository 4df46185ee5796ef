namespace Lora.Core.Optim;

/// <summary>Stochastic gradient descent with optional momentum, Nesterov momentum and (coupled) weight decay.</summary>
/// <remarks>PyTorch's <c>torch.optim.SGD</c> with dampening 0; see <see cref="UpdateRules.Sgd"/> for the formula.
/// The momentum buffer (one float per trainable element) exists only when momentum ≠ 0.</remarks>
public sealed class Sgd : Optimizer
{
    readonly Memory<float>[]? _buffers;

    /// <summary>Creates SGD over <paramref name="slots"/>.</summary>
    /// <exception cref="ArgumentException">Momentum outside [0, 1) (also once rounded to float32: within 2⁻²⁵ of 1 it is 1),
    /// negative or (in float32) infinite weight decay, Nesterov without momentum.</exception>
    public Sgd(IEnumerable<OptimizerSlot> slots, LearningRateSchedule schedule, double momentum = 0, double weightDecay = 0,
        bool nesterov = false, double? maxGradNorm = null)
        : base(slots, schedule, maxGradNorm)
    {
        if (!(momentum >= 0 && momentum < 1)) throw new ArgumentException($"Sgd: momentum {momentum} must be in [0, 1).", nameof(momentum));
        if (!(weightDecay >= 0 && double.IsFinite(weightDecay))) throw new ArgumentException($"Sgd: weight decay {weightDecay} must be finite and ≥ 0.", nameof(weightDecay));
        if ((float)momentum >= 1) throw new ArgumentException($"Sgd: momentum {momentum} rounds to 1 in float32, where the update runs (it must be below 1 − 2⁻²⁵).", nameof(momentum));
        if (!float.IsFinite((float)weightDecay)) throw new ArgumentException($"Sgd: weight decay {weightDecay} overflows float32.", nameof(weightDecay));
        if (nesterov && momentum == 0) throw new ArgumentException("Sgd: Nesterov momentum needs momentum > 0.", nameof(nesterov));
        Momentum = (float)momentum; WeightDecay = (float)weightDecay; Nesterov = nesterov;
        if (momentum != 0) _buffers = AllocateState();
    }

    /// <summary>μ.</summary>
    public float Momentum { get; }

    /// <summary>λ, added to the gradient as λ·p.</summary>
    public float WeightDecay { get; }

    /// <summary>Whether the Nesterov form is used.</summary>
    public bool Nesterov { get; }

    /// <inheritdoc/>
    public override int StateFloatsPerParameter => Momentum != 0 ? 1 : 0;

    /// <inheritdoc/>
    protected override IReadOnlyList<(string Kind, Memory<float>[] Views)> StateKinds =>
        _buffers is null ? [] : [("momentum_buffer", _buffers)];

    /// <inheritdoc/>
    protected override void Update(int index, Span<float> value, ReadOnlySpan<float> gradient, float lr, bool decay) =>
        UpdateRules.Sgd(value, gradient, _buffers is null ? default : _buffers[index].Span, lr, Momentum, decay ? WeightDecay : 0f, Nesterov);
}
