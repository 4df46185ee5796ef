namespace Lora.Core.IO;

/// <summary>The element-wise nonlinearity between the Linear layers of an MLP, as <c>config.json</c> names it.</summary>
public enum ActivationKind
{
    /// <summary><c>"relu"</c>: max(0, x), PyTorch's <c>nn.ReLU</c>.</summary>
    Relu,
    /// <summary><c>"tanh"</c>: PyTorch's <c>nn.Tanh</c>.</summary>
    Tanh,
    /// <summary><c>"sigmoid"</c>: 1 / (1 + e^-x), PyTorch's <c>nn.Sigmoid</c>.</summary>
    Sigmoid,
    /// <summary><c>"gelu"</c>: x·Φ(x) with the exact normal CDF, PyTorch's default <c>nn.GELU</c>.</summary>
    Gelu,
}
