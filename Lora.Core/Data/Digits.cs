using System.Globalization;
using System.IO.Compression;

namespace Lora.Core.Data;

/// <summary>The UCI optical recognition of handwritten digits data, embedded in the library (1,797 8×8 images, 10 classes).</summary>
/// <remarks>
/// Source: UCI Machine Learning Repository, "Optical Recognition of Handwritten Digits" (E. Alpaydin, C. Kaynak,
/// 1998), licensed CC BY 4.0; the copy is <c>digits.csv.gz</c> as shipped by scikit-learn (see
/// Data/Resources/ATTRIBUTION.md). Each row holds 64 pixel counts in 0..16 (the number of set pixels in a 4×4 block
/// of a 32×32 bitmap) and the digit; pixels are scaled to [0, 1] by dividing by 16.
/// </remarks>
public static class Digits
{
    /// <summary>The manifest name of the embedded file.</summary>
    public const string ResourceName = "Lora.Core.Data.digits.csv.gz";

    /// <summary>Samples in the dataset.</summary>
    public const int SampleCount = 1797;

    /// <summary>Loads the embedded digits: 1,797 samples of 64 features (8×8, row by row) in [0, 1], labels 0..9.</summary>
    public static Dataset Load()
    {
        using var resource = typeof(Digits).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"The embedded resource {ResourceName} is missing from Lora.Core.");
        using var gzip = new GZipStream(resource, CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        return Parse(reader, ResourceName);
    }

    /// <summary>Parses digits CSV text (64 values in 0..16 and a label in 0..9 per line).</summary>
    /// <exception cref="InvalidDataException">A malformed line, naming the source and line, or no line at all.</exception>
    public static Dataset Parse(TextReader reader, string source)
    {
        var features = new List<float>(SampleCount * 64);
        var labels = new List<int>(SampleCount);
        string? line;
        int lineNumber = 0;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            if (line.Length == 0) continue;
            var fields = line.Split(',');
            if (fields.Length != 65)
                throw new InvalidDataException($"{source}: line {lineNumber}: {fields.Length} fields, expected 64 pixels and a label");
            for (int i = 0; i < 65; i++)
            {
                // The file stores integers, some written as floats ("0.0"): accept both, insist on whole numbers.
                if (!double.TryParse(fields[i], NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || v != Math.Floor(v)
                    || v < 0 || v > (i < 64 ? 16 : 9))
                    throw new InvalidDataException($"{source}: line {lineNumber}, field {i + 1}: '{fields[i]}' is not an integer in [0, {(i < 64 ? 16 : 9)}]");
                if (i < 64) features.Add((float)(v / 16));
                else labels.Add((int)v);
            }
        }
        if (labels.Count == 0) throw new InvalidDataException($"{source}: no samples (the text holds no line of 64 pixels and a label)");
        return new Dataset("digits", features.ToArray(), labels.ToArray(), 64, 10, 8, 8);
    }
}
