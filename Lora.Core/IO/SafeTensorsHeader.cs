namespace Lora.Core.IO;

/// <summary>One tensor of a safetensors header: its name, element type, shape and byte range in the data section.</summary>
/// <param name="Name">The key in the header.</param>
/// <param name="DType">The element type.</param>
/// <param name="Shape">The dimensions, outermost first.</param>
/// <param name="Begin">Start of the tensor's bytes, relative to the data section that follows the header.</param>
/// <param name="End">End (exclusive) of the tensor's bytes, relative to the data section.</param>
public sealed record SafeTensorsEntry(string Name, SafeTensorsDType DType, int[] Shape, long Begin, long End)
{
    /// <summary>The number of elements: the product of the shape (1 for a scalar).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (int d in Shape) n *= d;
            return n;
        }
    }
}

/// <summary>A validated safetensors header: the tensors in data order and the optional <c>__metadata__</c> map.</summary>
/// <remarks>
/// A header is only constructed after every check passed: the byte ranges tile the data section exactly (no
/// overlap, no gap, nothing left over), every range matches its shape and dtype, and the names are unique.
/// </remarks>
public sealed class SafeTensorsHeader
{
    internal SafeTensorsHeader(IReadOnlyList<SafeTensorsEntry> entries, IReadOnlyDictionary<string, string> metadata,
        long headerLength, long dataLength)
    {
        Entries = entries;
        Metadata = metadata;
        HeaderLength = headerLength;
        DataLength = dataLength;
    }

    /// <summary>The tensors ordered by their position in the data section.</summary>
    public IReadOnlyList<SafeTensorsEntry> Entries { get; }

    /// <summary>The free-form string-to-string <c>__metadata__</c> map (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The JSON header's length in bytes, as stored in the file's first 8 bytes.</summary>
    public long HeaderLength { get; }

    /// <summary>The size of the data section: the file size minus 8 minus <see cref="HeaderLength"/>.</summary>
    public long DataLength { get; }

    /// <summary>The absolute file offset of the data section.</summary>
    public long DataOffset => 8 + HeaderLength;
}
