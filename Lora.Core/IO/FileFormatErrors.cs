namespace Lora.Core.IO;

/// <summary>Builds the one kind of error every reader throws for corrupt input: the file, the key, the problem.</summary>
internal static class FileFormatErrors
{
    /// <summary><c>{file}: {key}: {problem}</c>, e.g. <c>adapter/adapter_config.json: r: must be a positive integer</c>.</summary>
    public static InvalidDataException Corrupt(string file, string key, string problem, Exception? inner = null) =>
        new($"{file}: {key}: {problem}", inner);

    /// <summary>Quotes a key for a message, keeping control characters and very long names readable.</summary>
    public static string Quote(string key)
    {
        var sb = new System.Text.StringBuilder(key.Length + 2);
        sb.Append('\'');
        foreach (char c in key.Length > 200 ? key[..200] : key)
        {
            if (char.IsControl(c)) sb.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            else sb.Append(c);
        }
        if (key.Length > 200) sb.Append("...");
        sb.Append('\'');
        return sb.ToString();
    }
}
