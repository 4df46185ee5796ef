using System.Text.Json;
using System.Text.RegularExpressions;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.IO;

/// <summary>PEFT's <c>exclude_modules</c> (modules never wrapped, whatever <c>target_modules</c> says), and the
/// <c>adapter_config.json</c> fields of PEFT features that change what an adapter computes and that Lora cannot
/// apply: a file that sets one is refused rather than applied as a plain LoRA adapter.</summary>
/// <remarks>PEFT's rule (<c>check_target_module_exists</c>, since PEFT 0.14): checked before the targets, a string is a
/// regular expression that must match the whole module path; a list excludes a path equal to an entry or ending with
/// "." + entry.</remarks>
internal static class PeftExclusions
{
    const string Key = "exclude_modules";

    /// <summary>Fields whose non-empty value (anything but null, false, [] or {}) Lora refuses, with why.</summary>
    static readonly (string Key, string Why)[] Unsupported =
    [
        ("target_parameters", "LoRA on bare parameters (not modules) is not supported"),
        ("trainable_token_indices", "trainable token rows of an embedding are not supported"),
        ("layer_replication", "replicating the base model's layers is not supported"),
        ("alora_invocation_tokens", "activated LoRA (applied only after the invocation tokens) is not supported"),
        ("use_qalora", "QALoRA (inputs pooled in groups) is not supported"),
        ("use_bdlora", "block-diagonal LoRA is not supported"),
        ("arrow_config", "Arrow routing between LoRA experts is not supported"),
        ("velora_config", "VeLoRA is not supported"),
        ("monteclora_config", "MonteCLoRA is not supported"),
    ];

    /// <summary>Throws for the first field of <see cref="Unsupported"/> that the file sets.</summary>
    public static void RefuseUnsupported(JsonElement root, string file)
    {
        foreach (var (key, why) in Unsupported)
        {
            if (!root.TryGetProperty(key, out var v)) continue;
            bool unset = v.ValueKind is JsonValueKind.Null or JsonValueKind.False
                || v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0
                || v.ValueKind == JsonValueKind.Object && !v.EnumerateObject().Any();
            if (!unset) throw Corrupt(file, key, $"{StrictJson.Show(v)} is set, but {why}; refusing rather than applying the adapter without it");
        }
    }

    /// <summary><c>exclude_modules</c>: null (none), a regular expression string, or a list of names.</summary>
    public static (List<string> Names, string? Regex) Read(JsonElement root, string file)
    {
        if (!StrictJson.TryGet(root, Key, out var v)) return ([], null);
        if (v.ValueKind == JsonValueKind.String) return ([], v.GetString()!);
        if (v.ValueKind != JsonValueKind.Array) throw Corrupt(file, Key, $"must be a list of module names, a regular expression string or null, not {StrictJson.Show(v)}");
        var names = new List<string>();
        foreach (var e in v.EnumerateArray()) names.Add(StrictJson.String(e, $"{Key}[{names.Count}]", file));
        return (names, null);
    }

    /// <summary>True when <c>exclude_modules</c> keeps <paramref name="path"/> from being wrapped.</summary>
    /// <exception cref="RegexMatchTimeoutException">The regular expression takes over a second to match.</exception>
    public static bool Excludes(PeftAdapterConfig c, string path) =>
        c.ExcludeModulesRegex is { } regex
            ? Regex.IsMatch(path, "^(?:" + regex + ")\\z", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1))
            : (c.ExcludeModules ?? []).Any(name => path == name || path.EndsWith("." + name, StringComparison.Ordinal));

    /// <summary>Refuses a null list, an empty name (it would exclude nothing PEFT's way, so it is a mistake) or an
    /// invalid regular expression; <paramref name="bad"/> builds the error (key, message).</summary>
    public static void Validate(PeftAdapterConfig c, Func<string, string, Exception> bad)
    {
        if (c.ExcludeModules is null) throw bad(Key, "is null (use an empty list)");
        for (int i = 0; i < c.ExcludeModules.Count; i++)
            if (string.IsNullOrEmpty(c.ExcludeModules[i])) throw bad($"{Key}[{i}]", "is empty");
        if (c.ExcludeModulesRegex is null) return;
        if (c.ExcludeModules.Count > 0) throw bad(Key, "is both a list and a regular expression");
        try { _ = new Regex(c.ExcludeModulesRegex, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)); }
        catch (ArgumentException e) { throw bad(Key, $"is not a valid regular expression: {e.Message}"); }
    }

    /// <summary>Writes <c>exclude_modules</c> when set (a string, or the names in the config's order, which a read keeps);
    /// nothing when unset, so files without exclusions keep their exact form.</summary>
    public static void Write(Utf8JsonWriter w, PeftAdapterConfig c)
    {
        if (c.ExcludeModulesRegex is not null) w.WriteString(Key, c.ExcludeModulesRegex);
        else if (c.ExcludeModules.Count > 0)
        {
            w.WriteStartArray(Key);
            foreach (var name in c.ExcludeModules) w.WriteStringValue(name);
            w.WriteEndArray();
        }
    }
}
