using System.Buffers.Binary;
using System.IO.Compression;
using Lora.Core.IO;

namespace Lora.Core.Data;

/// <summary>Reads MNIST's IDX files (raw or gzip-compressed) into datasets.</summary>
/// <remarks>
/// <para>An IDX file is a big-endian magic number (two zero bytes, a type byte — 0x08 for unsigned bytes — and the
/// number of dimensions), one big-endian int32 per dimension, then the values. Images are 0x00000803
/// (count, rows, columns); labels are 0x00000801 (count). A file starting with 1f 8b is read through gzip.</para>
/// <para>Every defect raises <see cref="InvalidDataException"/> naming the file: a wrong magic number, a data size
/// other than the header's, corrupt gzip, a label count that differs from the image count, a label out of range.</para>
/// </remarks>
public static class Idx
{
    /// <summary>Magic number of an IDX file of unsigned-byte images (count, rows, columns).</summary>
    public const uint ImagesMagic = 0x00000803;

    /// <summary>Magic number of an IDX file of unsigned-byte labels (count).</summary>
    public const uint LabelsMagic = 0x00000801;

    /// <summary>Reads an images file: its count, rows, columns and the raw pixels (count · rows · columns bytes).</summary>
    public static (int Count, int Rows, int Columns, byte[] Pixels) ReadImages(string path)
    {
        var (dims, data) = Read(path, ImagesMagic, 3);
        return (dims[0], dims[1], dims[2], data);
    }

    /// <summary>Reads a labels file: one byte per sample.</summary>
    public static byte[] ReadLabels(string path) => Read(path, LabelsMagic, 1).Data;

    /// <summary>Reads an images file and its labels file into a dataset with pixels scaled from 0..255 to [0, 1].</summary>
    /// <exception cref="InvalidDataException">Either file is corrupt, the counts differ, or a label is ≥ <paramref name="classCount"/>.</exception>
    public static Dataset Load(string imagesPath, string labelsPath, int classCount = 10, string? name = null)
    {
        if (classCount is < 1 or > 256) throw new ArgumentOutOfRangeException(nameof(classCount), $"Class count {classCount} must be in [1, 256].");
        var (count, rows, cols, pixels) = ReadImages(imagesPath);
        var labelBytes = ReadLabels(labelsPath);
        if (labelBytes.Length != count)
            throw new InvalidDataException($"{labelsPath}: count: {labelBytes.Length} labels, but {imagesPath} holds {count} images");
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            if (labelBytes[i] >= classCount)
                throw new InvalidDataException($"{labelsPath}: labels[{i}]: {labelBytes[i]} is outside [0, {classCount})");
            labels[i] = labelBytes[i];
        }
        var features = new float[pixels.Length];
        for (int i = 0; i < pixels.Length; i++) features[i] = pixels[i] / 255f;
        return new Dataset(name ?? Path.GetFileName(imagesPath), features, labels, rows * cols, classCount, rows, cols);
    }

    /// <summary>Loads the train and test sets of an MNIST-format directory (MNIST, Fashion-MNIST, …).</summary>
    /// <remarks>Files: <c>train-images-idx3-ubyte</c>, <c>train-labels-idx1-ubyte</c>, <c>t10k-images-idx3-ubyte</c>,
    /// <c>t10k-labels-idx1-ubyte</c>, each raw or with <c>.gz</c> (the raw file wins if both exist).</remarks>
    /// <exception cref="FileNotFoundException">A file is missing in both forms.</exception>
    /// <exception cref="DirectoryNotFoundException"><paramref name="directory"/> does not exist or is a file.</exception>
    public static (Dataset Train, Dataset Test) LoadDirectory(string directory, int classCount = 10)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException(File.Exists(directory) ? $"{directory} is a file; expected a directory of IDX files." : $"{directory}: no such directory.");
        string Find(string stem)
        {
            string raw = Path.Combine(directory, stem);
            if (File.Exists(raw)) return raw;
            if (File.Exists(raw + ".gz")) return raw + ".gz";
            throw new FileNotFoundException($"{raw}: missing (neither {stem} nor {stem}.gz exists in {directory})", raw);
        }
        var train = Load(Find("train-images-idx3-ubyte"), Find("train-labels-idx1-ubyte"), classCount, "train");
        var test = Load(Find("t10k-images-idx3-ubyte"), Find("t10k-labels-idx1-ubyte"), classCount, "test");
        if (train.Height != test.Height || train.Width != test.Width)
            throw new InvalidDataException(
                $"{Find("t10k-images-idx3-ubyte")}: header: {test.Height}×{test.Width} images, but the training images are {train.Height}×{train.Width}");
        return (train, test);
    }

    static (int[] Dims, byte[] Data) Read(string path, uint magic, int rank)
    {
        using var file = FileFormatErrors.OpenRead(path, "an IDX file");
        Span<byte> sniff = stackalloc byte[2];
        bool gzip = file.Read(sniff) == 2 && sniff[0] == 0x1f && sniff[1] == 0x8b;
        file.Position = 0;
        try
        {
            using var stream = gzip ? new GZipStream(file, CompressionMode.Decompress) : (Stream)file;
            return ReadBody(stream, path, magic, rank, gzip ? -1 : file.Length);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path + ":", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: gzip: corrupt compressed data ({e.Message})", e);
        }
    }

    static (int[] Dims, byte[] Data) ReadBody(Stream stream, string path, uint magic, int rank, long rawLength)
    {
        Span<byte> header = stackalloc byte[4 + 4 * rank];
        int got = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        if (got < 4) throw new InvalidDataException($"{path}: magic number: the file ends after {got} bytes");
        uint found = BinaryPrimitives.ReadUInt32BigEndian(header);
        if (found != magic)
            throw new InvalidDataException($"{path}: magic number: 0x{found:x8}, expected 0x{magic:x8} ({(magic == ImagesMagic ? "images" : "labels")})");
        if (got < header.Length) throw new InvalidDataException($"{path}: header: the file ends inside the {rank} dimension sizes");
        var dims = new int[rank];
        long total = 1;
        for (int i = 0; i < rank; i++)
        {
            uint d = BinaryPrimitives.ReadUInt32BigEndian(header[(4 + 4 * i)..]);
            if (d == 0 || d > int.MaxValue) throw new InvalidDataException($"{path}: header: dimension {i} is {d}");
            dims[i] = (int)d;
            total *= d;
            if (total > Array.MaxLength) throw new InvalidDataException($"{path}: header: {string.Join(" × ", dims.Take(i + 1))} values are too many");
        }
        // A raw file's size is known up front: refuse before allocating what the header claims.
        if (rawLength >= 0 && rawLength != header.Length + total)
            throw new InvalidDataException($"{path}: size: the header describes {total} data bytes but the file holds {rawLength - header.Length}");
        var (data, extra) = ReadCapped(stream, total);
        if (data.Length < total)
            throw new InvalidDataException($"{path}: size: the header describes {total} data bytes but the file holds {data.Length}");
        if (extra) throw new InvalidDataException($"{path}: size: the file holds more data than the {total} bytes its header describes");
        return (dims, data);
    }

    /// <summary>Reads up to <paramref name="expected"/> bytes and reports whether more follow. The buffer starts at
    /// most 64 MB and grows only with data that really arrives, so a lying gzip header cannot force a huge allocation.</summary>
    static (byte[] Data, bool Extra) ReadCapped(Stream stream, long expected)
    {
        var buffer = new byte[Math.Min(expected, 1 << 26)];
        int length = 0;
        while (length < expected)
        {
            if (length == buffer.Length) Array.Resize(ref buffer, (int)Math.Min(expected, 2L * buffer.Length));
            int n = stream.Read(buffer, length, buffer.Length - length);
            if (n == 0) return (buffer[..length], false);
            length += n;
        }
        Span<byte> probe = stackalloc byte[1];
        return (buffer, stream.Read(probe) > 0);
    }
}
