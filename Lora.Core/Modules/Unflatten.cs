using Lora.Autograd;

namespace Lora.Core.Modules;

/// <summary>(N, C·H·W) → (N, C, H, W): a view, no copy. The datasets give flat rows; a CNN starts with this.</summary>
public sealed class Unflatten : Module
{
    /// <summary>Unflattens rows of channels·height·width values into (channels, height, width) images.</summary>
    /// <exception cref="ArgumentException">A non-positive size.</exception>
    public Unflatten(int channels, int height, int width)
    {
        if (channels <= 0 || height <= 0 || width <= 0)
            throw new ArgumentException($"Unflatten({channels}, {height}, {width}): sizes must be positive.");
        Channels = channels;
        Height = height;
        Width = width;
    }

    /// <summary>C.</summary>
    public int Channels { get; }

    /// <summary>H.</summary>
    public int Height { get; }

    /// <summary>W.</summary>
    public int Width { get; }

    /// <summary>x (N, C·H·W) → (N, C, H, W).</summary>
    /// <exception cref="ArgumentException">x is not (N, C·H·W).</exception>
    public override Tensor Forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        long row = (long)Channels * Height * Width;
        if (x.Shape.Rank != 2 || x.Shape[1] != row)
            throw new ArgumentException($"Unflatten({Channels}, {Height}, {Width}): expected (N, {row}), got a tensor {x.Shape}.", nameof(x));
        return Ops.Reshape(x, new Shape(x.Shape[0], Channels, Height, Width));
    }

    /// <inheritdoc/>
    public override string ToString() => $"Unflatten({Channels}, {Height}, {Width})";
}
