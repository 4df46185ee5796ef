namespace Lora.Core.IO;

/// <summary>The element types the safetensors specification defines, in its order of increasing alignment.</summary>
/// <remarks>
/// The order matters: the reference writer lays tensors out by descending dtype, then by name, so the data of
/// wider types stays aligned. Lora reads <see cref="F32"/>, <see cref="F16"/> and <see cref="BF16"/> into float32
/// and writes <see cref="F32"/>; the others are recognised (for inspecting any file) but not converted.
/// </remarks>
public enum SafeTensorsDType
{
    /// <summary>Boolean, one byte.</summary>
    Bool,
    /// <summary>Unsigned 8-bit integer.</summary>
    U8,
    /// <summary>Signed 8-bit integer.</summary>
    I8,
    /// <summary>8-bit float, 5 exponent and 2 mantissa bits.</summary>
    F8E5M2,
    /// <summary>8-bit float, 4 exponent and 3 mantissa bits.</summary>
    F8E4M3,
    /// <summary>Signed 16-bit integer.</summary>
    I16,
    /// <summary>Unsigned 16-bit integer.</summary>
    U16,
    /// <summary>IEEE 754 half precision.</summary>
    F16,
    /// <summary>bfloat16: the top 16 bits of a float32.</summary>
    BF16,
    /// <summary>Signed 32-bit integer.</summary>
    I32,
    /// <summary>Unsigned 32-bit integer.</summary>
    U32,
    /// <summary>IEEE 754 single precision.</summary>
    F32,
    /// <summary>IEEE 754 double precision.</summary>
    F64,
    /// <summary>Signed 64-bit integer.</summary>
    I64,
    /// <summary>Unsigned 64-bit integer.</summary>
    U64,
}

/// <summary>Names and sizes of <see cref="SafeTensorsDType"/> as the file format spells them.</summary>
public static class SafeTensorsDTypes
{
    static readonly string[] Names =
        ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"];

    /// <summary>The spelling in a safetensors header, e.g. <c>F8_E4M3</c>.</summary>
    public static string ToName(this SafeTensorsDType dtype) => Names[(int)dtype];

    /// <summary>Bytes per element.</summary>
    public static int Size(this SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.Bool or SafeTensorsDType.U8 or SafeTensorsDType.I8
            or SafeTensorsDType.F8E5M2 or SafeTensorsDType.F8E4M3 => 1,
        SafeTensorsDType.I16 or SafeTensorsDType.U16 or SafeTensorsDType.F16 or SafeTensorsDType.BF16 => 2,
        SafeTensorsDType.I32 or SafeTensorsDType.U32 or SafeTensorsDType.F32 => 4,
        _ => 8,
    };

    /// <summary>True for the types Lora converts to float32 when reading.</summary>
    public static bool IsReadable(this SafeTensorsDType dtype) =>
        dtype is SafeTensorsDType.F32 or SafeTensorsDType.F16 or SafeTensorsDType.BF16;

    /// <summary>Parses a header spelling; false for anything the specification does not define.</summary>
    public static bool TryParse(ReadOnlySpan<char> name, out SafeTensorsDType dtype)
    {
        for (int i = 0; i < Names.Length; i++)
        {
            if (name.SequenceEqual(Names[i])) { dtype = (SafeTensorsDType)i; return true; }
        }
        dtype = default;
        return false;
    }
}
