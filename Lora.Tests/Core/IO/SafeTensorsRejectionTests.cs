using Lora.Core.IO;

namespace Lora.Tests.Core.IO;

/// <summary>Every defect the specification rules out is refused with InvalidDataException naming file and key.</summary>
public class SafeTensorsRejectionTests
{
    const string File = "bad.safetensors";
    const string F32x2 = "\"dtype\":\"F32\",\"shape\":[2]";

    static InvalidDataException Rejects(byte[] bytes, string key)
    {
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Parse(bytes, File));
        Assert.Contains(File, e.Message);
        Assert.Contains(key, e.Message);
        return e;
    }

    [Theory]
    // invalid JSON, or not the object the specification asks for
    [InlineData("{\"a\":", 0, "header")]
    [InlineData("[1,2]", 0, "header")]
    [InlineData("{} trailing", 0, "header")]
    [InlineData("{\"a\":{" + F32x2 + ",\"data_offsets\":[0,8]},}", 8, "header")]
    [InlineData("{\"a\":{" + F32x2 + ",\"data_offsets\":[0,8]} /* c */}", 8, "header")]
    // duplicate keys, at every level
    [InlineData("{\"a\":{" + F32x2 + ",\"data_offsets\":[0,8]},\"a\":{" + F32x2 + ",\"data_offsets\":[8,16]}}", 16, "'a'")]
    [InlineData("{\"\\u0061\":{" + F32x2 + ",\"data_offsets\":[0,8]},\"a\":{" + F32x2 + ",\"data_offsets\":[8,16]}}", 16, "'a'")]
    [InlineData("{\"a\":{" + F32x2 + ",\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "'a'.dtype")]
    [InlineData("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "__metadata__.'k'")]
    [InlineData("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "'__metadata__'")]
    // offsets out of range, reversed, overlapping, leaving gaps, not covering the data
    [InlineData("{\"a\":{" + F32x2 + ",\"data_offsets\":[0,8]}}", 4, "'a'.data_offsets")]
    [InlineData("{\"a\":{" + F32x2 + ",\"data_offsets\":[8,0]}}", 8, "'a'.data_offsets")]
    [InlineData("{\"a\":{" + F32x2 + ",\"data_offsets\":[0,8]},\"b\":{" + F32x2 + ",\"data_offsets\":[4,12]}}", 12, "'b'.data_offsets")]
    [InlineData("{\"a\":{" + F32x2 + ",\"data_offsets\":[0,8]},\"b\":{" + F32x2 + ",\"data_offsets\":[0,8]}}", 8, "'b'.data_offsets")]
    [InlineData("{\"a\":{" + F32x2 + ",\"data_offsets\":[0,8]},\"b\":{" + F32x2 + ",\"data_offsets\":[12,20]}}", 20, "'b'.data_offsets")]
    [InlineData("{\"a\":{" + F32x2 + ",\"data_offsets\":[4,12]}}", 12, "'a'.data_offsets")]
    [InlineData("{\"a\":{" + F32x2 + ",\"data_offsets\":[0,8]}}", 12, "data_offsets")]
    [InlineData("{\"a\":{" + F32x2 + ",\"data_offsets\":[0,8,16]}}", 16, "'a'.data_offsets")]
    [InlineData("{\"a\":{" + F32x2 + ",\"data_offsets\":[0,-8]}}", 8, "'a'.data_offsets")]
    [InlineData("{\"a\":{" + F32x2 + ",\"data_offsets\":[0,18446744073709551615]}}", 8, "'a'.data_offsets")]
    // dtypes
    [InlineData("{\"a\":{\"dtype\":\"F17\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "'a'.dtype")]
    [InlineData("{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "'a'.dtype")]
    [InlineData("{\"a\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "'a'.dtype")]
    [InlineData("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "'a'.dtype")]
    // shape: size mismatch, non-integer, negative, too large, wrong type
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "'a'")]
    [InlineData("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "'a'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8, "'a'.shape")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "'a'.shape")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "'a'.shape")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1,-2],\"data_offsets\":[0,8]}}", 8, "'a'.shape")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "'a'.shape")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2147483648],\"data_offsets\":[0,8]}}", 8, "'a'.shape")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, "'a'.shape")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[65536,65536,65536,65536],\"data_offsets\":[0,8]}}", 8, "'a'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1073741824,1073741824,16],\"data_offsets\":[0,0]}}", 0, "'a'")]
    // missing fields, wrong entry or metadata types
    [InlineData("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "'a'.dtype")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "'a'.shape")]
    [InlineData("{\"a\":{" + F32x2 + "}}", 8, "'a'.data_offsets")]
    [InlineData("{\"a\":[1,2]}", 0, "'a'")]
    [InlineData("{\"__metadata__\":{\"k\":1}}", 0, "__metadata__.'k'")]
    [InlineData("{\"__metadata__\":[\"k\"]}", 0, "__metadata__")]
    public void RejectsMalformedHeaders(string header, int dataBytes, string key) =>
        Rejects(RawSafeTensors.Build(header, dataBytes), key);

    [Fact]
    public void ADirectoryIsNotAFile()
    {
        // Opening a directory as a file fails on Linux with "Access to the path is denied"; name what it is instead.
        string dir = Directory.CreateTempSubdirectory("lora-st-").FullName;
        try
        {
            var e = Assert.Throws<FileNotFoundException>(() => SafeTensors.Read(dir));
            Assert.Contains("is a directory", e.Message);
            Assert.Equal(dir, e.FileName);
            Assert.Throws<FileNotFoundException>(() => SafeTensors.ReadHeader(dir));
        }
        finally { Directory.Delete(dir); }
    }

    [Fact]
    public void AcceptsWhatTheSpecificationAllows()
    {
        // Any entry order, trailing spaces, unknown entry fields, null metadata, zero-sized tensors at any offset.
        var bytes = RawSafeTensors.Build(
            "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8],\"extra\":{\"x\":[1]}}," +
            "\"z\":{\"dtype\":\"BF16\",\"shape\":[0,5],\"data_offsets\":[4,4]},\"__metadata__\":null," +
            "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}   ", 8);
        var file = SafeTensors.Parse(bytes, File);
        Assert.Equal(["a", "z", "b"], file.Tensors.Select(t => t.Name));
        Assert.Empty(file.Tensors[1].Data);
        Assert.Equal(BitConverter.ToSingle(bytes, bytes.Length - 8), file.Tensors[0].Data[0]);
    }

    [Fact]
    public void UnsupportedDTypesStillHaveAReadableHeader()
    {
        var bytes = RawSafeTensors.Build("{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16);
        var header = SafeTensors.ParseHeader(bytes, File);
        Assert.Equal(SafeTensorsDType.I64, header.Entries[0].DType);
        Rejects(bytes, "'ids'.dtype");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void RejectsFilesShorterThanThePrefix(int length) => Rejects(new byte[length], "header length");

    [Fact]
    public void RejectsAHeaderLengthBeyondTheFileOrOverTheLimit()
    {
        var ok = SafeTensors.Serialize([new TensorData("a", [2], [1f, 2f])]);
        Rejects(RawSafeTensors.Build("{}", 0, declaredLength: 3), "header length"); // 3 declared, 2 present
        var beyond = (byte[])ok.Clone();
        BitConverter.TryWriteBytes(beyond, (ulong)ok.Length);
        Rejects(beyond, "header length");
        var huge = (byte[])ok.Clone();
        BitConverter.TryWriteBytes(huge, 100_000_001UL);
        Assert.Contains("limit", Rejects(huge, "header length").Message);
        var enormous = (byte[])ok.Clone();
        BitConverter.TryWriteBytes(enormous, ulong.MaxValue);
        Rejects(enormous, "header length");
    }

    [Fact]
    public void RejectsEveryTruncationOfAValidFile()
    {
        var ok = SafeTensors.Serialize([new TensorData("a", [2, 3], [1, 2, 3, 4, 5, 6]), new TensorData("b", [1], [9])],
            new Dictionary<string, string> { ["format"] = "pt" });
        for (int n = 0; n < ok.Length; n++)
            Assert.Throws<InvalidDataException>(() => SafeTensors.Parse(ok.AsSpan(0, n), File));
    }

    [Fact]
    public void RejectsInvalidUtf8InTheHeader()
    {
        var bytes = RawSafeTensors.Build("{\"a?\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
        bytes[8 + 3] = 0xff;
        Rejects(bytes, "header");
    }

    [Fact]
    public void ReadingFromDiskNamesThePathAndFindsMissingFiles()
    {
        using var dir = new TempDir();
        string path = dir.File("cut.safetensors");
        var ok = SafeTensors.Serialize([new TensorData("w", [4], [1, 2, 3, 4])]);
        System.IO.File.WriteAllBytes(path, ok.AsSpan(0, ok.Length - 3).ToArray());
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("'w'", e.Message);
        Assert.Throws<InvalidDataException>(() => SafeTensors.ReadHeader(path));
        Assert.Throws<FileNotFoundException>(() => SafeTensors.Read(dir.File("missing.safetensors")));
    }
}
