using Lora.Core.IO;

namespace Lora.Tests.Core.IO;

/// <summary>Reading what PyTorch wrote gives exactly PyTorch's tensors; writing gives the reference layout.</summary>
public class SafeTensorsFixtureTests
{
    [Theory]
    [InlineData("model.safetensors")]
    [InlineData("adapter/adapter_model.safetensors")]
    [InlineData("adapter_bias/adapter_model.safetensors")]
    [InlineData("adapter_pattern/adapter_model.safetensors")]
    [InlineData("adapter_save/adapter_model.safetensors")]
    [InlineData("io.safetensors")]
    [InlineData("halfprec.safetensors")]
    public void ReadingTheFixtureGivesTorchsTensorsBitForBit(string file)
    {
        var read = SafeTensors.Read(PeftFixture.PathOf(file));
        var expected = PeftFixture.ExpectedTensors(file);
        Assert.Equal(expected.Keys.Order(), read.Tensors.Select(t => t.Name).Order());
        foreach (var t in read.Tensors)
        {
            Assert.Equal(expected[t.Name].Shape, t.Shape);
            Assert.Equal(expected[t.Name].Bits, t.Data.Bits());
        }
    }

    [Fact]
    public void NarrowTypesAreReadWithTheirDTypes()
    {
        var read = SafeTensors.Read(PeftFixture.PathOf("halfprec.safetensors"));
        Assert.True(read.TryGet("f16.edge", out var f16));
        Assert.True(read.TryGet("bf16.edge", out var bf16));
        Assert.True(read.TryGet("f32.weight", out var f32));
        Assert.Equal(SafeTensorsDType.F16, f16.SourceDType);
        Assert.Equal(SafeTensorsDType.BF16, bf16.SourceDType);
        Assert.Equal(SafeTensorsDType.F32, f32.SourceDType);
        Assert.Equal("F32, BF16 and F16 read paths", read.Metadata["note"]);
        // The edge values as float16 sees them: 65504 is its largest finite, 3e38 overflows to +inf.
        Assert.Equal(65504f, f16.Data[4]);
        Assert.Equal(float.PositiveInfinity, f16.Data[7]);
        Assert.True(float.IsNegative(f16.Data[1]) && f16.Data[1] == 0);
        var header = SafeTensors.ReadHeader(PeftFixture.PathOf("halfprec.safetensors"));
        // The reference order: descending dtype alignment, then name.
        Assert.Equal(["f32.weight", "bf16.edge", "bf16.weight", "f16.edge", "f16.weight"], header.Entries.Select(e => e.Name));
    }

    [Theory]
    [InlineData("model.safetensors")]
    [InlineData("adapter/adapter_model.safetensors")]
    [InlineData("adapter_bias/adapter_model.safetensors")]
    [InlineData("adapter_pattern/adapter_model.safetensors")]
    [InlineData("adapter_save/adapter_model.safetensors")]
    [InlineData("io.safetensors")]
    public void WritingTorchsF32TensorsReproducesTheFixtureFileByteForByte(string file)
    {
        // The fixture writer (Python, from the specification) and ours are independent; same tensors, same bytes.
        var original = File.ReadAllBytes(PeftFixture.PathOf(file));
        var read = SafeTensors.Parse(original, file);
        var rewritten = SafeTensors.Serialize(read.Tensors.Reverse(), read.Metadata);
        Assert.Equal(original, rewritten);
    }

    [Fact]
    public void RoundTripIsBitwiseForEveryKindOfValueAndShape()
    {
        var nanPayload = BitConverter.UInt32BitsToSingle(0x7fc0_1234);
        var odd = new TensorData("odd values", [2, 4],
            [-0f, float.Epsilon, float.MaxValue, float.NegativeInfinity, nanPayload, float.NaN, 1e-40f, -3.25f]);
        var tensors = new[]
        {
            odd,
            new TensorData("scalar", [], [42.5f]),
            new TensorData("empty", [3, 0], []),
            new TensorData("quote\"back\\slash\nnewline\u0001é", [1], [7f]),
            TestExtensions.Tensor("layers.0.weight", [16, 8], 1),
        };
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["z"] = "last", ["ünï"] = "cödé \"q\"" };
        using var dir = new TempDir();
        string path = dir.File("round.safetensors");
        SafeTensors.Write(path, tensors, metadata);
        var bytes = File.ReadAllBytes(path);
        var back = SafeTensors.Read(path);
        Assert.Equal(metadata.OrderBy(p => p.Key), back.Metadata.OrderBy(p => p.Key));
        foreach (var t in tensors)
        {
            Assert.True(back.TryGet(t.Name, out var r), t.Name);
            Assert.Equal(t.Shape, r.Shape);
            Assert.Equal(t.Data.Bits(), r.Data.Bits());
        }
        // Deterministic: the same tensors in another order give the same bytes; header padded to 8.
        Assert.Equal(bytes, SafeTensors.Serialize(tensors.Reverse(), metadata));
        Assert.Equal(0, (int)BitConverter.ToUInt64(bytes, 0) % 8);
        Assert.Empty(Directory.GetFiles(dir.PathName, "*.tmp", SearchOption.AllDirectories).Concat(
            Directory.GetFiles(dir.PathName, ".*")));
    }

    [Fact]
    public void EmptyFileMatchesTheReferenceImplementationsBytes()
    {
        // From the reference implementation's tests: no tensors gives "{}" padded to 8 bytes.
        Assert.Equal(new byte[] { 8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32 }, SafeTensors.Serialize([]));
        Assert.Empty(SafeTensors.Parse(SafeTensors.Serialize([]), "empty").Tensors);
    }

    [Fact]
    public void WriterRejectsDuplicateAndReservedNames()
    {
        var t = new TensorData("a", [1], [1f]);
        Assert.Throws<ArgumentException>(() => SafeTensors.Serialize([t, new TensorData("a", [1], [2f])]));
        Assert.Throws<ArgumentException>(() => SafeTensors.Serialize([new TensorData("__metadata__", [1], [1f])]));
        Assert.Throws<ArgumentException>(() => SafeTensors.Serialize([new TensorData("bad\ud800", [1], [1f])]));
        Assert.Throws<ArgumentException>(() => new TensorData("x", [2, 2], new float[3]));
        Assert.Throws<ArgumentException>(() => new TensorData("x", [-1], []));
    }

    [Fact]
    public void FailedWriteLeavesTheOldFileAndNoTemporaryFile()
    {
        using var dir = new TempDir();
        string path = dir.File("model.safetensors");
        SafeTensors.Write(path, [new TensorData("a", [1], [1f])]);
        var before = File.ReadAllBytes(path);
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[100]);
            throw new InvalidOperationException("disk full, say");
        }));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(dir.PathName));
    }
}
