using Lora.Autograd;

namespace Lora.Core.Modules;

/// <summary>
/// A 2-D convolution over NCHW images, PyTorch's <c>nn.Conv2d</c> with square kernels, one stride and zero padding
/// on every side: y (N, out, OH, OW) = W ⋆ x + b, W (out, in, k, k), b (out), O = (I + 2·padding − k)/stride + 1.
/// </summary>
/// <remarks>
/// Initialisation follows <c>torch.nn.Conv2d.reset_parameters</c>: <c>kaiming_uniform_(W, a=√5)</c>, i.e.
/// W ~ U(−1/√fanIn, 1/√fanIn), and b ~ U(−1/√fanIn, 1/√fanIn), with fanIn = in·k·k. The values differ from
/// PyTorch's (another generator), the distribution is the same. The forward is <see cref="Ops.Conv2d"/>.
/// </remarks>
public sealed class Conv2d : Module
{
    /// <summary>A convolution with Kaiming-uniform weights drawn from <paramref name="rng"/>.</summary>
    /// <exception cref="ArgumentException">A non-positive channel count, kernel size or stride, or a negative padding.</exception>
    public Conv2d(int inChannels, int outChannels, int kernelSize, SeededRandom rng, int stride = 1, int padding = 0, bool bias = true)
        : this(inChannels, outChannels, kernelSize, stride, padding, bias)
    {
        ArgumentNullException.ThrowIfNull(rng);
        float bound = (float)(1 / Math.Sqrt((double)inChannels * kernelSize * kernelSize));
        rng.FillUniform(Weight.Data, -bound, bound);
        if (Bias is not null) rng.FillUniform(Bias.Data, -bound, bound);
    }

    /// <summary>A zero-initialised convolution (for loading weights).</summary>
    /// <exception cref="ArgumentException">A non-positive channel count, kernel size or stride, or a negative padding.</exception>
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, bool bias = true)
    {
        if (inChannels <= 0 || outChannels <= 0 || kernelSize <= 0 || stride <= 0 || padding < 0)
            throw new ArgumentException($"Conv2d({inChannels}, {outChannels}, kernel {kernelSize}, stride {stride}, padding {padding}): " +
                "channels, kernel size and stride must be positive and padding non-negative.");
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelSize = kernelSize;
        Stride = stride;
        Padding = padding;
        Weight = RegisterParameter("weight", new Parameter("weight", new Shape(outChannels, inChannels, kernelSize, kernelSize)));
        if (bias) Bias = RegisterParameter("bias", new Parameter("bias", new Shape(outChannels)));
    }

    /// <summary>in, the input channels.</summary>
    public int InChannels { get; }

    /// <summary>out, the output channels.</summary>
    public int OutChannels { get; }

    /// <summary>k, the side of the square kernel.</summary>
    public int KernelSize { get; }

    /// <summary>The step between kernel positions, along both axes.</summary>
    public int Stride { get; }

    /// <summary>Zeros added on every side of the input.</summary>
    public int Padding { get; }

    /// <summary>W, (out, in, k, k).</summary>
    public Parameter Weight { get; }

    /// <summary>b, (out), or null for a convolution without bias.</summary>
    public Parameter? Bias { get; }

    /// <summary>x (N, in, H, W) → (N, out, OH, OW).</summary>
    public override Tensor Forward(Tensor x) => Ops.Conv2d(x, Weight, Bias, Stride, Padding);

    /// <inheritdoc/>
    public override string ToString() =>
        $"Conv2d(in={InChannels}, out={OutChannels}, kernel={KernelSize}, stride={Stride}, padding={Padding}, bias={Bias is not null})";
}
