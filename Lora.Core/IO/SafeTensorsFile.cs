using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.IO;

/// <summary>The complete, validated contents of a safetensors file, converted to float32.</summary>
public sealed class SafeTensorsFile
{
    readonly Dictionary<string, TensorData> byName;

    internal SafeTensorsFile(string fileName, SafeTensorsHeader header, IReadOnlyList<TensorData> tensors)
    {
        FileName = fileName;
        Header = header;
        Tensors = tensors;
        byName = new Dictionary<string, TensorData>(tensors.Count, StringComparer.Ordinal);
        foreach (var t in tensors) byName.Add(t.Name, t);
    }

    /// <summary>The file name used in error messages.</summary>
    public string FileName { get; }

    /// <summary>The validated header the tensors were read with.</summary>
    public SafeTensorsHeader Header { get; }

    /// <summary>The tensors, in the order of their bytes in the file.</summary>
    public IReadOnlyList<TensorData> Tensors { get; }

    /// <summary>The <c>__metadata__</c> map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata => Header.Metadata;

    /// <summary>True when a tensor named <paramref name="name"/> exists.</summary>
    public bool Contains(string name) => byName.ContainsKey(name);

    /// <summary>The tensor named <paramref name="name"/>, or false.</summary>
    public bool TryGet(string name, out TensorData tensor) => byName.TryGetValue(name, out tensor!);

    /// <summary>The tensor named <paramref name="name"/> with exactly the shape <paramref name="shape"/>.</summary>
    /// <exception cref="InvalidDataException">The tensor is missing or has another shape; the message names the file and key.</exception>
    public TensorData Require(string name, params int[] shape)
    {
        if (!byName.TryGetValue(name, out var t)) throw Corrupt(FileName, Quote(name), "missing key");
        if (!t.HasShape(shape))
            throw Corrupt(FileName, Quote(name), $"has shape {TensorData.FormatShape(t.Shape)}, expected {TensorData.FormatShape(shape)}");
        return t;
    }
}
