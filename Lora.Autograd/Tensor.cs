using System.Runtime.CompilerServices;

namespace Lora.Autograd;

/// <summary>
/// A dense float32 tensor: row-major, contiguous, rank 0–4, with an optional gradient of the same shape.
/// </summary>
/// <remarks>
/// Tensors you create with a constructor own (or wrap) their storage and live as long as you keep them. Tensors
/// returned by <see cref="Ops"/> are <em>activations</em>: their storage is rented from the thread's
/// <see cref="Tape"/> and goes back to it on <see cref="Tape.Reset"/>, after which they must not be used (their
/// <see cref="Data"/> throws until the object is reused by a later op — do not keep references across a reset).
/// <see cref="Grad"/> is allocated, zeroed, on first use; gradients add up over backward passes until
/// <see cref="ZeroGrad"/>.
/// </remarks>
public class Tensor
{
    internal float[]? _data;
    internal int _offset;
    internal Shape _shape;
    internal float[]? _grad;
    internal int _gradOffset;
    internal bool _requiresGrad;
    /// <summary>Set for tensors made by an op (their storage belongs to the tape).</summary>
    internal Tape? _tape;
    internal bool _ownsData;   // pooled data to return on reset (false for views)
    internal bool _ownsGrad;   // pooled grad to return on reset

    /// <summary>A zero-filled tensor that owns its storage.</summary>
    public Tensor(Shape shape, bool requiresGrad = false, string? name = null)
        : this(new float[shape.Length], 0, shape, requiresGrad, name) { }

    /// <summary>A tensor over <paramref name="data"/> (no copy): element i is <c>data[i]</c>.</summary>
    public Tensor(float[] data, Shape shape, bool requiresGrad = false, string? name = null)
        : this(data, 0, shape, requiresGrad, name)
    {
        if (data.Length != shape.Length)
            throw new ArgumentException($"data has {data.Length} elements but shape {shape} needs {shape.Length}.", nameof(data));
    }

    /// <summary>A tensor over <c>data[offset .. offset + shape.Length)</c> (no copy), e.g. a slice of a parameter arena.</summary>
    public Tensor(float[] data, int offset, Shape shape, bool requiresGrad = false, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (offset < 0 || (long)offset + shape.Length > data.Length)
            throw new ArgumentException($"data has {data.Length} elements; offset {offset} with shape {shape} does not fit.", nameof(offset));
        _data = data;
        _offset = offset;
        _shape = shape;
        _requiresGrad = requiresGrad;
        Name = name;
    }

    /// <summary>For the tape's pool: an empty shell filled in by <see cref="Tape"/>.</summary>
    internal Tensor() { }

    /// <summary>The dimensions.</summary>
    public Shape Shape => _shape;

    /// <summary>The number of elements.</summary>
    public int Length => _shape.Length;

    /// <summary>An optional name, used in error messages (parameters always have one).</summary>
    public string? Name { get; set; }

    /// <summary>Whether gradients flow to this tensor. Settable on tensors you create; an op's output requires a
    /// gradient exactly when one of its inputs does (and gradients are enabled).</summary>
    public virtual bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (_tape != null) throw new InvalidOperationException($"RequiresGrad of {Describe()} is decided by the op that made it; set it on a leaf.");
            _requiresGrad = value;
        }
    }

    /// <summary>The elements, row-major.</summary>
    public Span<float> Data
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            var d = _data ?? throw Released();
            return new Span<float>(d, _offset, _shape.Length);
        }
    }

    /// <summary>The gradient, same shape as <see cref="Data"/>; allocated and zeroed on first access.</summary>
    public Span<float> Grad
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if (_grad == null) AllocateGrad();
            return new Span<float>(_grad, _gradOffset, _shape.Length);
        }
    }

    /// <summary>
    /// The gradient for a backward that writes every element of it: an activation with no gradient yet gets a pooled
    /// buffer without the zeroing pass and <paramref name="overwrite"/> = true (store, do not add); otherwise this is
    /// <see cref="Grad"/> with <paramref name="overwrite"/> = false (add into it).
    /// </summary>
    /// <remarks>Saves a clearing pass and a read of the gradient on the common chain where each activation feeds one op.
    /// Storing v instead of adding it to +0 differs only in the sign of a zero result.</remarks>
    internal Span<float> GradForWrite(out bool overwrite)
    {
        if (_grad == null && _tape != null)
        {
            if (_data == null) throw Released();
            _grad = _tape.Pool.RentFloats(_shape.Length);
            _gradOffset = 0;
            _ownsGrad = true;
            overwrite = true;
            return new Span<float>(_grad, 0, _shape.Length);
        }
        overwrite = false;
        return Grad;
    }

    /// <summary>Whether a gradient buffer exists (reading <see cref="Grad"/> would not allocate).</summary>
    public bool HasGrad => _grad != null;

    /// <summary>The value of a one-element tensor.</summary>
    public float Item => Length == 1 ? Data[0] : throw new InvalidOperationException($"Item needs a one-element tensor, but {Describe()} has {Length}.");

    /// <summary>Sets the gradient to zero (no-op when none was allocated).</summary>
    public void ZeroGrad()
    {
        if (_grad != null) new Span<float>(_grad, _gradOffset, _shape.Length).Clear();
    }

    /// <summary>A copy of the elements.</summary>
    public float[] ToArray() => Data.ToArray();

    /// <summary>Backpropagates from this one-element tensor (seed 1) through the tape that recorded it.</summary>
    /// <exception cref="InvalidOperationException">More than one element, no gradient required, or the tape was already consumed.</exception>
    public void Backward()
    {
        if (Length != 1)
            throw new InvalidOperationException($"Backward() without a seed needs a one-element (scalar) tensor, but {Describe()} has shape {Shape}; pass a seed gradient of that shape.");
        ReadOnlySpan<float> one = [1f];
        Backward(one);
    }

    /// <summary>Backpropagates from this tensor with the given seed gradient (same number of elements).</summary>
    /// <exception cref="ObjectDisposedException">The tensor is an activation released by <see cref="Tape.Reset"/>.</exception>
    public void Backward(ReadOnlySpan<float> seed)
    {
        if (seed.Length != Length)
            throw new ArgumentException($"seed has {seed.Length} elements but {Describe()} has shape {Shape}.", nameof(seed));
        if (_data == null) throw Released(); // a reset also clears RequiresGrad: say why, not "needs no gradient"
        if (!RequiresGrad)
            throw new InvalidOperationException($"{Describe()} does not require a gradient: no input requires one, or it was computed under Tape.NoGrad().");
        if (_tape == null)
        {
            Kernels.Elementwise.AddInto(seed, Grad); // a leaf: its gradient is the seed itself
            return;
        }
        _tape.Backward(this, seed);
    }

    internal virtual void AllocateGrad()
    {
        if (_data == null) throw Released();
        if (_tape != null)
        {
            _grad = _tape.Pool.RentFloats(_shape.Length);
            _gradOffset = 0;
            _ownsGrad = true;
            new Span<float>(_grad, 0, _shape.Length).Clear();
        }
        else
        {
            _grad = new float[_shape.Length];
            _gradOffset = 0;
        }
    }

    internal string Describe() => Name != null ? $"'{Name}' {Shape}" : $"tensor {Shape}";

    ObjectDisposedException Released() =>
        new(nameof(Tensor), "This activation was returned to the pool by Tape.Reset(); tensors made by ops live until the next reset.");

    /// <summary>Shape and name, e.g. <c>Tensor(2, 3) 'w'</c>.</summary>
    public override string ToString() => Name != null ? $"Tensor{Shape} '{Name}'" : $"Tensor{Shape}";
}
