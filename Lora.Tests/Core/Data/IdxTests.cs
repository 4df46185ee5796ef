using System.Buffers.Binary;
using System.IO.Compression;
using Lora.Core.Data;
using Lora.Tests.Core.IO;

namespace Lora.Tests.Core.Data;

/// <summary>IDX files written here (raw and gzip) read back exactly; every defect is refused naming the file.</summary>
public class IdxTests
{
    /// <summary>Test-side IDX writer: magic, big-endian dims, then bytes; optionally gzip.</summary>
    internal static void WriteIdx(string path, uint magic, int[] dims, byte[] data, bool gzip)
    {
        using var ms = new MemoryStream();
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, magic);
        ms.Write(word);
        foreach (int d in dims) { BinaryPrimitives.WriteInt32BigEndian(word, d); ms.Write(word); }
        ms.Write(data);
        if (!gzip) { File.WriteAllBytes(path, ms.ToArray()); return; }
        using var file = File.Create(path);
        using var z = new GZipStream(file, CompressionLevel.Optimal);
        z.Write(ms.ToArray());
    }

    static (byte[] Pixels, byte[] Labels) Sample(int n, int rows, int cols, int seed)
    {
        var rng = new Random(seed);
        var pixels = new byte[n * rows * cols];
        rng.NextBytes(pixels);
        pixels[0] = 0; pixels[1] = 255;
        var labels = Enumerable.Range(0, n).Select(i => (byte)rng.Next(10)).ToArray();
        return (pixels, labels);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RoundTripsRawAndGzip(bool gzip)
    {
        using var dir = new TempDir();
        var (pixels, labels) = Sample(7, 5, 3, 1);
        WriteIdx(dir.File("img"), Idx.ImagesMagic, [7, 5, 3], pixels, gzip);
        WriteIdx(dir.File("lbl"), Idx.LabelsMagic, [7], labels, gzip);
        var (count, rows, cols, read) = Idx.ReadImages(dir.File("img"));
        Assert.Equal((7, 5, 3), (count, rows, cols));
        Assert.Equal(pixels, read);
        Assert.Equal(labels, Idx.ReadLabels(dir.File("lbl")));
        var data = Idx.Load(dir.File("img"), dir.File("lbl"));
        Assert.Equal((7, 15, 10, 5, 3), (data.Count, data.FeatureCount, data.ClassCount, data.Height, data.Width));
        Assert.Equal(pixels.Select(p => p / 255f), data.Features);
        Assert.Equal(0f, data.Features[0]);
        Assert.Equal(1f, data.Features[1]);
        Assert.Equal(labels.Select(l => (int)l), data.Labels);
    }

    [Fact]
    public void LoadsAnMnistDirectoryWithMixedCompression()
    {
        using var dir = new TempDir();
        var (p1, l1) = Sample(6, 4, 4, 2);
        var (p2, l2) = Sample(3, 4, 4, 3);
        WriteIdx(dir.File("train-images-idx3-ubyte.gz"), Idx.ImagesMagic, [6, 4, 4], p1, true);
        WriteIdx(dir.File("train-labels-idx1-ubyte"), Idx.LabelsMagic, [6], l1, false);
        WriteIdx(dir.File("t10k-images-idx3-ubyte"), Idx.ImagesMagic, [3, 4, 4], p2, false);
        WriteIdx(dir.File("t10k-labels-idx1-ubyte.gz"), Idx.LabelsMagic, [3], l2, true);
        var (train, test) = Idx.LoadDirectory(dir.PathName);
        Assert.Equal(6, train.Count);
        Assert.Equal(3, test.Count);
        Assert.Equal(l2.Select(l => (int)l), test.Labels);
        File.Delete(dir.File("t10k-labels-idx1-ubyte.gz"));
        var e = Assert.Throws<FileNotFoundException>(() => Idx.LoadDirectory(dir.PathName));
        Assert.Contains("t10k-labels-idx1-ubyte", e.Message);
    }

    public static TheoryData<string, bool, string> Defects()
    {
        var data = new TheoryData<string, bool, string>();
        foreach (bool gz in new[] { false, true })
        {
            data.Add("labels file as images", gz, "magic number");
            data.Add("images file as labels", gz, "magic number");
            data.Add("wrong type byte", gz, "magic number");
            data.Add("truncated pixels", gz, "size");
            data.Add("extra pixels", gz, "size");
            data.Add("header claims billions", gz, "header");
            data.Add("header claims more", gz, "size");
            data.Add("zero rows", gz, "header");
            data.Add("cut inside header", gz, "header");
            data.Add("count mismatch", gz, "count");
            data.Add("label out of range", gz, "labels[4]");
        }
        data.Add("corrupt gzip", true, "gzip");
        data.Add("truncated gzip", true, "");
        return data;
    }

    [Theory]
    [MemberData(nameof(Defects))]
    public void RejectsDefectsNamingTheFile(string defect, bool gzip, string key)
    {
        using var dir = new TempDir();
        string img = dir.File("images"), lbl = dir.File("labels");
        var (pixels, labels) = Sample(6, 4, 4, 4);
        WriteIdx(img, Idx.ImagesMagic, [6, 4, 4], pixels, gzip);
        WriteIdx(lbl, Idx.LabelsMagic, [6], labels, gzip);
        string bad = img;
        switch (defect)
        {
            case "labels file as images": WriteIdx(img, Idx.LabelsMagic, [6], labels, gzip); break;
            case "images file as labels": WriteIdx(lbl, Idx.ImagesMagic, [6, 4, 4], pixels, gzip); bad = lbl; break;
            case "wrong type byte": WriteIdx(img, 0x00000D03, [6, 4, 4], pixels, gzip); break;
            case "truncated pixels": WriteIdx(img, Idx.ImagesMagic, [6, 4, 4], pixels[..^5], gzip); break;
            case "extra pixels": WriteIdx(img, Idx.ImagesMagic, [6, 4, 4], [.. pixels, 1, 2], gzip); break;
            case "header claims billions": WriteIdx(img, Idx.ImagesMagic, [60000, 60000, 60000], pixels, gzip); break;
            case "header claims more": WriteIdx(img, Idx.ImagesMagic, [60000, 28, 28], pixels, gzip); break;
            case "zero rows": WriteIdx(img, Idx.ImagesMagic, [6, 0, 4], pixels, gzip); break;
            case "cut inside header": WriteIdx(img, Idx.ImagesMagic, [6], [], gzip); break;
            case "count mismatch": WriteIdx(lbl, Idx.LabelsMagic, [5], labels[..5], gzip); bad = lbl; break;
            case "label out of range": labels[4] = 10; WriteIdx(lbl, Idx.LabelsMagic, [6], labels, gzip); bad = lbl; break;
            case "corrupt gzip":
            {
                var bytes = File.ReadAllBytes(img);
                for (int i = 12; i < bytes.Length - 8; i += 3) bytes[i] ^= 0x5a;
                File.WriteAllBytes(img, bytes);
                break;
            }
            case "truncated gzip":
            {
                var bytes = File.ReadAllBytes(img);
                File.WriteAllBytes(img, bytes[..(bytes.Length / 2)]);
                break;
            }
        }
        var e = Assert.Throws<InvalidDataException>(() => Idx.Load(img, lbl));
        Assert.StartsWith(bad + ": " + key, e.Message);
    }

    [Fact]
    public void MissingFilesAreFileNotFound()
    {
        using var dir = new TempDir();
        Assert.Throws<FileNotFoundException>(() => Idx.ReadImages(dir.File("nope")));
    }
}
