using System.Text.RegularExpressions;

namespace Lora.Core.IO;

/// <summary>PEFT's per-module overrides (<c>rank_pattern</c>, <c>alpha_pattern</c>): which key of an ordered pattern
/// map applies to a module path.</summary>
/// <remarks>
/// PEFT's rule (<c>peft.utils.other.get_pattern_key</c>): the keys are tried in order and the first key for which
/// the regular expression <c>(.*\.)?(key)$</c> matches the whole module path from its start wins; a path no key
/// matches takes the default (<c>r</c> or <c>lora_alpha</c>). So a plain name matches the path itself or a
/// dot-aligned suffix of it (<c>"0"</c> matches <c>layers.0</c>, not <c>layers.10</c>), and a key may be any regular
/// expression (<c>"layers\\.[01]"</c>). The rank and alpha maps are looked up separately. Keys are
/// <see cref="Regex"/> patterns (the constructs PEFT's users write — names, dots, classes, alternations, anchors —
/// mean the same in Python's <c>re</c>), matched culture-invariantly with a one-second timeout.
/// </remarks>
internal static class PeftPatterns
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);

    /// <summary>The value of the first key of <paramref name="pattern"/> that matches <paramref name="path"/>, or
    /// <paramref name="fallback"/>.</summary>
    /// <exception cref="RegexMatchTimeoutException">A key takes over a second to match.</exception>
    public static T Lookup<T>(IReadOnlyList<KeyValuePair<string, T>> pattern, string path, T fallback)
    {
        foreach (var (key, value) in pattern)
            if (Regex.IsMatch(path, Wrap(key), RegexOptions.CultureInvariant, Timeout)) return value;
        return fallback;
    }

    /// <summary>Null when <paramref name="key"/> is a usable pattern key, else why not.</summary>
    public static string? Problem(string key)
    {
        if (key.Length == 0) return "an empty key matches no module";
        try { _ = new Regex(Wrap(key), RegexOptions.CultureInvariant, Timeout); return null; }
        catch (ArgumentException e) { return $"is not a valid regular expression: {e.Message}"; }
    }

    /// <summary>A key that selects exactly one module path (its dots escaped, anchored at the start), for writing
    /// per-module values Lora holds into a PEFT file.</summary>
    public static string Exact(string path) => "^" + Regex.Escape(path);

    // Python's re.match anchors at the start; $ there also allows one final newline, which no module path has.
    static string Wrap(string key) => @"\A(?:.*\.)?(?:" + key + @")\z";

    /// <summary>The map in its enumeration order, as an immutable list.</summary>
    public static KeyValuePair<string, T>[] Freeze<T>(IEnumerable<KeyValuePair<string, T>> pattern) => pattern.ToArray();
}
