using System.Text;
using System.Text.RegularExpressions;

namespace Lora.Core.Lora;

/// <summary>One entry of <see cref="LoraConfig.TargetModules"/>: which module paths (e.g. <c>layers.0</c>) it selects.</summary>
/// <remarks>
/// Syntax, checked in this order:
/// <list type="bullet">
/// <item><c>all-linear</c>: every Linear layer in the model.</item>
/// <item><c>re:REGEX</c>: a .NET regular expression that must match the whole module path (PEFT's string form of
/// <c>target_modules</c> is also a full-match regex).</item>
/// <item>A glob (contains <c>*</c> or <c>?</c>): <c>*</c> matches any run of characters except <c>.</c>, <c>**</c> any
/// run including dots, <c>?</c> one character except <c>.</c>.</item>
/// <item>Anything else is a plain name.</item>
/// </list>
/// Plain names and globs use PEFT's suffix rule: they select a path when they match the whole path or the part
/// after one of its dots. So <c>0</c>, <c>layers.0</c> and <c>layers.*</c> all select <c>layers.0</c>, but
/// <c>ayers.0</c> does not.
/// </remarks>
public sealed class TargetModulePattern
{
    /// <summary>The entry selecting every Linear layer.</summary>
    public const string AllLinear = "all-linear";

    /// <summary>The prefix marking a regular-expression entry.</summary>
    public const string RegexPrefix = "re:";

    readonly Regex? _regex;
    readonly string? _name;

    TargetModulePattern(string text, Regex? regex, string? name) { Text = text; _regex = regex; _name = name; }

    /// <summary>The entry as written.</summary>
    public string Text { get; }

    /// <summary>True for <c>all-linear</c>.</summary>
    public bool IsAllLinear => Text == AllLinear;

    /// <summary>Parses and validates one entry.</summary>
    /// <exception cref="ArgumentException">An empty entry, an invalid regular expression, or a glob or name with
    /// empty dot-separated segments (e.g. <c>layers..0</c>).</exception>
    public static TargetModulePattern Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0 || text.Trim().Length != text.Length)
            throw new ArgumentException($"Target module pattern '{text}' is empty or has surrounding spaces.", nameof(text));
        if (text == AllLinear) return new(text, null, null);
        if (text.StartsWith(RegexPrefix, StringComparison.Ordinal))
        {
            string body = text[RegexPrefix.Length..];
            try { return new(text, new Regex("^(?:" + body + ")$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)), null); }
            catch (ArgumentException e) { throw new ArgumentException($"Target module pattern '{text}' is not a valid regular expression: {e.Message}", nameof(text)); }
        }
        if (text.StartsWith('.') || text.EndsWith('.') || text.Contains(".."))
            throw new ArgumentException($"Target module pattern '{text}' has an empty path segment.", nameof(text));
        if (text.IndexOfAny(['*', '?']) < 0) return new(text, null, text);
        // A glob becomes an anchored regex that may also start right after any dot (the suffix rule).
        var sb = new StringBuilder("^(?:.*\\.)?");
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '*' && i + 1 < text.Length && text[i + 1] == '*') { sb.Append(".*"); i++; }
            else if (c == '*') sb.Append("[^.]*");
            else if (c == '?') sb.Append("[^.]");
            else sb.Append(Regex.Escape(c.ToString()));
        }
        sb.Append('$');
        return new(text, new Regex(sb.ToString(), RegexOptions.CultureInvariant), null);
    }

    /// <summary>True when this entry selects the Linear module at <paramref name="path"/>.</summary>
    public bool Matches(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (IsAllLinear) return true;
        if (_name is not null)
            return path == _name || (path.Length > _name.Length && path.EndsWith(_name, StringComparison.Ordinal) && path[^(_name.Length + 1)] == '.');
        return _regex!.IsMatch(path);
    }

    /// <inheritdoc/>
    public override string ToString() => Text;
}
