using Lora.Autograd;

namespace Lora.Core.Lora;

/// <summary>One named adapter on a <see cref="LoraLayer"/>: A (r, fan_in) and B (fan_out, r) seen flat (their tensor
/// shapes are the layer's, e.g. (r, in, kh, kw) for a convolution), its scale and dropout.</summary>
public sealed class LoraAdapter
{
    internal LoraAdapter(string name, Parameter a, Parameter b, double alpha, bool useRsLora, float dropout, ulong seed)
    {
        Name = name; A = a; B = b; Alpha = alpha; UseRsLora = useRsLora; Dropout = dropout; Seed = seed;
    }

    /// <summary>The adapter's name (PEFT's adapter name, <c>default</c> unless chosen).</summary>
    public string Name { get; }

    /// <summary>The down projection, flat (r, fan_in).</summary>
    public Parameter A { get; }

    /// <summary>The up projection, flat (fan_out, r).</summary>
    public Parameter B { get; }

    /// <summary>The rank r.</summary>
    public int Rank => A.Shape[0];

    /// <summary>alpha.</summary>
    public double Alpha { get; }

    /// <summary>Whether the scale is alpha/√r.</summary>
    public bool UseRsLora { get; }

    /// <summary>The scale s on B·A: alpha/r or alpha/√r.</summary>
    public float Scale => (float)(UseRsLora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank);

    /// <summary>Dropout probability on this adapter's input while training.</summary>
    public float Dropout { get; }

    /// <summary>The base seed of this adapter's dropout masks.</summary>
    public ulong Seed { get; }

    /// <summary>Which biases were chosen to train with this adapter (saved with it, PEFT's <c>bias</c>).</summary>
    public LoraBias Bias { get; internal set; }

    /// <summary>How the adapter was initialised (saved as PEFT's <c>init_lora_weights</c>).</summary>
    public LoraInit Init { get; internal set; }

    internal ulong Calls;
}
