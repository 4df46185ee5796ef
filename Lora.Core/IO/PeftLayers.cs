using System.Text.RegularExpressions;

namespace Lora.Core.IO;

/// <summary>PEFT's <c>layers_to_transform</c> / <c>layers_pattern</c> restriction of <c>target_modules</c>: which
/// layer index a module path carries, and whether a restriction keeps it. Shared by <see cref="PeftAdapterConfig"/>
/// and <see cref="Lora.LoraConfig"/>.</summary>
/// <remarks>
/// PEFT's rule (<c>peft.tuners.tuners_utils.check_target_module_exists</c>, huggingface/peft main at commit 005fdd5,
/// which includes PR #3318): the restriction applies only to a module that a <em>list</em> <c>target_modules</c> selects by a
/// dot-aligned suffix (a path equal to an entry is selected whatever the layers), and only when
/// <c>layers_to_transform</c> is an integer or a non-empty list. The layer index is then the first match, from the
/// start of the path, of <c>.*?\.[^.]*\.(\d+)\.</c> (no pattern) or of <c>.*?\.{pattern}\.(\d+)\.</c> for the first
/// pattern that matches: a number between two dots, right after a dot-preceded segment (or the pattern). So
/// <c>model.layers.2.fc</c> has index 2, <c>blocks.1.layers.0.fc</c> has 1 (the lazy <c>.*?</c> takes the first
/// numbered segment), while <c>layers.2</c> and <c>layers.2.fc</c> have none — the number must follow a dot and be
/// followed by one — and a module without an index is not selected. Before PR #3318 (June 2026) PEFT used a greedy
/// <c>.*</c>, which took the last numbered segment instead; both agree whenever a path has one numbered segment.
/// PR #2158 (merged later) lets a pattern also match at the very start (<c>layers.0.fc</c> with pattern
/// <c>layers</c>); Lora follows 005fdd5, where a segment must precede the pattern.
/// A pattern is inserted into the regular expression as it is, as PEFT does (<c>layers</c>, <c>h</c>, or a
/// regular expression such as <c>h|layers</c>); Lora reads the number from its own named group, so a pattern with
/// groups of its own (which makes PEFT read the wrong group and fail) still yields the number, and a match without
/// it counts as no index.
/// </remarks>
internal static class PeftLayers
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);
    const string Group = "peftlayerindex";

    /// <summary>The layer index of <paramref name="path"/> under PEFT's rule, or null when it has none (a number
    /// too large for an int counts as none: no <c>layers_to_transform</c> entry can equal it).</summary>
    /// <param name="patterns">PEFT's <c>layers_pattern</c>; empty = any segment name.</param>
    /// <exception cref="RegexMatchTimeoutException">A pattern takes over a second to match.</exception>
    public static int? IndexOf(string path, IReadOnlyList<string> patterns)
    {
        if (patterns.Count == 0) return Read(Regex.Match(path, Wrap(@"[^.]*"), RegexOptions.CultureInvariant, Timeout));
        foreach (var pattern in patterns)
        {
            var m = Regex.Match(path, Wrap(pattern), RegexOptions.CultureInvariant, Timeout);
            if (m.Success) return Read(m); // PEFT stops at the first pattern that matches
        }
        return null;
    }

    /// <summary>True when a module that a target entry selects stays selected: the entry names the whole path
    /// (<paramref name="listedExactly"/>: selected whatever the layers), <paramref name="layers"/> is empty (no
    /// restriction), or it holds the path's layer index.</summary>
    /// <exception cref="RegexMatchTimeoutException">A pattern takes over a second to match.</exception>
    public static bool Keeps(string path, bool listedExactly, IReadOnlyList<int> layers, IReadOnlyList<string> patterns) =>
        listedExactly || layers.Count == 0 || (IndexOf(path, patterns) is int i && layers.Contains(i));

    /// <summary>Null when <paramref name="pattern"/> is a usable <c>layers_pattern</c> entry, else why not.</summary>
    public static string? Problem(string pattern)
    {
        if (pattern.Length == 0) return "is empty (leave layers_pattern null or empty for any name)";
        try { _ = new Regex(Wrap(pattern), RegexOptions.CultureInvariant, Timeout); return null; }
        catch (ArgumentException e) { return $"is not a valid regular expression: {e.Message}"; }
    }

    /// <summary>Describes a restriction for messages: <c>layers_to_transform [0, 2]</c> (+ the patterns).</summary>
    public static string Describe(IReadOnlyList<int> layers, IReadOnlyList<string> patterns) =>
        $"layers_to_transform [{string.Join(", ", layers)}]" + (patterns.Count == 0 ? "" : $" with layers_pattern [{string.Join(", ", patterns.Select(p => $"'{p}'"))}]");

    /// <summary>PEFT's <c>LoraConfig.__post_init__</c> rules for the two fields, plus their values; <paramref name="bad"/> builds the error (key, message).</summary>
    public static void Validate(PeftAdapterConfig c, Func<string, string, Exception> bad)
    {
        if (c.LayersToTransform is null) throw bad("layers_to_transform", "is null (use an empty list)");
        if (c.LayersPattern is null) throw bad("layers_pattern", "is null (use an empty list)");
        for (int i = 0; i < c.LayersToTransform.Count; i++)
            if (c.LayersToTransform[i] < 0) throw bad($"layers_to_transform[{i}]", $"{c.LayersToTransform[i]} is negative; layer indices start at 0");
        for (int i = 0; i < c.LayersPattern.Count; i++)
            if (Problem(c.LayersPattern[i] ?? "") is { } why) throw bad($"layers_pattern[{i}]", $"'{c.LayersPattern[i]}' {why}");
        if (c.TargetModulesRegex is not null && c.LayersToTransform.Count > 0)
            throw bad("layers_to_transform", "cannot be used when target_modules is a regular expression string (PEFT refuses it)");
        if (c.TargetModulesRegex is not null && c.LayersPattern.Count > 0)
            throw bad("layers_pattern", "cannot be used when target_modules is a regular expression string (PEFT refuses it)");
        if (c.LayersPattern.Count > 0 && c.LayersToTransform.Count == 0)
            throw bad("layers_pattern", $"[{string.Join(", ", c.LayersPattern)}] is set without layers_to_transform (PEFT refuses a pattern without layers)");
        if (c.LayersPattern.Count > 0 && c.LayersToTransformIsInt && c.LayersToTransform[0] == 0)
            throw bad("layers_to_transform", "0 as a plain integer with a layers_pattern is refused by PEFT (its check reads 0 as unset); write [0]");
    }

    /// <summary>Writes <c>layers_pattern</c> and <c>layers_to_transform</c> (in that sorted key order) as PEFT does:
    /// null when unset, else the form the config was given (an integer / a string read from a file stays one).</summary>
    public static void Write(System.Text.Json.Utf8JsonWriter w, PeftAdapterConfig c)
    {
        if (c.LayersPattern.Count == 0) w.WriteNull("layers_pattern");
        else if (c.LayersPatternIsString && c.LayersPattern.Count == 1) w.WriteString("layers_pattern", c.LayersPattern[0]);
        else
        {
            w.WriteStartArray("layers_pattern");
            foreach (var p in c.LayersPattern) w.WriteStringValue(p);
            w.WriteEndArray();
        }
        if (c.LayersToTransform.Count == 0) w.WriteNull("layers_to_transform");
        else if (c.LayersToTransformIsInt && c.LayersToTransform.Count == 1) w.WriteNumber("layers_to_transform", c.LayersToTransform[0]);
        else
        {
            w.WriteStartArray("layers_to_transform");
            foreach (var i in c.LayersToTransform) w.WriteNumberValue(i);
            w.WriteEndArray();
        }
    }

    // Python's re.match anchors every alternative at the start; the outer group does the same here.
    static string Wrap(string pattern) => @"\A(?:.*?\." + pattern + @"\.(?<" + Group + @">\d+)\.)";

    static int? Read(Match m)
    {
        if (!m.Success || !m.Groups[Group].Success) return null;
        long value = 0;
        foreach (char c in m.Groups[Group].ValueSpan)
        {
            value = value * 10 + (long)char.GetNumericValue(c); // \d also matches non-ASCII decimal digits, as in Python
            if (value > int.MaxValue) return null;
        }
        return (int)value;
    }
}
