using Lora.Autograd;

namespace Lora.Core.Modules;

/// <summary>y = x·Wᵀ + b with W (out, in) and b (out), PyTorch's <c>nn.Linear</c> layout and initialisation.</summary>
/// <remarks>
/// Initialisation follows <c>torch.nn.Linear.reset_parameters</c>: <c>kaiming_uniform_(W, a=√5)</c>, whose bound is
/// √3·gain/√in with gain = √(2/(1 + a²)) = √(1/3), i.e. W ~ U(−1/√in, 1/√in); and b ~ U(−1/√in, 1/√in)
/// (0 when in = 0). The values differ from PyTorch's (another generator) but the distribution is the same.
/// </remarks>
public sealed class Linear : Module
{
    /// <summary>A layer with Kaiming-uniform weights drawn from <paramref name="rng"/>.</summary>
    /// <exception cref="ArgumentException">A negative width.</exception>
    public Linear(int inFeatures, int outFeatures, SeededRandom rng, bool bias = true)
        : this(inFeatures, outFeatures, bias)
    {
        ArgumentNullException.ThrowIfNull(rng);
        float bound = inFeatures > 0 ? (float)(1 / Math.Sqrt(inFeatures)) : 0f;
        rng.FillUniform(Weight.Data, -bound, bound);
        if (Bias is not null) rng.FillUniform(Bias.Data, -bound, bound);
    }

    /// <summary>A zero-initialised layer (for loading weights).</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true)
    {
        if (inFeatures < 0 || outFeatures < 0)
            throw new ArgumentException($"Linear({inFeatures}, {outFeatures}): widths must be non-negative.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = RegisterParameter("weight", new Parameter("weight", new Shape(outFeatures, inFeatures)));
        if (bias) Bias = RegisterParameter("bias", new Parameter("bias", new Shape(outFeatures)));
    }

    /// <summary>A layer over given weights (copied): W (out, in) row-major and b (out) or null.</summary>
    public Linear(int inFeatures, int outFeatures, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, bool hasBias)
        : this(inFeatures, outFeatures, hasBias)
    {
        if (weight.Length != Weight.Length)
            throw new ArgumentException($"Linear({inFeatures}, {outFeatures}): weight has {weight.Length} elements, expected {Weight.Length}.", nameof(weight));
        weight.CopyTo(Weight.Data);
        if (Bias is not null)
        {
            if (bias.Length != Bias.Length)
                throw new ArgumentException($"Linear({inFeatures}, {outFeatures}): bias has {bias.Length} elements, expected {Bias.Length}.", nameof(bias));
            bias.CopyTo(Bias.Data);
        }
    }

    /// <summary>in, the input width.</summary>
    public int InFeatures { get; }

    /// <summary>out, the output width.</summary>
    public int OutFeatures { get; }

    /// <summary>W, (out, in).</summary>
    public Parameter Weight { get; }

    /// <summary>b, (out), or null for a layer without bias.</summary>
    public Parameter? Bias { get; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor x) => Ops.Linear(x, Weight, Bias);

    /// <inheritdoc/>
    public override string ToString() => $"Linear(in={InFeatures}, out={OutFeatures}, bias={Bias is not null})";
}
