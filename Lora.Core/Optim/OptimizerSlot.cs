using Lora.Autograd;

namespace Lora.Core.Optim;

/// <summary>One trainable tensor as an optimizer sees it: its values, its gradient and its own settings.</summary>
/// <remarks>Value and gradient are views (no copy) of the parameter's storage. <see cref="LrScale"/> multiplies the
/// scheduled learning rate (LoRA+ gives B matrices ratio × A's rate); <see cref="Decay"/> turns weight decay off for
/// this tensor.</remarks>
public sealed class OptimizerSlot
{
    /// <summary>Creates a slot.</summary>
    /// <exception cref="ArgumentException">Value and gradient lengths differ, or the scale is not finite and ≥ 0.</exception>
    public OptimizerSlot(string name, Memory<float> value, Memory<float> gradient, float lrScale = 1f, bool decay = true)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (value.Length != gradient.Length)
            throw new ArgumentException($"Optimizer slot '{name}': value has {value.Length} elements but gradient {gradient.Length}.");
        if (!(float.IsFinite(lrScale) && lrScale >= 0))
            throw new ArgumentException($"Optimizer slot '{name}': learning-rate scale {lrScale} must be finite and ≥ 0.", nameof(lrScale));
        Name = name; _value = value; _gradient = gradient; LrScale = lrScale; Decay = decay;
    }

    /// <summary>A slot over a parameter's values and its gradient (wherever the parameter keeps it).</summary>
    public OptimizerSlot(Parameter parameter, float lrScale = 1f, bool decay = true)
        : this(parameter?.Name ?? throw new ArgumentNullException(nameof(parameter)), Memory<float>.Empty, Memory<float>.Empty, lrScale, decay)
    {
        _parameter = parameter;
    }

    readonly Memory<float> _value, _gradient;
    readonly Parameter? _parameter;

    /// <summary>The parameter behind this slot, if it was made from one.</summary>
    public Parameter? Parameter => _parameter;

    /// <summary>The parameter's hierarchical name, e.g. <c>layers.0.lora_A.default.weight</c>.</summary>
    public string Name { get; }

    /// <summary>The values the optimizer updates in place.</summary>
    public Span<float> Value => _parameter is null ? _value.Span : _parameter.Data;

    /// <summary>The gradient accumulated by the backward pass.</summary>
    public Span<float> Gradient => _parameter is null ? _gradient.Span : _parameter.Grad;

    /// <summary>Factor on the scheduled learning rate for this tensor.</summary>
    public float LrScale { get; }

    /// <summary>Whether weight decay applies to this tensor.</summary>
    public bool Decay { get; }

    /// <summary>The number of elements.</summary>
    public int Length => _parameter?.Length ?? _value.Length;
}
