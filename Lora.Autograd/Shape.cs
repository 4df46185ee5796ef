namespace Lora.Autograd;

/// <summary>The dimensions of a tensor: rank 0 (a scalar) to 4, row-major, stored inline (no allocation).</summary>
public readonly struct Shape : IEquatable<Shape>
{
    /// <summary>The largest supported rank.</summary>
    public const int MaxRank = 4;

    readonly int _d0, _d1, _d2, _d3, _length;

    /// <summary>A shape with the given dimensions (none for a scalar).</summary>
    /// <exception cref="ArgumentException">More than four dimensions, a negative one, or more than int.MaxValue elements.</exception>
    public Shape(params ReadOnlySpan<int> dims)
    {
        if (dims.Length > MaxRank) throw new ArgumentException($"rank {dims.Length} exceeds the maximum of {MaxRank}.", nameof(dims));
        long length = 1;
        foreach (int d in dims)
        {
            if (d < 0) throw new ArgumentException($"dimension {d} is negative.", nameof(dims));
            length *= d;
            if (length > int.MaxValue)
                throw new ArgumentException(dims.Contains(0)
                    // No elements, but the product of its leading axes (its row count) still has to fit an int.
                    ? $"shape ({string.Join(", ", dims.ToArray())}) is empty, but the product of its leading dimensions exceeds int.MaxValue (2^31 - 1)."
                    : $"shape ({string.Join(", ", dims.ToArray())}) has more than int.MaxValue (2^31 - 1) elements; a tensor is one .NET array.", nameof(dims));
        }
        Rank = dims.Length;
        _d0 = dims.Length > 0 ? dims[0] : 0;
        _d1 = dims.Length > 1 ? dims[1] : 0;
        _d2 = dims.Length > 2 ? dims[2] : 0;
        _d3 = dims.Length > 3 ? dims[3] : 0;
        _length = (int)length;
    }

    /// <summary>The rank-0 shape of a scalar (one element).</summary>
    public static Shape Scalar => new(ReadOnlySpan<int>.Empty);

    /// <summary>The number of dimensions, 0 to 4.</summary>
    public int Rank { get; }

    /// <summary>The number of elements (1 for a scalar).</summary>
    public int Length => Rank == 0 ? 1 : _length; // default(Shape) is the scalar shape too

    /// <summary>The size along an axis; negative axes count from the end (−1 is the last).</summary>
    public int this[int axis]
    {
        get
        {
            int a = axis < 0 ? axis + Rank : axis;
            if ((uint)a >= (uint)Rank) throw new ArgumentOutOfRangeException(nameof(axis), $"axis {axis} is out of range for shape {this}.");
            return a switch { 0 => _d0, 1 => _d1, 2 => _d2, _ => _d3 };
        }
    }

    /// <summary>The size of the last axis (1 for a scalar): the row length when the tensor is seen as a matrix.</summary>
    public int Last => Rank == 0 ? 1 : this[Rank - 1];

    /// <summary>The product of all but the last axis: the row count when the tensor is seen as a matrix.</summary>
    public int Rows => Rank <= 1 ? 1 : Length == 0 ? RowsSlow() : Length / Last;

    /// <summary>The sizes of the axes as a new array (empty for a scalar), e.g. for a file's shape field.</summary>
    public int[] ToArray()
    {
        var d = new int[Rank];
        for (int i = 0; i < d.Length; i++) d[i] = this[i];
        return d;
    }

    /// <summary>This shape with the last axis replaced (a scalar becomes rank 1).</summary>
    public Shape WithLast(int size) => Rank switch
    {
        0 or 1 => new Shape(size),
        2 => new Shape(_d0, size),
        3 => new Shape(_d0, _d1, size),
        _ => new Shape(_d0, _d1, _d2, size),
    };

    int RowsSlow()
    {
        int r = 1;
        for (int i = 0; i < Rank - 1; i++) r *= this[i];
        return r;
    }

    /// <inheritdoc/>
    public bool Equals(Shape other) => Rank == other.Rank && _d0 == other._d0 && _d1 == other._d1 && _d2 == other._d2 && _d3 == other._d3;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Shape s && Equals(s);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Rank, _d0, _d1, _d2, _d3);

    /// <summary>Equal rank and dimensions.</summary>
    public static bool operator ==(Shape a, Shape b) => a.Equals(b);

    /// <summary>Different rank or dimensions.</summary>
    public static bool operator !=(Shape a, Shape b) => !a.Equals(b);

    /// <summary>PyTorch-style text, e.g. <c>(2, 3)</c>; a scalar is <c>()</c>.</summary>
    public override string ToString() => Rank switch
    {
        0 => "()",
        1 => $"({_d0})",
        2 => $"({_d0}, {_d1})",
        3 => $"({_d0}, {_d1}, {_d2})",
        _ => $"({_d0}, {_d1}, {_d2}, {_d3})",
    };
}
