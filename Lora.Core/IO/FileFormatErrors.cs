namespace Lora.Core.IO;

/// <summary>Builds the one kind of error every reader throws for corrupt input: the file, the key, the problem.</summary>
internal static class FileFormatErrors
{
    /// <summary><c>{file}: {key}: {problem}</c>, e.g. <c>adapter/adapter_config.json: r: must be a positive integer</c>.</summary>
    public static InvalidDataException Corrupt(string file, string key, string problem, Exception? inner = null) =>
        new($"{file}: {key}: {problem}", inner);

    /// <summary>Throws when <paramref name="directory"/> is not a directory: a file given where a directory of
    /// <paramref name="holding"/> belongs (opening "file/config.json" reported "could not find a part of the path
    /// 'file/config.json'"), or a path that does not exist.</summary>
    /// <exception cref="FileNotFoundException">The path is a file.</exception>
    /// <exception cref="DirectoryNotFoundException">Nothing is at the path.</exception>
    public static void RequireDirectory(string directory, string holding)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (Directory.Exists(directory)) return;
        if (File.Exists(directory)) throw new FileNotFoundException($"{directory} is a file, not a directory holding {holding}.", directory);
        throw new DirectoryNotFoundException($"{directory}: no such directory (expected one holding {holding}).");
    }

    /// <summary><see cref="File.ReadAllBytes"/>, except that a directory at <paramref name="path"/> is a
    /// <see cref="FileNotFoundException"/> saying so (see <see cref="OpenRead"/>).</summary>
    public static byte[] ReadFileBytes(string path)
    {
        RequireNotDirectory(path, "a file");
        return File.ReadAllBytes(path);
    }

    /// <summary>Opens <paramref name="path"/> for reading (shared read), except that a directory there is a
    /// <see cref="FileNotFoundException"/> saying it is not <paramref name="kind"/>: Linux reports opening a directory
    /// as "access to the path is denied", which sends the user looking at permissions.</summary>
    public static FileStream OpenRead(string path, string kind)
    {
        RequireNotDirectory(path, kind);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
    }

    static void RequireNotDirectory(string path, string kind)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path)) throw new FileNotFoundException($"{path} is a directory, not {kind}.", path);
    }

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
