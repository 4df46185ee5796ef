using Lora.Autograd;

namespace Lora.Core.Lora;

/// <summary>One named adapter on a <see cref="LoraLayer"/>: A (r, fan_in) and B (fan_out, r) seen flat (their tensor
/// shapes are the layer's, e.g. (r, in, kh, kw) for a convolution), its scale and dropout, and for DoRA its
/// magnitude vector.</summary>
public sealed class LoraAdapter
{
    internal LoraAdapter(string name, Parameter a, Parameter b, Parameter? magnitude, double alpha, bool useRsLora, float dropout, ulong seed)
    {
        Name = name; A = a; B = b; Magnitude = magnitude; Alpha = alpha; UseRsLora = useRsLora; Dropout = dropout; Seed = seed;
    }

    /// <summary>The adapter's name (PEFT's adapter name, <c>default</c> unless chosen).</summary>
    public string Name { get; }

    /// <summary>The down projection, flat (r, fan_in).</summary>
    public Parameter A { get; }

    /// <summary>The up projection, flat (fan_out, r).</summary>
    public Parameter B { get; }

    /// <summary>DoRA's magnitude m (fan_out), PEFT's <c>lora_magnitude_vector</c>, or null for plain LoRA.</summary>
    /// <remarks>The layer's weight is then W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖, the norm taken per output row.</remarks>
    public Parameter? Magnitude { get; }

    /// <summary>Whether this is a DoRA adapter (weight-decomposed: a trained magnitude per output).</summary>
    public bool UseDora => Magnitude != null;

    /// <summary>The rank r.</summary>
    public int Rank => A.Shape[0];

    /// <summary>alpha.</summary>
    public double Alpha { get; }

    /// <summary>Whether the scale is alpha/√r.</summary>
    public bool UseRsLora { get; }

    /// <summary>The scale s on B·A: alpha/r or alpha/√r.</summary>
    public float Scale => ScaleOf(Alpha, Rank, UseRsLora);

    /// <summary>alpha/r, or alpha/√r for rsLoRA, in float as the kernels take it.</summary>
    internal static float ScaleOf(double alpha, int rank, bool useRsLora) => (float)(useRsLora ? alpha / Math.Sqrt(rank) : alpha / rank);

    /// <summary>Dropout probability on this adapter's input while training.</summary>
    public float Dropout { get; }

    /// <summary>The base seed of this adapter's dropout masks.</summary>
    public ulong Seed { get; }

    /// <summary>Which biases were chosen to train with this adapter (saved with it, PEFT's <c>bias</c>).</summary>
    public LoraBias Bias { get; internal set; }

    /// <summary>How the adapter was initialised (saved as PEFT's <c>init_lora_weights</c>).</summary>
    public LoraInit Init { get; internal set; }

    internal ulong Calls;

    /// <summary>A DoRA adapter's row norms ‖W + s·B·A‖ when it was merged; unmerging divides by m/norm again.</summary>
    internal float[]? MergedNorms;

    /// <summary>The adapter's trainable tensors: A, B and, for DoRA, the magnitude.</summary>
    public IEnumerable<Parameter> Parameters => Magnitude is null ? [A, B] : [A, B, Magnitude];

    internal void SetFrozen(bool frozen)
    {
        A.Frozen = B.Frozen = frozen;
        if (Magnitude != null) Magnitude.Frozen = frozen;
    }

    internal bool AnyTrainable => !A.Frozen || !B.Frozen || Magnitude is { Frozen: false };
}
