using Lora.Autograd;
using Lora.Core.IO;

namespace Lora.Core.Modules;

/// <summary>An element-wise nonlinearity without parameters (ReLU, tanh, sigmoid or GELU).</summary>
public sealed class Activation(ActivationKind kind) : Module
{
    /// <summary>Which function.</summary>
    public ActivationKind Kind { get; } = Enum.IsDefined(kind) ? kind : throw new ArgumentException($"Unknown activation {kind}.", nameof(kind));

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x) => Apply(Kind, x);

    /// <summary>Applies <paramref name="kind"/> to <paramref name="x"/>.</summary>
    public static Tensor Apply(ActivationKind kind, Tensor x) => kind switch
    {
        ActivationKind.Relu => Ops.Relu(x),
        ActivationKind.Tanh => Ops.Tanh(x),
        ActivationKind.Sigmoid => Ops.Sigmoid(x),
        ActivationKind.Gelu => Ops.Gelu(x),
        _ => throw new ArgumentException($"Unknown activation {kind}.", nameof(kind)),
    };

    /// <inheritdoc/>
    public override string ToString() => $"Activation({ModelConfig.ActivationName(Kind)})";
}
