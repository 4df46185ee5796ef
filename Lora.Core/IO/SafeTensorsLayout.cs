using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Lora.Core.IO;

/// <summary>The planned bytes of a safetensors file to write: a padded header, then each tensor's F32 data.</summary>
/// <remarks>
/// The header JSON is written by hand, not by Utf8JsonWriter, to reproduce serde_json's compact output and
/// escaping byte for byte: the reference writer's files and ours are then identical for the same F32 tensors.
/// </remarks>
internal sealed class SafeTensorsLayout
{
    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    readonly byte[] header;
    readonly TensorData[] ordered;

    SafeTensorsLayout(byte[] header, TensorData[] ordered, long dataLength)
    {
        this.header = header;
        this.ordered = ordered;
        FileLength = 8 + header.Length + dataLength;
    }

    public long FileLength { get; }

    public static SafeTensorsLayout Create(IEnumerable<TensorData> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = new List<(byte[] Key, TensorData Tensor)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (t is null) throw new ArgumentException("A tensor to write is null.", nameof(tensors));
            if (t.Name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor.", nameof(tensors));
            if (!names.Add(t.Name)) throw new ArgumentException($"Two tensors are named '{t.Name}'.", nameof(tensors));
            list.Add((Utf8(t.Name, nameof(tensors)), t));
        }
        // Every tensor is F32, so the reference order (descending dtype, then name) is name order, compared
        // as UTF-8 bytes like Rust's String.
        list.Sort((a, b) => a.Key.AsSpan().SequenceCompareTo(b.Key));

        var json = new StringBuilder("{");
        if (metadata is { Count: > 0 })
        {
            var pairs = metadata.Select(kv => (Key: Utf8(kv.Key, nameof(metadata)), kv.Key,
                Value: kv.Value ?? throw new ArgumentException($"Metadata '{kv.Key}' has a null value.", nameof(metadata)))).ToList();
            pairs.Sort((a, b) => a.Item1.AsSpan().SequenceCompareTo(b.Item1));
            json.Append("\"__metadata__\":{");
            for (int i = 0; i < pairs.Count; i++)
            {
                Utf8(pairs[i].Value, nameof(metadata));
                if (i > 0) json.Append(',');
                AppendString(json, pairs[i].Item2).Append(':');
                AppendString(json, pairs[i].Value);
            }
            json.Append('}');
            if (list.Count > 0) json.Append(',');
        }
        long offset = 0;
        for (int i = 0; i < list.Count; i++)
        {
            var t = list[i].Tensor;
            long end = offset + 4L * t.Count;
            if (i > 0) json.Append(',');
            AppendString(json, t.Name).Append(":{\"dtype\":\"F32\",\"shape\":[");
            for (int d = 0; d < t.Shape.Length; d++)
            {
                if (d > 0) json.Append(',');
                json.Append(t.Shape[d].ToString(CultureInfo.InvariantCulture));
            }
            json.Append("],\"data_offsets\":[").Append(offset.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(end.ToString(CultureInfo.InvariantCulture)).Append("]}");
            offset = end;
        }
        json.Append('}');
        // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
        int unpadded = StrictUtf8.GetByteCount(json.ToString());
        json.Append(' ', (8 - unpadded % 8) % 8);
        var header = StrictUtf8.GetBytes(json.ToString());
        if (header.Length > SafeTensors.MaxHeaderBytes)
            throw new ArgumentException($"The header would be {header.Length} bytes, over the {SafeTensors.MaxHeaderBytes}-byte limit.");
        return new SafeTensorsLayout(header, list.Select(p => p.Tensor).ToArray(), offset);
    }

    public void WriteTo(Stream stream)
    {
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        var buffer = new byte[1 << 16];
        foreach (var t in ordered)
        {
            if (BitConverter.IsLittleEndian)
            {
                stream.Write(MemoryMarshal.AsBytes(t.Data.AsSpan()));
                continue;
            }
            for (int i = 0; i < t.Data.Length;)
            {
                int n = Math.Min(buffer.Length / 4, t.Data.Length - i);
                for (int j = 0; j < n; j++) BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(4 * j), t.Data[i + j]);
                stream.Write(buffer, 0, 4 * n);
                i += n;
            }
        }
    }

    static byte[] Utf8(string s, string paramName)
    {
        ArgumentNullException.ThrowIfNull(s, paramName);
        try { return StrictUtf8.GetBytes(s); }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException($"'{s}' is not valid Unicode (a lone surrogate) and cannot be written as UTF-8.", paramName, e);
        }
    }

    /// <summary>A JSON string with serde_json's escaping: quote, backslash, short forms, \u00xx for other controls.</summary>
    static StringBuilder AppendString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20) sb.Append("\\u00").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"');
    }
}
