using System.Text.Json;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.IO;

/// <summary>Parses PEFT's <c>adapter_config.json</c> field by field, naming the file and key on every error.</summary>
internal static class PeftAdapterConfigReader
{
    public static PeftAdapterConfig FromJson(ReadOnlySpan<byte> utf8, string file)
    {
        using var doc = StrictJson.Parse(utf8, file);
        var root = StrictJson.Object(doc, file);
        string peftType = StrictJson.String(StrictJson.Require(root, "peft_type", file), "peft_type", file);
        if (peftType != "LORA") throw Corrupt(file, "peft_type", $"'{peftType}' is not supported (expected 'LORA')");

        int r = StrictJson.Int(StrictJson.Require(root, "r", file), "r", file, 1, int.MaxValue);
        double alpha = StrictJson.TryGet(root, "lora_alpha", out var a) ? StrictJson.Number(a, "lora_alpha", file) : 8;
        double dropout = StrictJson.TryGet(root, "lora_dropout", out var d) ? StrictJson.Number(d, "lora_dropout", file) : 0;

        var targets = StrictJson.Require(root, "target_modules", file);
        string? regex = null;
        var names = new List<string>();
        if (targets.ValueKind == JsonValueKind.String) regex = targets.GetString()!;
        else if (targets.ValueKind == JsonValueKind.Array)
        {
            int i = 0;
            foreach (var t in targets.EnumerateArray()) names.Add(StrictJson.String(t, $"target_modules[{i++}]", file));
        }
        else throw Corrupt(file, "target_modules", "must be a list of module names or a regular expression string");

        var bias = PeftBias.None;
        if (StrictJson.TryGet(root, "bias", out var b))
        {
            bias = StrictJson.String(b, "bias", file) switch
            {
                "none" => PeftBias.None,
                "all" => PeftBias.All,
                "lora_only" => PeftBias.LoraOnly,
                var other => throw Corrupt(file, "bias", $"'{other}' is not none, all or lora_only"),
            };
        }

        string init = "true";
        if (StrictJson.TryGet(root, "init_lora_weights", out var iw))
        {
            init = iw.ValueKind switch
            {
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                JsonValueKind.String => iw.GetString()!,
                _ => throw Corrupt(file, "init_lora_weights", $"must be true, false or a method name, not {StrictJson.Show(iw)}"),
            };
        }

        RequireOff(root, file, "fan_in_fan_out", "Lora stores weights as (out, in)");
        RequireOff(root, file, "lora_bias", "a bias on lora_B is not supported");
        PeftExclusions.RefuseUnsupported(root, file);
        var (exclude, excludeRegex) = PeftExclusions.Read(root, file);
        var modulesToSave = Names(root, file, "modules_to_save");
        var rankPattern = Pattern(root, file, "rank_pattern", (v, key) => StrictJson.Int(v, key, file, 1, int.MaxValue));
        var alphaPattern = Pattern(root, file, "alpha_pattern", (v, key) => StrictJson.Number(v, key, file));
        var (layers, layersIsInt) = LayerIndices(root, file);
        var (layersPattern, patternIsString) = LayerPatterns(root, file);

        var config = new PeftAdapterConfig
        {
            R = r,
            LoraAlpha = alpha,
            LoraDropout = dropout,
            TargetModules = names,
            TargetModulesRegex = regex,
            ExcludeModules = exclude,
            ExcludeModulesRegex = excludeRegex,
            UseRsLora = StrictJson.Bool(root, "use_rslora", file, false),
            UseDora = StrictJson.Bool(root, "use_dora", file, false),
            Bias = bias,
            InitLoraWeights = init,
            TaskType = StrictJson.OptionalString(root, "task_type", file),
            BaseModelNameOrPath = StrictJson.OptionalString(root, "base_model_name_or_path", file),
            InferenceMode = StrictJson.Bool(root, "inference_mode", file, true),
            RankPattern = rankPattern,
            AlphaPattern = alphaPattern,
            ModulesToSave = modulesToSave,
            LayersToTransform = layers,
            LayersToTransformIsInt = layersIsInt,
            LayersPattern = layersPattern,
            LayersPatternIsString = patternIsString,
        };
        config.Validate(file);
        return config;
    }

    /// <summary>A pattern map (<c>rank_pattern</c>, <c>alpha_pattern</c>) in the file's order; absent or null = empty.</summary>
    static List<KeyValuePair<string, T>> Pattern<T>(JsonElement root, string file, string key, Func<JsonElement, string, T> value)
    {
        var list = new List<KeyValuePair<string, T>>();
        if (!StrictJson.TryGet(root, key, out var v)) return list;
        if (v.ValueKind != JsonValueKind.Object) throw Corrupt(file, key, $"must be an object mapping module patterns to values, not {StrictJson.Show(v)}");
        foreach (var p in v.EnumerateObject()) list.Add(new(p.Name, value(p.Value, $"{key}.{p.Name}")));
        return list;
    }

    /// <summary><c>layers_to_transform</c>: a layer index or a list of them (PEFT's <c>Union[list[int], int]</c>);
    /// absent, null or [] = every layer. True when the file held a plain integer.</summary>
    static (List<int> Layers, bool IsInt) LayerIndices(JsonElement root, string file)
    {
        const string key = "layers_to_transform";
        if (!StrictJson.TryGet(root, key, out var v)) return ([], false);
        if (v.ValueKind == JsonValueKind.Number) return ([StrictJson.Int(v, key, file, 0, int.MaxValue)], true);
        if (v.ValueKind != JsonValueKind.Array) throw Corrupt(file, key, $"must be a layer index, a list of layer indices or null, not {StrictJson.Show(v)}");
        var layers = new List<int>();
        foreach (var e in v.EnumerateArray()) layers.Add(StrictJson.Int(e, $"{key}[{layers.Count}]", file, 0, int.MaxValue));
        return (layers, false);
    }

    /// <summary><c>layers_pattern</c>: a name or a list of names (PEFT's <c>Union[list[str], str]</c>); absent, null,
    /// "" or [] = any name (PEFT treats all of them alike). True when the file held a plain string.</summary>
    static (List<string> Patterns, bool IsString) LayerPatterns(JsonElement root, string file)
    {
        const string key = "layers_pattern";
        if (!StrictJson.TryGet(root, key, out var v)) return ([], false);
        if (v.ValueKind == JsonValueKind.String) return v.GetString()!.Length == 0 ? ([], false) : ([v.GetString()!], true);
        if (v.ValueKind != JsonValueKind.Array) throw Corrupt(file, key, $"must be a name, a list of names or null, not {StrictJson.Show(v)}");
        var patterns = new List<string>();
        foreach (var e in v.EnumerateArray()) patterns.Add(StrictJson.String(e, $"{key}[{patterns.Count}]", file));
        return (patterns, false);
    }

    static void RequireOff(JsonElement root, string file, string key, string why)
    {
        if (StrictJson.Bool(root, key, file, false)) throw Corrupt(file, key, $"true is not supported: {why}");
    }

    /// <summary>A list of module names (<c>modules_to_save</c>); absent or null = empty.</summary>
    static List<string> Names(JsonElement root, string file, string key)
    {
        var names = new List<string>();
        if (!StrictJson.TryGet(root, key, out var v)) return names;
        if (v.ValueKind != JsonValueKind.Array) throw Corrupt(file, key, $"must be a list of module names or null, not {StrictJson.Show(v)}");
        int i = 0;
        foreach (var e in v.EnumerateArray())
        {
            string name = StrictJson.String(e, $"{key}[{i}]", file);
            if (name.Length == 0) throw Corrupt(file, $"{key}[{i}]", "is empty, which would select every module");
            names.Add(name);
            i++;
        }
        return names;
    }
}
