using System.Buffers.Binary;
using System.Runtime.InteropServices;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.IO;

/// <summary>Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header, the data.</summary>
/// <remarks>
/// <para>Layout (https://github.com/huggingface/safetensors): bytes [0, 8) hold N, a little-endian u64; bytes
/// [8, 8+N) hold a UTF-8 JSON object mapping each tensor name to <c>{"dtype", "shape", "data_offsets": [begin, end]}</c>
/// with offsets relative to the data section at 8+N, plus an optional <c>"__metadata__"</c> string map. The data
/// section is the rest of the file: little-endian, row-major, the tensors tiling it without gaps.</para>
/// <para>Reading checks everything before handing anything out; any defect raises <see cref="InvalidDataException"/>
/// naming the file and the key. F32, F16 and BF16 are read into float32 (the narrow types widen exactly).</para>
/// <para>Writing stores F32, sorts tensors by name and metadata by key, and pads the header with spaces to a
/// multiple of 8 bytes, as the reference implementation does, so the same tensors always give the same bytes.</para>
/// </remarks>
public static class SafeTensors
{
    /// <summary>The largest header accepted, the reference implementation's limit (100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Reads every tensor of the file at <paramref name="path"/> into float32.</summary>
    /// <exception cref="InvalidDataException">The file is corrupt, truncated, or holds a dtype other than F32, F16, BF16.</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/> (a directory there included).</exception>
    public static SafeTensorsFile Read(string path)
    {
        using var stream = OpenFile(path);
        if (stream.Length > Array.MaxLength)
            throw Corrupt(path, "file", $"is {stream.Length} bytes; Lora reads safetensors files up to {Array.MaxLength} bytes");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return Parse(bytes, path);
    }

    static FileStream OpenFile(string path) => FileFormatErrors.OpenRead(path, "a safetensors file");

    /// <summary>Reads and validates only the header of the file at <paramref name="path"/>, whatever its dtypes.</summary>
    /// <exception cref="InvalidDataException">The header is corrupt or disagrees with the file's size.</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/> (a directory there included).</exception>
    public static SafeTensorsHeader ReadHeader(string path)
    {
        using var stream = OpenFile(path);
        Span<byte> prefix = stackalloc byte[8];
        if (stream.Length < 8) throw Corrupt(path, "header length", $"the file has {stream.Length} bytes, fewer than the 8-byte prefix");
        stream.ReadExactly(prefix);
        long n = CheckHeaderLength(BinaryPrimitives.ReadUInt64LittleEndian(prefix), stream.Length, path);
        var json = new byte[n];
        stream.ReadExactly(json);
        return SafeTensorsHeaderParser.Parse(json, stream.Length - 8 - n, path);
    }

    /// <summary>Validates the header of a whole file held in memory.</summary>
    public static SafeTensorsHeader ParseHeader(ReadOnlySpan<byte> file, string fileName)
    {
        if (file.Length < 8) throw Corrupt(fileName, "header length", $"the file has {file.Length} bytes, fewer than the 8-byte prefix");
        long n = CheckHeaderLength(BinaryPrimitives.ReadUInt64LittleEndian(file), file.Length, fileName);
        return SafeTensorsHeaderParser.Parse(file.Slice(8, (int)n), file.Length - 8 - n, fileName);
    }

    /// <summary>Parses a whole file held in memory into float32 tensors; <paramref name="fileName"/> is for messages.</summary>
    /// <exception cref="InvalidDataException">Any defect, named by file and key.</exception>
    public static SafeTensorsFile Parse(ReadOnlySpan<byte> file, string fileName)
    {
        var header = ParseHeader(file, fileName);
        foreach (var e in header.Entries)
        {
            if (!e.DType.IsReadable())
                throw Corrupt(fileName, Quote(e.Name) + ".dtype", $"{e.DType.ToName()} is not supported (Lora reads F32, F16 and BF16)");
        }
        var data = file[(int)header.DataOffset..];
        var tensors = new TensorData[header.Entries.Count];
        for (int i = 0; i < tensors.Length; i++)
        {
            var e = header.Entries[i];
            var values = new float[e.ElementCount];
            Widen(data[(int)e.Begin..(int)e.End], e.DType, values);
            tensors[i] = new TensorData(e.Name, e.Shape, values, e.DType);
        }
        return new SafeTensorsFile(fileName, header, tensors);
    }

    /// <summary>The bytes of a safetensors file holding <paramref name="tensors"/> as F32.</summary>
    /// <exception cref="ArgumentException">Duplicate names, the reserved name <c>__metadata__</c>, or names that are not valid Unicode.</exception>
    public static byte[] Serialize(IEnumerable<TensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var layout = SafeTensorsLayout.Create(tensors, metadata);
        using var ms = new MemoryStream(checked((int)layout.FileLength));
        layout.WriteTo(ms);
        return ms.ToArray();
    }

    /// <summary>Writes <paramref name="tensors"/> as F32 to <paramref name="path"/> atomically (temporary file, flush, rename).</summary>
    /// <exception cref="ArgumentException">As <see cref="Serialize"/>.</exception>
    public static void Write(string path, IEnumerable<TensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var layout = SafeTensorsLayout.Create(tensors, metadata);
        AtomicFile.Write(path, layout.WriteTo);
    }

    static long CheckHeaderLength(ulong n, long fileLength, string file)
    {
        if (n > MaxHeaderBytes) throw Corrupt(file, "header length", $"{n} bytes is over the {MaxHeaderBytes}-byte limit");
        if ((long)n > fileLength - 8)
            throw Corrupt(file, "header length", $"{n} bytes runs past the end of the file ({fileLength} bytes): truncated?");
        return (long)n;
    }

    /// <summary>Converts little-endian F32, F16 or BF16 bytes to float32.</summary>
    static void Widen(ReadOnlySpan<byte> src, SafeTensorsDType dtype, Span<float> dst)
    {
        switch (dtype)
        {
            case SafeTensorsDType.F32 when BitConverter.IsLittleEndian:
                MemoryMarshal.Cast<byte, float>(src).CopyTo(dst);
                break;
            case SafeTensorsDType.F32:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadSingleLittleEndian(src[(4 * i)..]);
                break;
            case SafeTensorsDType.F16:
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(src[(2 * i)..]);
                break;
            case SafeTensorsDType.BF16:
                // bfloat16 is the upper half of a float32, so widening is a shift and exact.
                for (int i = 0; i < dst.Length; i++)
                    dst[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]) << 16);
                break;
            default:
                throw new InvalidOperationException("unreachable: dtype checked before widening");
        }
    }
}
