namespace Lora.Core.IO;

/// <summary>A named float32 tensor as it travels to and from files: a name, a row-major shape and its values.</summary>
/// <remarks>
/// This is the file layer's own small type, independent of the autograd tensor, so the module layer maps to and
/// from it. <see cref="Data"/> holds product(<see cref="Shape"/>) values in C order; a scalar has an empty shape
/// and one value. <see cref="SourceDType"/> records how the values were stored when they were read from a file
/// (F16 and BF16 are widened to float32 exactly); writers always store F32.
/// </remarks>
public sealed class TensorData
{
    /// <summary>The tensor's name, e.g. <c>layers.0.weight</c>.</summary>
    public string Name { get; }

    /// <summary>The dimensions, outermost first (PyTorch's order: a Linear weight is (out, in)).</summary>
    public int[] Shape { get; }

    /// <summary>The values in row-major order; its length is the product of <see cref="Shape"/>.</summary>
    public float[] Data { get; }

    /// <summary>The element type the values were stored as in the file they came from (F32 when built in memory).</summary>
    public SafeTensorsDType SourceDType { get; }

    /// <summary>Wraps <paramref name="data"/> (not copied) as a tensor of the given shape.</summary>
    /// <exception cref="ArgumentException">An empty name, a negative dimension, or a data length other than the
    /// product of the shape.</exception>
    public TensorData(string name, int[] shape, float[] data)
        : this(name, shape, data, SafeTensorsDType.F32) { }

    internal TensorData(string name, int[] shape, float[] data, SafeTensorsDType sourceDType)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        if (name.Length == 0) throw new ArgumentException("A tensor name must not be empty.", nameof(name));
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Tensor '{name}': negative dimension in shape {FormatShape(shape)}.", nameof(shape));
            count *= d;
            if (count > Array.MaxLength) throw new ArgumentException($"Tensor '{name}': shape {FormatShape(shape)} is too large.", nameof(shape));
        }
        if (count != data.Length)
            throw new ArgumentException(
                $"Tensor '{name}': shape {FormatShape(shape)} holds {count} values but {data.Length} were given.", nameof(data));
        Name = name;
        Shape = shape;
        Data = data;
        SourceDType = sourceDType;
    }

    /// <summary>The number of values, the product of the shape.</summary>
    public int Count => Data.Length;

    /// <summary>True when the shape equals <paramref name="expected"/> dimension by dimension.</summary>
    public bool HasShape(params int[] expected) => Shape.AsSpan().SequenceEqual(expected);

    /// <summary>A copy with a new name and its own copy of shape and data.</summary>
    public TensorData Clone(string? newName = null) =>
        new(newName ?? Name, (int[])Shape.Clone(), (float[])Data.Clone(), SourceDType);

    /// <summary>Formats a shape the way error messages show it, e.g. <c>(16, 8)</c>.</summary>
    public static string FormatShape(ReadOnlySpan<int> shape)
    {
        if (shape.Length == 0) return "()";
        var parts = new string[shape.Length];
        for (int i = 0; i < shape.Length; i++) parts[i] = shape[i].ToString(System.Globalization.CultureInfo.InvariantCulture);
        return "(" + string.Join(", ", parts) + ")";
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {FormatShape(Shape)} {SourceDType}";
}
