using System.Text.Json;
using System.Text.Unicode;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.IO;

/// <summary>Parses and checks the JSON header of a safetensors file with a streaming reader.</summary>
/// <remarks>
/// A token reader rather than a DOM, because System.Text.Json's DOM silently keeps one of two duplicate keys,
/// and a header whose duplicate names point at different bytes must be refused, not resolved by accident.
/// </remarks>
internal static class SafeTensorsHeaderParser
{
    const string MetadataKey = "__metadata__";

    /// <summary>Parses <paramref name="json"/>, the header bytes, against a data section of <paramref name="dataLength"/> bytes.</summary>
    public static SafeTensorsHeader Parse(ReadOnlySpan<byte> json, long dataLength, string file)
    {
        if (!Utf8.IsValid(json)) throw Corrupt(file, "header", "is not valid UTF-8");
        // The specification's header is a JSON object; the reference reader insists on '{' first.
        if (json.Length == 0 || json[0] != (byte)'{') throw Corrupt(file, "header", "does not start with '{'");
        var entries = new List<SafeTensorsEntry>();
        Dictionary<string, string>? metadata = null;
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 8 });
        try
        {
            Next(ref reader, file, "header");
            var names = new HashSet<string>(StringComparer.Ordinal);
            while (true)
            {
                Next(ref reader, file, "header");
                if (reader.TokenType == JsonTokenType.EndObject) break;
                string key = reader.GetString()!;
                if (!names.Add(key)) throw Corrupt(file, Quote(key), "duplicate key in the header");
                if (key == MetadataKey) metadata = ReadMetadata(ref reader, file);
                else entries.Add(ReadEntry(ref reader, key, dataLength, file));
            }
            if (reader.Read()) throw Corrupt(file, "header", "has content after the closing '}'");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw Corrupt(file, "header", "is not valid JSON: " + e.Message, e);
        }
        CheckTiling(entries, dataLength, file);
        return new SafeTensorsHeader(entries, metadata ?? new Dictionary<string, string>(), json.Length, dataLength);
    }

    static void Next(ref Utf8JsonReader reader, string file, string key)
    {
        if (!reader.Read()) throw Corrupt(file, key, "the JSON header ends early");
    }

    static Dictionary<string, string> ReadMetadata(ref Utf8JsonReader reader, string file)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        Next(ref reader, file, MetadataKey);
        if (reader.TokenType == JsonTokenType.Null) return map;
        if (reader.TokenType != JsonTokenType.StartObject)
            throw Corrupt(file, MetadataKey, "must be an object mapping strings to strings");
        while (true)
        {
            Next(ref reader, file, MetadataKey);
            if (reader.TokenType == JsonTokenType.EndObject) return map;
            string key = reader.GetString()!;
            string where = MetadataKey + "." + Quote(key);
            Next(ref reader, file, where);
            if (reader.TokenType != JsonTokenType.String) throw Corrupt(file, where, "metadata values must be strings");
            if (!map.TryAdd(key, reader.GetString()!)) throw Corrupt(file, where, "duplicate key in the metadata");
        }
    }

    static SafeTensorsEntry ReadEntry(ref Utf8JsonReader reader, string name, long dataLength, string file)
    {
        string q = Quote(name);
        Next(ref reader, file, q);
        if (reader.TokenType != JsonTokenType.StartObject)
            throw Corrupt(file, q, "must be an object with dtype, shape and data_offsets");
        SafeTensorsDType? dtype = null;
        int[]? shape = null;
        long[]? offsets = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            Next(ref reader, file, q);
            if (reader.TokenType == JsonTokenType.EndObject) break;
            string field = reader.GetString()!;
            string where = q + "." + field;
            if (!seen.Add(field)) throw Corrupt(file, where, "duplicate key");
            Next(ref reader, file, where);
            switch (field)
            {
                case "dtype":
                    if (reader.TokenType != JsonTokenType.String) throw Corrupt(file, where, "must be a string");
                    string s = reader.GetString()!;
                    if (!SafeTensorsDTypes.TryParse(s, out var dt)) throw Corrupt(file, where, $"unknown dtype {Quote(s)}");
                    dtype = dt;
                    break;
                case "shape":
                    shape = ReadIntegers(ref reader, file, where, int.MaxValue, "shape entries must be integers in [0, 2^31)")
                        .Select(v => (int)v).ToArray();
                    break;
                case "data_offsets":
                    offsets = ReadIntegers(ref reader, file, where, long.MaxValue, "offsets must be non-negative integers");
                    if (offsets.Length != 2) throw Corrupt(file, where, "must hold exactly two offsets [begin, end]");
                    break;
                default:
                    reader.Skip(); // fields a future writer may add; the ones we need are checked below
                    break;
            }
        }
        if (dtype is null) throw Corrupt(file, q + ".dtype", "is missing");
        if (shape is null) throw Corrupt(file, q + ".shape", "is missing");
        if (offsets is null) throw Corrupt(file, q + ".data_offsets", "is missing");
        long begin = offsets[0], end = offsets[1];
        if (begin > end) throw Corrupt(file, q + ".data_offsets", $"begin {begin} is after end {end}");
        if (end > dataLength)
            throw Corrupt(file, q + ".data_offsets", $"end {end} is beyond the data section ({dataLength} bytes)");
        long bytes = end - begin, size = dtype.Value.Size(), count = shape.Contains(0) ? 0 : 1;
        foreach (int d in shape)
        {
            // Stop as soon as the elements outgrow the range: no product can overflow, whatever the shape.
            if (count == 0 || count > bytes / d) { count = count == 0 ? 0 : -1; break; }
            count *= d;
        }
        if (count * size != bytes)
            throw Corrupt(file, q, $"shape {TensorData.FormatShape(shape)} of {dtype.Value.ToName()} does not fit " +
                $"data_offsets [{begin}, {end}] ({bytes} bytes)");
        return new SafeTensorsEntry(name, dtype.Value, shape, begin, end);
    }

    static long[] ReadIntegers(ref Utf8JsonReader reader, string file, string where, long max, string problem)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw Corrupt(file, where, "must be an array");
        var values = new List<long>();
        while (true)
        {
            Next(ref reader, file, where);
            if (reader.TokenType == JsonTokenType.EndArray) return values.ToArray();
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long v) || v < 0 || v > max)
                throw Corrupt(file, where, problem);
            if (values.Count >= 64) throw Corrupt(file, where, "has more than 64 entries");
            values.Add(v);
        }
    }

    /// <summary>The byte ranges, sorted, must cover [0, dataLength) exactly once.</summary>
    static void CheckTiling(List<SafeTensorsEntry> entries, long dataLength, string file)
    {
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long at = 0;
        SafeTensorsEntry? previous = null;
        foreach (var e in entries)
        {
            if (e.Begin < at)
                throw Corrupt(file, Quote(e.Name) + ".data_offsets",
                    $"[{e.Begin}, {e.End}] overlaps {Quote(previous!.Name)} [{previous.Begin}, {previous.End}]");
            if (e.Begin > at)
                throw Corrupt(file, Quote(e.Name) + ".data_offsets",
                    $"leaves a gap: bytes [{at}, {e.Begin}) of the data section belong to no tensor");
            at = e.End;
            if (e.End > e.Begin) previous = e;
        }
        if (at != dataLength)
            throw Corrupt(file, "data_offsets", $"the tensors cover {at} bytes but the data section holds {dataLength}");
    }
}
