using Lora.Autograd;

namespace Lora.Core.Modules;

/// <summary>Max pooling over k×k windows of NCHW images, PyTorch's <c>nn.MaxPool2d</c> (no parameters).</summary>
/// <remarks>y (N, C, OH, OW), O = (I + 2·padding − k)/stride + 1; padding never wins a window. See <see cref="Ops.MaxPool2d"/>.</remarks>
public sealed class MaxPool2d : Module
{
    /// <summary>Pooling with a k×k window, a stride (0 = the kernel size, PyTorch's default) and padding ≤ k/2.</summary>
    /// <exception cref="ArgumentException">A non-positive kernel, a negative stride, or padding outside [0, k/2].</exception>
    public MaxPool2d(int kernel, int stride = 0, int padding = 0)
    {
        if (kernel <= 0 || stride < 0 || padding < 0 || padding > kernel / 2)
            throw new ArgumentException($"MaxPool2d(kernel {kernel}, stride {stride}, padding {padding}): the kernel must be positive, " +
                "the stride non-negative (0 = kernel) and the padding at most half the kernel.");
        Kernel = kernel;
        Stride = stride == 0 ? kernel : stride;
        Padding = padding;
    }

    /// <summary>k, the side of the window.</summary>
    public int Kernel { get; }

    /// <summary>The step between windows.</summary>
    public int Stride { get; }

    /// <summary>Implicit −∞ padding on every side.</summary>
    public int Padding { get; }

    /// <summary>x (N, C, H, W) → (N, C, OH, OW).</summary>
    public override Tensor Forward(Tensor x) => Ops.MaxPool2d(x, Kernel, Stride, Padding);

    /// <inheritdoc/>
    public override string ToString() => $"MaxPool2d(kernel={Kernel}, stride={Stride}, padding={Padding})";
}
