using Lora.Autograd;

namespace Lora.Core.Modules;

/// <summary>(N, …) → (N, product of the rest): a view, no copy (PyTorch's <c>nn.Flatten()</c> with its defaults).</summary>
public sealed class Flatten : Module
{
    /// <summary>x (N, d1, …) → (N, d1·…); a rank-1 or rank-2 input is returned as (N, rest) too.</summary>
    /// <exception cref="ArgumentException">A rank-0 input (no batch axis).</exception>
    public override Tensor Forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Shape.Rank == 0) throw new ArgumentException($"Flatten: a scalar tensor {x.Shape} has no batch axis.", nameof(x));
        if (x.Shape.Rank == 2) return x;
        return Ops.Reshape(x, new Shape(x.Shape[0], RestOf(x.Shape)));
    }

    static int RestOf(Shape s)
    {
        int rest = 1;
        for (int i = 1; i < s.Rank; i++) rest *= s[i];
        return rest;
    }

    /// <inheritdoc/>
    public override string ToString() => "Flatten()";
}
