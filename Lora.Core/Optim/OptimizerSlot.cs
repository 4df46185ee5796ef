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
        Name = name; Value = value; Gradient = gradient; LrScale = lrScale; Decay = decay;
    }

    /// <summary>The parameter's hierarchical name, e.g. <c>layers.0.lora_A.default.weight</c>.</summary>
    public string Name { get; }

    /// <summary>The values the optimizer updates in place.</summary>
    public Memory<float> Value { get; }

    /// <summary>The gradient accumulated by the backward pass.</summary>
    public Memory<float> Gradient { get; }

    /// <summary>Factor on the scheduled learning rate for this tensor.</summary>
    public float LrScale { get; }

    /// <summary>Whether weight decay applies to this tensor.</summary>
    public bool Decay { get; }

    /// <summary>The number of elements.</summary>
    public int Length => Value.Length;
}
