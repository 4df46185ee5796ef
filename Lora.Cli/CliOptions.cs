using System.Globalization;

namespace Lora.Cli;

/// <summary>
/// The parsed command line of one verb: positional arguments, <c>--name value</c> options and <c>--flag</c>
/// switches. Every option must be declared by the verb, so a typo is an error rather than silently ignored.
/// </summary>
internal sealed class CliOptions
{
    readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    readonly HashSet<string> _flags = new(StringComparer.Ordinal);

    public List<string> Positionals { get; } = [];

    /// <summary>Parses <paramref name="args"/> given the option names that take a value and the flag names.</summary>
    public static CliOptions Parse(string verb, IReadOnlyList<string> args, IReadOnlyCollection<string> valued, IReadOnlyCollection<string> flags)
    {
        var o = new CliOptions();
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal) || a == "--")
            {
                o.Positionals.Add(a);
                continue;
            }
            string name = a[2..], value;
            int eq = name.IndexOf('=');
            if (eq >= 0) (name, value) = (name[..eq], name[(eq + 1)..]);
            else value = "";
            if (flags.Contains(name))
            {
                if (eq >= 0) throw new UsageException($"{verb}: --{name} takes no value.");
                o._flags.Add(name);
            }
            else if (valued.Contains(name))
            {
                if (eq < 0)
                {
                    if (i + 1 >= args.Count) throw new UsageException($"{verb}: --{name} needs a value.");
                    value = args[++i];
                }
                if (value.Length == 0) throw new UsageException($"{verb}: --{name} is empty."); // an empty path means the current directory
                if (!o._values.TryAdd(name, value)) throw new UsageException($"{verb}: --{name} is given twice.");
            }
            else throw new UsageException($"{verb}: unknown option --{name} (see 'lora {verb} --help').");
        }
        return o;
    }

    public bool Flag(string name) => _flags.Contains(name);

    public string? String(string name) => _values.TryGetValue(name, out var v) ? v : null;

    public string RequiredString(string verb, string name) =>
        String(name) ?? throw new UsageException($"{verb}: --{name} is required.");

    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        if (!_values.TryGetValue(name, out var s)) return fallback;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v))
            throw new UsageException($"--{name}: expected an integer, got '{s}'.");
        if (v < min || v > max)
            throw new UsageException($"--{name}: {v} is out of range [{min}, {max}].");
        return v;
    }

    public float Float(string name, float fallback, float min = float.MinValue, float max = float.MaxValue)
    {
        if (!_values.TryGetValue(name, out var s)) return fallback;
        if (!float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) || !float.IsFinite(v))
            throw new UsageException($"--{name}: expected a number, got '{s}'.");
        if (v < min || v > max)
            throw new UsageException($"--{name}: {v.ToString(CultureInfo.InvariantCulture)} is out of range [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}].");
        return v;
    }
}
