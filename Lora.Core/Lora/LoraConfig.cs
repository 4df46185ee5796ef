using System.Globalization;

namespace Lora.Core.Lora;

/// <summary>How a new adapter's A and B start.</summary>
public enum LoraInit
{
    /// <summary>A ~ Kaiming-uniform (PyTorch's nn.Linear rule with a = √5: U(−1/√in, 1/√in)), B = 0, so the
    /// wrapped model starts exactly equal to the base model (PEFT's default, <c>init_lora_weights=True</c>).</summary>
    KaimingUniform,
    /// <summary>A ~ N(0, 1/r²), B = 0 (PEFT's <c>init_lora_weights="gaussian"</c>); also starts equal to the base.</summary>
    Gaussian,
    /// <summary>Principal singular values and vectors adaptation: A = √S·Vᵀ/√s, B = U·√S/√s from W's top-r
    /// singular triplets, and W ← W − s·B·A, so the output starts (numerically) equal to the base while the
    /// adapter holds W's principal part (PEFT's <c>init_lora_weights="pissa"</c>).</summary>
    Pissa,
}

/// <summary>Which biases train alongside the adapters (PEFT's <c>bias</c> setting).</summary>
public enum LoraBias
{
    /// <summary><c>"none"</c>: every bias stays frozen.</summary>
    None,
    /// <summary><c>"all"</c>: every bias in the model trains.</summary>
    All,
    /// <summary><c>"lora_only"</c>: only the biases of the wrapped (targeted) layers train.</summary>
    LoraOnly,
}

/// <summary>The settings of one LoRA adapter, mirroring PEFT's <c>LoraConfig</c> for linear layers.</summary>
/// <remarks>
/// <para>A targeted Linear y = x·Wᵀ + b becomes y = x·Wᵀ + b + s·(dropout(x)·Aᵀ)·Bᵀ with A (r, in), B (out, r) and
/// scale s = alpha/r, or s = alpha/√r with <see cref="UseRsLora"/> (rank-stabilised LoRA).</para>
/// <para><see cref="TargetModules"/> uses the syntax of <see cref="TargetModulePattern"/>: plain names match a module
/// path exactly or as a dot-aligned suffix (PEFT's rule), globs with <c>*</c>, <c>**</c>, <c>?</c>, regular expressions
/// with a <c>re:</c> prefix, and <c>all-linear</c>.</para>
/// Every setter validates its value and throws <see cref="ArgumentException"/> naming it.
/// </remarks>
public sealed record LoraConfig
{
    int _r = 8;
    double _alpha = 8;
    double _dropout;
    IReadOnlyList<string> _targets = ["all-linear"];
    int _pissaIterations = 16;

    /// <summary>The rank r ≥ 1 (default 8).</summary>
    public int R
    {
        get => _r;
        init => _r = value >= 1 ? value : throw new ArgumentException($"LoraConfig.R = {value}: the rank must be at least 1.", nameof(R));
    }

    /// <summary>alpha, finite and positive (default 8); the scale is alpha/r (or alpha/√r).</summary>
    public double Alpha
    {
        get => _alpha;
        init => _alpha = double.IsFinite(value) && value > 0 ? value
            : throw new ArgumentException($"LoraConfig.Alpha = {Fmt(value)}: alpha must be finite and positive.", nameof(Alpha));
    }

    /// <summary>Dropout probability on the LoRA path's input while training, in [0, 1) (default 0).</summary>
    public double Dropout
    {
        get => _dropout;
        init => _dropout = value >= 0 && value < 1 ? value
            : throw new ArgumentException($"LoraConfig.Dropout = {Fmt(value)}: dropout must be in [0, 1).", nameof(Dropout));
    }

    /// <summary>Rank-stabilised scaling s = alpha/√r instead of alpha/r (default false).</summary>
    public bool UseRsLora { get; init; }

    /// <summary>How A and B start (default <see cref="LoraInit.KaimingUniform"/>).</summary>
    public LoraInit Init
    {
        get;
        init => field = Enum.IsDefined(value) ? value : throw new ArgumentException($"LoraConfig.Init = {value} is not a LoraInit value.", nameof(Init));
    } = LoraInit.KaimingUniform;

    /// <summary>Which biases train (default <see cref="LoraBias.None"/>).</summary>
    public LoraBias Bias
    {
        get;
        init => field = Enum.IsDefined(value) ? value : throw new ArgumentException($"LoraConfig.Bias = {value} is not a LoraBias value.", nameof(Bias));
    } = LoraBias.None;

    /// <summary>Module names or patterns selecting the Linear layers to wrap (default <c>["all-linear"]</c>).</summary>
    public IReadOnlyList<string> TargetModules
    {
        get => _targets;
        init
        {
            ArgumentNullException.ThrowIfNull(value, nameof(TargetModules));
            if (value.Count == 0) throw new ArgumentException("LoraConfig.TargetModules is empty: name at least one module or pattern.", nameof(TargetModules));
            foreach (var p in value) TargetModulePattern.Parse(p); // throws ArgumentException naming the bad pattern
            _targets = value.ToArray();
        }
    }

    /// <summary>Subspace iterations of the truncated SVD behind <see cref="LoraInit.Pissa"/> (default 16, ≥ 1).</summary>
    public int PissaIterations
    {
        get => _pissaIterations;
        init => _pissaIterations = value >= 1 ? value
            : throw new ArgumentException($"LoraConfig.PissaIterations = {value}: must be at least 1.", nameof(PissaIterations));
    }

    /// <summary>The LoRA scale s: alpha/r, or alpha/√r when <see cref="UseRsLora"/>.</summary>
    public float Scale => (float)(UseRsLora ? Alpha / Math.Sqrt(R) : Alpha / R);

    /// <summary>True when the module at <paramref name="path"/> is targeted by some entry of <see cref="TargetModules"/>.</summary>
    public bool Targets(string path)
    {
        foreach (var p in _targets)
            if (TargetModulePattern.Parse(p).Matches(path)) return true;
        return false;
    }

    static string Fmt(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public bool Equals(LoraConfig? other) =>
        other is not null && R == other.R && Alpha.Equals(other.Alpha) && Dropout.Equals(other.Dropout) &&
        UseRsLora == other.UseRsLora && Init == other.Init && Bias == other.Bias &&
        PissaIterations == other.PissaIterations && TargetModules.SequenceEqual(other.TargetModules);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(R, Alpha, Dropout, UseRsLora, Init, Bias, TargetModules.Count);
}
