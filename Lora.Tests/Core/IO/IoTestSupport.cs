using System.Text.Json;
using Lora.Core.IO;

namespace Lora.Tests.Core.IO;

/// <summary>Paths and expectations of the PyTorch fixture written by tools/make_peft_fixture.py.</summary>
internal static class PeftFixture
{
    public static string Dir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "peft");

    public static string PathOf(string relative) => Path.Combine(Dir, relative);

    static readonly Lazy<JsonDocument> Json = new(() => JsonDocument.Parse(File.ReadAllBytes(PathOf("expected.json"))));

    public static JsonElement Expected => Json.Value.RootElement;

    /// <summary>The tensors torch wrote into <paramref name="file"/>, as (shape, float32 bit patterns).</summary>
    public static Dictionary<string, (int[] Shape, uint[] Bits)> ExpectedTensors(string file)
    {
        var result = new Dictionary<string, (int[], uint[])>();
        foreach (var p in Expected.GetProperty(file).EnumerateObject())
        {
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var bits = p.Value.GetProperty("bits").EnumerateArray().Select(e => e.GetUInt32()).ToArray();
            result.Add(p.Name, (shape, bits));
        }
        return result;
    }

    public static double[][] ExpectedRows(string key) =>
        Expected.GetProperty(key).EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToArray();
}

/// <summary>A fresh directory under the system temp folder, deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        PathName = Path.Combine(Path.GetTempPath(), "lora-io-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(PathName);
    }

    public string PathName { get; }

    public string File(string name) => System.IO.Path.Combine(PathName, name);

    public void Dispose()
    {
        try { Directory.Delete(PathName, recursive: true); } catch (IOException) { }
    }
}

internal static class TestExtensions
{
    public static uint[] Bits(this float[] values) => values.Select(BitConverter.SingleToUInt32Bits).ToArray();

    public static TensorData Tensor(string name, int[] shape, int seed)
    {
        var rng = new Random(seed);
        int n = shape.Aggregate(1, (a, b) => a * b);
        var data = new float[n];
        for (int i = 0; i < n; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return new TensorData(name, shape, data);
    }
}

/// <summary>Builds raw safetensors bytes with any header text, for the rejection tests.</summary>
internal static class RawSafeTensors
{
    public static byte[] Build(string header, int dataBytes, ulong? declaredLength = null)
    {
        var h = System.Text.Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)h.Length);
        h.CopyTo(bytes, 8);
        for (int i = 0; i < dataBytes; i++) bytes[8 + h.Length + i] = (byte)(i * 7 + 1);
        return bytes;
    }
}
