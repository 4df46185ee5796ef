using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.IO;

/// <summary>Which biases an adapter trains and saves, PEFT's <c>bias</c> field.</summary>
public enum PeftBias
{
    /// <summary><c>"none"</c>: no bias is trained or saved.</summary>
    None,
    /// <summary><c>"all"</c>: every bias of the model is trained and saved.</summary>
    All,
    /// <summary><c>"lora_only"</c>: the biases of the LoRA-wrapped layers are trained and saved.</summary>
    LoraOnly,
}

/// <summary>The contents of PEFT's <c>adapter_config.json</c> for a LoRA adapter.</summary>
/// <remarks>
/// <para>Lora writes the fields PEFT writes (keys sorted, two-space indent, like PEFT's <c>json.dumps(indent=2,
/// sort_keys=True)</c>) and reads any file PEFT writes for a plain LoRA adapter, ignoring fields it does not use.
/// Features whose tensors Lora cannot apply are refused rather than silently dropped: <c>fan_in_fan_out</c>,
/// <c>lora_bias</c>, and any field of a feature that changes what the
/// adapter computes (<c>target_parameters</c>, <c>alora_invocation_tokens</c>, <c>use_qalora</c>, …: see
/// <c>PeftExclusions</c>). <c>exclude_modules</c> is honoured as PEFT does (<see cref="ExcludeModules"/>). <c>modules_to_save</c> names modules trained in full (see <see cref="ModulesToSave"/>).</para>
/// <para>The scale applied to B·A of the module at <c>path</c> is s = alpha / r, or alpha / √r with
/// <see cref="UseRsLora"/>, where r = <see cref="RankFor"/>(path) and alpha = <see cref="AlphaFor"/>(path): <see cref="R"/> and
/// <see cref="LoraAlpha"/> unless <c>rank_pattern</c> / <c>alpha_pattern</c> select the module (PEFT's rule, see
/// <see cref="RankPattern"/>).</para>
/// </remarks>
public sealed record PeftAdapterConfig
{
    /// <summary>The rank r: A is (r, in), B is (out, r).</summary>
    public required int R { get; init; }

    /// <summary>lora_alpha, the numerator of the scale.</summary>
    public required double LoraAlpha { get; init; }

    /// <summary>Dropout probability on the LoRA branch's input while training, in [0, 1).</summary>
    public double LoraDropout { get; init; }

    /// <summary>Target module names: a module is targeted when its path equals a name or ends with "." + name.
    /// Ignored when <see cref="TargetModulesRegex"/> is set.</summary>
    public IReadOnlyList<string> TargetModules { get; init; } = [];

    /// <summary>When PEFT's <c>target_modules</c> is a single string: a regular expression matched against the whole path.</summary>
    public string? TargetModulesRegex { get; init; }

    /// <summary>PEFT's <c>exclude_modules</c> as a list (empty = none): a module whose path equals a name or ends with
    /// "." + name is never wrapped, whatever the targets say.</summary>
    public IReadOnlyList<string> ExcludeModules { get; init; } = [];

    /// <summary>PEFT's <c>exclude_modules</c> as a single string: a regular expression a path must match whole to be excluded.</summary>
    public string? ExcludeModulesRegex { get; init; }

    /// <summary>Rank-stabilised scaling, alpha / √r.</summary>
    public bool UseRsLora { get; init; }

    /// <summary>PEFT's <c>use_dora</c>: every module also has a magnitude vector, <c>lora_magnitude_vector</c>, one value per output ((1, out, 1, 1) for a convolution).</summary>
    public bool UseDora { get; init; }

    /// <summary>Which biases the adapter carries.</summary>
    public PeftBias Bias { get; init; } = PeftBias.None;

    /// <summary>PEFT's <c>init_lora_weights</c> as JSON text: <c>true</c>, <c>false</c>, <c>"gaussian"</c>, <c>"pissa"</c>,
    /// <c>"pissa_niter_N"</c>, <c>"eva"</c> or <c>"orthogonal"</c> (these two leave the base untouched, so their trained
    /// adapters load as plain LoRA).</summary>
    public string InitLoraWeights { get; init; } = "true";

    /// <summary>PEFT's <c>task_type</c> (null for a custom model).</summary>
    public string? TaskType { get; init; }

    /// <summary>The base model the adapter was trained on, as a name or path.</summary>
    public string? BaseModelNameOrPath { get; init; }

    /// <summary>PEFT's <c>inference_mode</c>.</summary>
    public bool InferenceMode { get; init; } = true;

    /// <summary>PEFT's <c>rank_pattern</c>: per-module ranks, keys tried in order (the file's order when read), the
    /// first whose regular expression matches the module path whole or from a dot (<c>(.*\.)?(key)$</c>) wins.</summary>
    public IReadOnlyList<KeyValuePair<string, int>> RankPattern { get; init; } = [];

    /// <summary>PEFT's <c>alpha_pattern</c>: per-module alphas, matched like <see cref="RankPattern"/> but on their own.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> AlphaPattern { get; init; } = [];

    /// <summary>PEFT's <c>modules_to_save</c> (empty = <c>null</c>): modules trained in full, saved whole under
    /// <c>base_model.model.{path}.{parameter}</c>. A module is selected when its path ends with a name (a plain string
    /// suffix, no dot boundary: PEFT's <c>key.endswith(name)</c>); names that select nothing are allowed, as in PEFT
    /// (its SEQ_CLS default lists both <c>classifier</c> and <c>score</c>).</summary>
    public IReadOnlyList<string> ModulesToSave { get; init; } = [];

    /// <summary>PEFT's <c>layers_to_transform</c> (empty = <c>null</c>, every layer): with a list <see cref="TargetModules"/>,
    /// a module selected by a suffix (not by its exact path) stays selected only when its layer index (see
    /// <see cref="LayersPattern"/>) is listed; a module without a layer index is not selected. Indices are ≥ 0; PEFT's
    /// single-integer form reads as a one-element list and is written back as an integer.</summary>
    public IReadOnlyList<int> LayersToTransform { get; init; } = [];

    /// <summary>PEFT's <c>layers_pattern</c> (empty = <c>null</c> or <c>""</c>: any segment name): the name (a regular
    /// expression) of the module list whose index is the layer index, e.g. <c>layers</c> in <c>model.layers.2.fc</c>;
    /// the first pattern that matches decides. Only with <see cref="LayersToTransform"/>. A single string reads as a
    /// one-element list and is written back as a string.</summary>
    public IReadOnlyList<string> LayersPattern { get; init; } = [];

    // PEFT writes the form it was given; these keep an int / a string read from a file in that form.
    internal bool LayersToTransformIsInt { get; init; }
    internal bool LayersPatternIsString { get; init; }

    /// <summary>True when <see cref="ModulesToSave"/> selects the module at <paramref name="modulePath"/>.</summary>
    public bool SavesModule(string modulePath)
    {
        ArgumentNullException.ThrowIfNull(modulePath);
        foreach (var name in ModulesToSave ?? [])
            if (modulePath.EndsWith(name, StringComparison.Ordinal)) return true;
        return false;
    }

    /// <summary>The rank of the module at <paramref name="modulePath"/>.</summary>
    /// <exception cref="System.Text.RegularExpressions.RegexMatchTimeoutException">A key takes over a second to match.</exception>
    public int RankFor(string modulePath) => PeftPatterns.Lookup(RankPattern, modulePath, R);

    /// <summary>The alpha of the module at <paramref name="modulePath"/>.</summary>
    /// <exception cref="System.Text.RegularExpressions.RegexMatchTimeoutException">A key takes over a second to match.</exception>
    public double AlphaFor(string modulePath) => PeftPatterns.Lookup(AlphaPattern, modulePath, LoraAlpha);

    /// <summary>The factor on B·A of modules no pattern selects: alpha / r, or alpha / √r for rsLoRA.</summary>
    public double Scaling => UseRsLora ? LoraAlpha / Math.Sqrt(R) : LoraAlpha / R;

    /// <summary>True when PEFT would wrap the module at <paramref name="modulePath"/> (e.g. <c>layers.0</c>): the regular
    /// expression matches the whole path, or a name equals the path, or a name is a dot-aligned suffix of it and
    /// <see cref="LayersToTransform"/> keeps its layer (PEFT's <c>check_target_module_exists</c>).</summary>
    /// <exception cref="RegexMatchTimeoutException">A regular expression takes over a second to match.</exception>
    public bool Targets(string modulePath)
    {
        ArgumentNullException.ThrowIfNull(modulePath);
        if (PeftExclusions.Excludes(this, modulePath)) return false;
        if (TargetModulesRegex is not null)
        {
            return Regex.IsMatch(modulePath, "^(?:" + TargetModulesRegex + ")\\z", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        }
        bool exact = TargetModules.Contains(modulePath);
        return (exact || TargetModules.Any(t => modulePath.EndsWith("." + t, StringComparison.Ordinal)))
            && PeftLayers.Keeps(modulePath, exact, LayersToTransform, LayersPattern);
    }

    /// <summary>The layer index of <paramref name="modulePath"/> under <see cref="LayersPattern"/> (PEFT's rule), or
    /// null when it has none.</summary>
    /// <exception cref="RegexMatchTimeoutException">A pattern takes over a second to match.</exception>
    public int? LayerIndexOf(string modulePath)
    {
        ArgumentNullException.ThrowIfNull(modulePath);
        return PeftLayers.IndexOf(modulePath, LayersPattern);
    }

    /// <summary>Value equality, including the target list element by element (a record would compare the list reference).</summary>
    public bool Equals(PeftAdapterConfig? other) =>
        other is not null && R == other.R && LoraAlpha.Equals(other.LoraAlpha) && LoraDropout.Equals(other.LoraDropout)
        && (TargetModules ?? []).SequenceEqual(other.TargetModules ?? []) && TargetModulesRegex == other.TargetModulesRegex
        && (ExcludeModules ?? []).SequenceEqual(other.ExcludeModules ?? []) && ExcludeModulesRegex == other.ExcludeModulesRegex
        && UseRsLora == other.UseRsLora && UseDora == other.UseDora && Bias == other.Bias && InitLoraWeights == other.InitLoraWeights
        && TaskType == other.TaskType && BaseModelNameOrPath == other.BaseModelNameOrPath && InferenceMode == other.InferenceMode
        && (RankPattern ?? []).SequenceEqual(other.RankPattern ?? []) && (AlphaPattern ?? []).SequenceEqual(other.AlphaPattern ?? [])
        && (ModulesToSave ?? []).SequenceEqual(other.ModulesToSave ?? [])
        && (LayersToTransform ?? []).SequenceEqual(other.LayersToTransform ?? []) && (LayersPattern ?? []).SequenceEqual(other.LayersPattern ?? []);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(R, LoraAlpha, TargetModulesRegex, Bias, UseRsLora, (TargetModules ?? []).Count);

    /// <summary>Checks the values; <paramref name="file"/> is null for in-memory configs (ArgumentException then).</summary>
    internal void Validate(string? file)
    {
        Exception Bad(string key, string message) =>
            file is null ? new ArgumentException($"Invalid adapter config: {key}: {message}") : Corrupt(file, key, message);
        if (R < 1) throw Bad("r", $"{R} must be a positive integer");
        if (!double.IsFinite(LoraAlpha) || LoraAlpha <= 0) throw Bad("lora_alpha", $"{LoraAlpha} must be a positive number");
        if (!(LoraDropout >= 0 && LoraDropout < 1)) throw Bad("lora_dropout", $"{LoraDropout} is outside [0, 1)");
        if (TargetModulesRegex is null && (TargetModules is null || TargetModules.Count == 0))
            throw Bad("target_modules", "names no module");
        if (TargetModules is not null && TargetModules.Any(string.IsNullOrEmpty)) throw Bad("target_modules", "has an empty name");
        if (TargetModulesRegex is not null)
        {
            try { _ = new Regex(TargetModulesRegex, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)); }
            catch (ArgumentException e) { throw Bad("target_modules", $"is not a valid regular expression: {e.Message}"); }
        }
        if (!IsKnownInit(InitLoraWeights)) throw Bad("init_lora_weights", $"{InitLoraWeights} is not supported");
        if (RankPattern is null) throw Bad("rank_pattern", "is null");
        if (AlphaPattern is null) throw Bad("alpha_pattern", "is null");
        foreach (var (key, r) in RankPattern)
        {
            if (PeftPatterns.Problem(key) is { } why) throw Bad($"rank_pattern.{key}", why);
            if (r < 1) throw Bad($"rank_pattern.{key}", $"{r} must be a positive integer");
        }
        foreach (var (key, a) in AlphaPattern)
        {
            if (PeftPatterns.Problem(key) is { } why) throw Bad($"alpha_pattern.{key}", why);
            if (!double.IsFinite(a) || a <= 0) throw Bad($"alpha_pattern.{key}", $"{a} must be a positive number");
        }
        if (RankPattern.Select(p => p.Key).Distinct().Count() != RankPattern.Count) throw Bad("rank_pattern", "has a duplicate key");
        if (AlphaPattern.Select(p => p.Key).Distinct().Count() != AlphaPattern.Count) throw Bad("alpha_pattern", "has a duplicate key");
        if (!Enum.IsDefined(Bias)) throw Bad("bias", $"{Bias} is not none, all or lora_only");
        if (ModulesToSave is null) throw Bad("modules_to_save", "is null (use an empty list)");
        for (int i = 0; i < ModulesToSave.Count; i++)
            if (string.IsNullOrEmpty(ModulesToSave[i])) throw Bad($"modules_to_save[{i}]", "is empty, which would select every module");
        PeftLayers.Validate(this, Bad);
        PeftExclusions.Validate(this, Bad);
    }

    // "eva" and "orthogonal" only choose the factors' starting values and leave the base weights alone, so a trained
    // adapter of theirs is a plain LoRA adapter. PiSSA's residual base is the user's to supply, as in PEFT; the other
    // methods that rewrite or quantise the base (olora, corda, loftq) stay refused.
    static bool IsKnownInit(string v) =>
        v is "true" or "false" or "gaussian" or "pissa" or "eva" or "orthogonal" ||
        (v.StartsWith("pissa_niter_", StringComparison.Ordinal) && int.TryParse(v.AsSpan(12), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0);

    /// <summary>The <c>adapter_config.json</c> text.</summary>
    public string ToJson()
    {
        Validate(null);
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            // Keys in sorted order, as PEFT writes them.
            w.WriteStartObject("alpha_pattern");
            // Pattern keys keep their order, which decides between overlapping keys (PEFT's sort_keys would reorder them).
            foreach (var (key, a) in AlphaPattern) WriteAlpha(w, key, a);
            w.WriteEndObject();
            WriteStringOrNull(w, "base_model_name_or_path", BaseModelNameOrPath);
            w.WriteString("bias", BiasName(Bias));
            PeftExclusions.Write(w, this);
            w.WriteBoolean("fan_in_fan_out", false);
            w.WriteBoolean("inference_mode", InferenceMode);
            if (InitLoraWeights is "true" or "false") w.WriteBoolean("init_lora_weights", InitLoraWeights == "true");
            else w.WriteString("init_lora_weights", InitLoraWeights);
            PeftLayers.Write(w, this);
            WriteAlpha(w, "lora_alpha", LoraAlpha);
            w.WriteNumber("lora_dropout", LoraDropout);
            if (ModulesToSave.Count == 0) w.WriteNull("modules_to_save");
            else
            {
                // PEFT keeps the list as given (sort_keys orders only object keys).
                w.WriteStartArray("modules_to_save");
                foreach (var m in ModulesToSave) w.WriteStringValue(m);
                w.WriteEndArray();
            }
            w.WriteString("peft_type", "LORA");
            w.WriteNumber("r", R);
            w.WriteStartObject("rank_pattern");
            foreach (var (key, r) in RankPattern) w.WriteNumber(key, r);
            w.WriteEndObject();
            w.WriteNull("revision");
            if (TargetModulesRegex is not null) w.WriteString("target_modules", TargetModulesRegex);
            else
            {
                w.WriteStartArray("target_modules");
                foreach (var t in TargetModules.Order(StringComparer.Ordinal)) w.WriteStringValue(t);
                w.WriteEndArray();
            }
            WriteStringOrNull(w, "task_type", TaskType);
            w.WriteBoolean("use_dora", UseDora);
            w.WriteBoolean("use_rslora", UseRsLora);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()).Replace("\r\n", "\n") + "\n";
    }

    // Whole alphas as integers, as PEFT's configs hold them (lora_alpha: 16, not 16.0).
    static void WriteAlpha(Utf8JsonWriter w, string key, double alpha)
    {
        if (alpha == Math.Floor(alpha) && Math.Abs(alpha) < 1e15) w.WriteNumber(key, (long)alpha);
        else w.WriteNumber(key, alpha);
    }

    static void WriteStringOrNull(Utf8JsonWriter w, string key, string? value)
    {
        if (value is null) w.WriteNull(key);
        else w.WriteString(key, value);
    }

    /// <summary>PEFT's spelling of a bias mode.</summary>
    public static string BiasName(PeftBias bias) => bias switch
    {
        PeftBias.None => "none",
        PeftBias.All => "all",
        PeftBias.LoraOnly => "lora_only",
        _ => throw new ArgumentOutOfRangeException(nameof(bias)),
    };

    /// <summary>Reads and validates an <c>adapter_config.json</c> file.</summary>
    public static PeftAdapterConfig Read(string path) => PeftAdapterConfigReader.FromJson(ReadFileBytes(path), path);

    /// <summary>Parses <c>adapter_config.json</c> bytes; <paramref name="file"/> names the file in errors.</summary>
    /// <exception cref="InvalidDataException">Invalid JSON, duplicate keys, a missing or invalid field, or an unsupported PEFT feature.</exception>
    public static PeftAdapterConfig FromJson(ReadOnlySpan<byte> utf8, string file) => PeftAdapterConfigReader.FromJson(utf8, file);

    /// <summary>Writes <see cref="ToJson"/> to <paramref name="path"/> atomically.</summary>
    public void Write(string path) => AtomicFile.WriteAllBytes(path, Encoding.UTF8.GetBytes(ToJson()));
}
