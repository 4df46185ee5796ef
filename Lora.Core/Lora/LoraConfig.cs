using System.Globalization;
using System.Text.RegularExpressions;
using Lora.Core.IO;

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
/// <para><see cref="RankPattern"/> and <see cref="AlphaPattern"/> give chosen layers another rank or alpha (PEFT's
/// <c>rank_pattern</c> and <c>alpha_pattern</c>, same matching rule): layer <c>path</c> gets r = <see cref="RankFor"/>(path),
/// alpha = <see cref="AlphaFor"/>(path) and its own scale.</para>
/// Every setter validates its value and throws <see cref="ArgumentException"/> naming it.
/// </remarks>
public sealed record LoraConfig
{
    int _r = 8;
    double _alpha = 8;
    double _dropout;
    IReadOnlyList<string> _targets = ["all-linear"];
    int _pissaIterations = 16;
    KeyValuePair<string, int>[] _rankPattern = [];
    KeyValuePair<string, double>[] _alphaPattern = [];
    string[] _modulesToSave = [];
    int[]? _layers;
    string[] _layersPattern = [];

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

    /// <summary>DoRA, weight-decomposed LoRA (PEFT's <c>use_dora</c>; default false): each targeted layer's weight
    /// becomes m ⊙ (W + s·B·A)/‖W + s·B·A‖ per output — per row of a Linear's W, per output channel of a convolution,
    /// per embedding dimension of a table — with a trained magnitude m that starts at that norm (so the model's output
    /// is unchanged at first). The norm is a constant in the backward, as in the paper's §4.3 and in PEFT.</summary>
    public bool UseDora { get; init; }

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

    /// <summary>Per-layer ranks overriding <see cref="R"/> (PEFT's <c>rank_pattern</c>; default empty).</summary>
    /// <remarks>Keys are tried in the map's enumeration order (a <see cref="Dictionary{TKey, TValue}"/>'s insertion
    /// order) and the first whose regular expression matches the layer path, whole or from a dot
    /// (<c>(.*\.)?(key)$</c>), gives that layer's rank: <c>{"layers.0": 16}</c> or <c>{"0": 16}</c> select
    /// <c>layers.0</c>; <c>{"layers\\.[12]": 4}</c> selects <c>layers.1</c> and <c>layers.2</c>.</remarks>
    public IReadOnlyDictionary<string, int> RankPattern
    {
        get => _rankPattern.ToDictionary();
        init => _rankPattern = Validated(value, nameof(RankPattern), r => r >= 1, "the rank must be at least 1");
    }

    /// <summary>Per-layer alphas overriding <see cref="Alpha"/> (PEFT's <c>alpha_pattern</c>; default empty), matched
    /// like <see cref="RankPattern"/> but looked up on their own.</summary>
    public IReadOnlyDictionary<string, double> AlphaPattern
    {
        get => _alphaPattern.ToDictionary();
        init => _alphaPattern = Validated(value, nameof(AlphaPattern), a => double.IsFinite(a) && a > 0, "alpha must be finite and positive");
    }

    /// <summary>Names of modules trained in full next to the adapters (PEFT's <c>modules_to_save</c>, e.g. a classifier
    /// head; default empty): each selected module keeps its frozen original and gets a trainable copy for this adapter
    /// (<see cref="ModulesToSaveLayer"/>).</summary>
    /// <remarks>PEFT's rule: an entry selects every module whose path <em>ends with</em> it as a plain string, with no
    /// dot boundary (<c>"head"</c> selects <c>head</c> and <c>classifier_head</c>; <c>"layers.2"</c> selects
    /// <c>layers.2</c>, not <c>layers.12</c>). Each entry must select some module when applied. A module cannot be both
    /// here and in <see cref="TargetModules"/>; the <c>all-linear</c> target leaves these modules out.</remarks>
    public IReadOnlyList<string> ModulesToSave
    {
        get => _modulesToSave;
        init
        {
            ArgumentNullException.ThrowIfNull(value, nameof(ModulesToSave));
            foreach (var n in value)
                if (string.IsNullOrEmpty(n)) throw new ArgumentException("LoraConfig.ModulesToSave has an empty name, which would select every module.", nameof(ModulesToSave));
            _modulesToSave = value.ToArray();
        }
    }

    /// <summary>Layer indices to adapt (PEFT's <c>layers_to_transform</c>; default null = every layer, each ≥ 0).</summary>
    /// <remarks>PEFT's rule (<c>check_target_module_exists</c>): a layer a <see cref="TargetModules"/> name or glob
    /// selects by a dot-aligned suffix stays selected only when its layer index is listed, and a path without a layer
    /// index is not selected; an entry equal to the whole path selects it whatever the layers. The index is the first
    /// number between two dots that follows a dot-preceded segment named by <see cref="LayersPattern"/> (any name by
    /// default): 2 for <c>model.layers.2.fc</c>, none for <c>layers.2</c> (Lora's <c>Mlp</c>) — see
    /// <c>docs/adapters.md</c>. PEFT refuses layers with a regular-expression <c>target_modules</c>, so
    /// <c>re:</c> and <c>all-linear</c> entries cannot be combined with this (checked when the config is used).</remarks>
    public IReadOnlyList<int>? LayersToTransform
    {
        get => _layers;
        init
        {
            if (value is null) { _layers = null; return; }
            if (value.Count == 0) throw new ArgumentException("LoraConfig.LayersToTransform is empty; use null for every layer.", nameof(LayersToTransform));
            foreach (int i in value)
                if (i < 0) throw new ArgumentException($"LoraConfig.LayersToTransform [{string.Join(", ", value)}] holds {i}; layer indices start at 0.", nameof(LayersToTransform));
            _layers = value.ToArray();
        }
    }

    /// <summary>Names (regular expressions) of the module lists whose index is the layer index (PEFT's
    /// <c>layers_pattern</c>, e.g. <c>["layers"]</c>; default null = any name); the first that matches decides. Only
    /// with <see cref="LayersToTransform"/>.</summary>
    public IReadOnlyList<string>? LayersPattern
    {
        get => _layersPattern.Length == 0 ? null : _layersPattern;
        init
        {
            foreach (var p in value ?? [])
                if (PeftLayers.Problem(p ?? "") is { } why) throw new ArgumentException($"LoraConfig.LayersPattern entry '{p}' {why}.", nameof(LayersPattern));
            _layersPattern = value?.ToArray() ?? [];
        }
    }

    /// <summary>Throws when <see cref="LayersToTransform"/> / <see cref="LayersPattern"/> do not fit the rest (PEFT's rules).</summary>
    void CheckLayers()
    {
        if (_layersPattern.Length > 0 && _layers is null)
            throw new ArgumentException($"LoraConfig.LayersPattern [{string.Join(", ", _layersPattern)}] is set but LayersToTransform is null; the pattern only picks the layer index for LayersToTransform.", nameof(LayersPattern));
        if (_layers is null) return;
        foreach (var t in _targets)
            if (t == TargetModulePattern.AllLinear || t.StartsWith(TargetModulePattern.RegexPrefix, StringComparison.Ordinal))
                throw new ArgumentException($"LoraConfig.TargetModules entry '{t}' cannot be combined with LayersToTransform [{string.Join(", ", _layers)}] (PEFT refuses layers_to_transform with a regular-expression target_modules); name the layers' modules instead.", nameof(LayersToTransform));
    }

    /// <summary>True when <paramref name="pattern"/> selects <paramref name="path"/> and the layer restriction keeps it.</summary>
    bool Selects(TargetModulePattern pattern, string path)
    {
        if (!pattern.Matches(path)) return false;
        try { return PeftLayers.Keeps(path, pattern.Text == path, _layers ?? [], _layersPattern); }
        catch (RegexMatchTimeoutException e) { throw new ArgumentException($"LoraConfig.LayersPattern: a pattern takes too long to match '{path}'.", nameof(LayersPattern), e); }
    }

    /// <summary>True when an entry of <see cref="ModulesToSave"/> selects the module at <paramref name="path"/> (its path ends with the entry).</summary>
    public bool SavesModule(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        foreach (var n in _modulesToSave)
            if (path.EndsWith(n, StringComparison.Ordinal)) return true;
        return false;
    }

    /// <summary>True when an entry of <see cref="TargetModules"/> other than <c>all-linear</c> selects <paramref name="path"/>.</summary>
    /// <exception cref="ArgumentException">The layer settings do not fit the targets.</exception>
    public bool TargetsExplicitly(string path)
    {
        CheckLayers();
        foreach (var p in _targets)
        {
            var pattern = TargetModulePattern.Parse(p);
            if (!pattern.IsAllLinear && Selects(pattern, path)) return true;
        }
        return false;
    }

    static KeyValuePair<string, T>[] Validated<T>(IReadOnlyDictionary<string, T> pattern, string name, Func<T, bool> valid, string rule)
        where T : IFormattable
    {
        ArgumentNullException.ThrowIfNull(pattern, name);
        foreach (var (key, v) in pattern)
        {
            if (PeftPatterns.Problem(key) is { } why) throw new ArgumentException($"LoraConfig.{name} key '{key}' {why}.", name);
            if (!valid(v)) throw new ArgumentException($"LoraConfig.{name}['{key}'] = {v.ToString(null, CultureInfo.InvariantCulture)}: {rule}.", name);
        }
        return PeftPatterns.Freeze(pattern);
    }

    /// <summary>The rank of the layer at <paramref name="path"/>: the first matching <see cref="RankPattern"/> entry, else <see cref="R"/>.</summary>
    /// <exception cref="ArgumentException">A pattern takes over a second to match (a pathological regular expression).</exception>
    public int RankFor(string path) => Lookup(_rankPattern, path, R, nameof(RankPattern));

    /// <summary>The alpha of the layer at <paramref name="path"/>: the first matching <see cref="AlphaPattern"/> entry, else <see cref="Alpha"/>.</summary>
    /// <exception cref="ArgumentException">A pattern takes over a second to match.</exception>
    public double AlphaFor(string path) => Lookup(_alphaPattern, path, Alpha, nameof(AlphaPattern));

    /// <summary>The scale of the layer at <paramref name="path"/>: alpha/r, or alpha/√r with <see cref="UseRsLora"/>, from
    /// <see cref="RankFor"/> and <see cref="AlphaFor"/>.</summary>
    public float ScaleFor(string path)
    {
        int r = RankFor(path);
        double alpha = AlphaFor(path);
        return LoraAdapter.ScaleOf(alpha, r, UseRsLora);
    }

    /// <summary>The first <see cref="RankPattern"/> or <see cref="AlphaPattern"/> key that selects none of
    /// <paramref name="paths"/>, with the property's name, or null.</summary>
    internal (string Property, string Key)? UnmatchedPatternKey(IReadOnlyList<string> paths)
    {
        foreach (var (property, keys) in new[] { (nameof(RankPattern), _rankPattern.Select(p => p.Key)), (nameof(AlphaPattern), _alphaPattern.Select(p => p.Key)) })
            foreach (var key in keys)
                if (!paths.Any(path => Lookup([new KeyValuePair<string, bool>(key, true)], path, false, property))) return (property, key);
        return null;
    }

    static T Lookup<T>(KeyValuePair<string, T>[] pattern, string path, T fallback, string name)
    {
        ArgumentNullException.ThrowIfNull(path);
        try { return PeftPatterns.Lookup(pattern, path, fallback); }
        catch (RegexMatchTimeoutException e) { throw new ArgumentException($"LoraConfig.{name}: a key takes too long to match '{path}'.", name, e); }
    }

    /// <summary>The LoRA scale s of layers no pattern selects: alpha/r, or alpha/√r when <see cref="UseRsLora"/>.</summary>
    public float Scale => LoraAdapter.ScaleOf(Alpha, R, UseRsLora);

    /// <summary>True when the module at <paramref name="path"/> is targeted by some entry of <see cref="TargetModules"/>
    /// (<c>all-linear</c> leaves out the modules <see cref="ModulesToSave"/> selects) and <see cref="LayersToTransform"/> keeps it.</summary>
    /// <exception cref="ArgumentException">The layer settings do not fit the targets.</exception>
    public bool Targets(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        CheckLayers();
        foreach (var p in _targets)
        {
            var pattern = TargetModulePattern.Parse(p);
            if (Selects(pattern, path) && !(pattern.IsAllLinear && SavesModule(path))) return true;
        }
        return false;
    }

    static string Fmt(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public bool Equals(LoraConfig? other) =>
        other is not null && R == other.R && Alpha.Equals(other.Alpha) && Dropout.Equals(other.Dropout) &&
        UseRsLora == other.UseRsLora && UseDora == other.UseDora && Init == other.Init && Bias == other.Bias &&
        PissaIterations == other.PissaIterations && TargetModules.SequenceEqual(other.TargetModules) &&
        _rankPattern.SequenceEqual(other._rankPattern) && _alphaPattern.SequenceEqual(other._alphaPattern) &&
        _modulesToSave.SequenceEqual(other._modulesToSave) && (_layers ?? []).SequenceEqual(other._layers ?? []) &&
        _layers is null == other._layers is null && _layersPattern.SequenceEqual(other._layersPattern);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(R, Alpha, Dropout, UseRsLora, UseDora, Init, Bias, TargetModules.Count);
}
