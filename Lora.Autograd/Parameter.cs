namespace Lora.Autograd;

/// <summary>A trainable leaf tensor with a name; it can be frozen, and then it gets no gradient and costs none.</summary>
/// <remarks>
/// Optimizers read <see cref="Tensor.Data"/> and <see cref="Tensor.Grad"/> as spans. Storage can live in a larger
/// arena (see the offset constructor and <see cref="SetGradStorage"/>) so that parameters, gradients and optimizer
/// moments are each one contiguous block.
/// </remarks>
public sealed class Parameter : Tensor
{
    /// <summary>A zero-filled trainable parameter.</summary>
    public Parameter(string name, Shape shape) : base(shape, true, name ?? throw new ArgumentNullException(nameof(name))) { }

    /// <summary>A trainable parameter over <paramref name="data"/> (no copy).</summary>
    public Parameter(string name, float[] data, Shape shape) : base(data, shape, true, name ?? throw new ArgumentNullException(nameof(name))) { }

    /// <summary>A trainable parameter over <c>data[offset .. offset + shape.Length)</c> (no copy).</summary>
    public Parameter(string name, float[] data, int offset, Shape shape) : base(data, offset, shape, true, name ?? throw new ArgumentNullException(nameof(name))) { }

    /// <summary>The parameter's name (e.g. <c>layers.0.weight</c>).</summary>
    public new string Name => base.Name!;

    /// <summary>A frozen parameter requires no gradient: ops skip every product that would only feed its gradient.</summary>
    public bool Frozen
    {
        get => !_requiresGrad;
        set => RequiresGrad = !value;
    }

    /// <summary>Same as <c>!Frozen</c>.</summary>
    public override bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (value && !_requiresGrad) UnfreezeCount++;
            _requiresGrad = value;
        }
    }

    /// <summary>How many times the parameter went from frozen to trainable. A copy derived from a frozen weight (the
    /// fused LoRA layer's packed W) is stale once this changes, because the weight may have been trained meanwhile.</summary>
    public long UnfreezeCount { get; private set; }

    /// <summary>Places the gradient in <c>array[offset .. offset + Length)</c>, copying any gradient accumulated so far.</summary>
    public void SetGradStorage(float[] array, int offset)
    {
        ArgumentNullException.ThrowIfNull(array);
        if (offset < 0 || (long)offset + Length > array.Length)
            throw new ArgumentException($"gradient storage of {array.Length} elements cannot hold '{Name}' {Shape} at offset {offset}.", nameof(offset));
        var target = new Span<float>(array, offset, Length);
        if (HasGrad) Grad.CopyTo(target); else target.Clear();
        _grad = array;
        _gradOffset = offset;
    }
}
