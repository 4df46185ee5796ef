using System.Text.Json;
using System.Text.Unicode;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.IO;

/// <summary>JSON parsing for configuration files that refuses what System.Text.Json would quietly accept.</summary>
/// <remarks>
/// JsonDocument keeps duplicate keys and lookups return one of them; a config with <c>"r": 4</c> twice is ambiguous,
/// so a first token pass rejects duplicates at every level before the document is built. Field accessors raise
/// <see cref="InvalidDataException"/> naming the file and key.
/// </remarks>
internal static class StrictJson
{
    public static JsonDocument Parse(ReadOnlySpan<byte> utf8, string file)
    {
        if (!Utf8.IsValid(utf8)) throw Corrupt(file, "JSON", "is not valid UTF-8");
        var options = new JsonReaderOptions { MaxDepth = 32 };
        var reader = new Utf8JsonReader(utf8, options);
        var keys = new List<HashSet<string>?>(); // one per open container; null for arrays
        var path = new List<(int Depth, string Name)>(); // the property names leading to the current token
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject: keys.Add(new HashSet<string>(StringComparer.Ordinal)); break;
                    case JsonTokenType.StartArray: keys.Add(null); break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray: keys.RemoveAt(keys.Count - 1); break;
                    case JsonTokenType.PropertyName:
                        string name = reader.GetString()!;
                        path.RemoveAll(p => p.Depth >= keys.Count);
                        if (!keys[^1]!.Add(name))
                            throw Corrupt(file, string.Join(".", path.Select(p => p.Name).Append(name)), "duplicate key");
                        path.Add((keys.Count, name));
                        break;
                }
            }
            return JsonDocument.Parse(utf8.ToArray(), new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw Corrupt(file, "JSON", "is not valid JSON: " + e.Message, e);
        }
    }

    public static JsonDocument ReadFile(string path) => Parse(ReadFileBytes(path), path);

    public static JsonElement Object(JsonDocument doc, string file)
    {
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Corrupt(file, "JSON", "must be an object");
        return doc.RootElement;
    }

    public static bool TryGet(JsonElement obj, string key, out JsonElement value) =>
        obj.TryGetProperty(key, out value) && value.ValueKind != JsonValueKind.Null;

    public static JsonElement Require(JsonElement obj, string key, string file) =>
        TryGet(obj, key, out var v) ? v : throw Corrupt(file, key, "is missing");

    /// <summary>Refuses a key outside <paramref name="known"/>: in a format whose optional keys have defaults, a
    /// misspelt key (<c>"activaton"</c>) would otherwise be ignored and its default used without a word.</summary>
    public static void RejectUnknownKeys(JsonElement obj, string file, string what, params string[] known)
    {
        foreach (var p in obj.EnumerateObject())
            if (Array.IndexOf(known, p.Name) < 0)
                throw Corrupt(file, Quote(p.Name), $"unknown key: {what} holds only {string.Join(", ", known)}");
    }

    public static int Int(JsonElement v, string key, string file, int min, int max)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long x))
            throw Corrupt(file, key, $"must be an integer, not {Show(v)}");
        if (x < min || x > max) throw Corrupt(file, key, $"{x} is outside [{min}, {max}]");
        return (int)x;
    }

    public static double Number(JsonElement v, string key, string file)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double x) || !double.IsFinite(x))
            throw Corrupt(file, key, $"must be a finite number, not {Show(v)}");
        return x;
    }

    public static bool Bool(JsonElement obj, string key, string file, bool defaultValue)
    {
        if (!TryGet(obj, key, out var v)) return defaultValue;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Corrupt(file, key, $"must be true or false, not {Show(v)}"),
        };
    }

    public static string String(JsonElement v, string key, string file) =>
        v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Corrupt(file, key, $"must be a string, not {Show(v)}");

    public static string? OptionalString(JsonElement obj, string key, string file) =>
        TryGet(obj, key, out var v) ? String(v, key, file) : null;

    /// <summary>A short rendering of a JSON value for error messages.</summary>
    public static string Show(JsonElement v)
    {
        string raw = v.GetRawText();
        return raw.Length > 40 ? raw[..40] + "..." : raw;
    }
}
