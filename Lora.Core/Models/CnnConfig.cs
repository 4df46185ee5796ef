using System.Globalization;
using System.Text;
using Lora.Core.IO;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.Models;

/// <summary>The architecture of <see cref="Cnn"/>, the contents of its <c>config.json</c>.</summary>
/// <remarks>
/// <para>Blocks i = 0 … L−1 of Conv2d(c_{i−1} → c_i, k×k, stride 1, padding k/2) → ReLU → MaxPool2d(2) (c_{−1} = the
/// input channels), then a Linear head from the flattened c_{L−1}·H_L·W_L features to the classes, where each
/// block halves the spatial size (rounding down). The input is a flat row of C·H·W pixels (channel, row, column).
/// Parameter names and shapes are those of a PyTorch module with <c>convs = nn.ModuleList(...)</c> and
/// <c>head = nn.Linear(...)</c>: <c>convs.{i}.weight</c> (c_i, c_{i−1}, k, k), <c>convs.{i}.bias</c> (c_i),
/// <c>head.weight</c> (classes, features), <c>head.bias</c> (classes).</para>
/// <para>File form: <c>{"model_type": "cnn", "in_channels": 1, "height": 8, "width": 8, "channels": [32, 64],
/// "kernel_size": 3, "classes": 10}</c>.</para>
/// </remarks>
public sealed record CnnConfig : IModelConfig
{
    /// <summary>The <c>model_type</c> value.</summary>
    public const string CnnModelType = "cnn";

    /// <summary>The largest channel count, image side or class count accepted (2^16).</summary>
    public const int MaxSize = 1 << 16;

    /// <summary>Creates and validates a configuration.</summary>
    /// <exception cref="ArgumentException">A size outside [1, <see cref="MaxSize"/>], no conv block, an even kernel
    /// size, or an image too small for the number of 2×2 poolings.</exception>
    public CnnConfig(int inChannels, int height, int width, IReadOnlyList<int> channels, int kernelSize, int classes)
    {
        ArgumentNullException.ThrowIfNull(channels);
        var problem = FindProblem(inChannels, height, width, channels, kernelSize, classes);
        if (problem is not null) throw new ArgumentException($"Invalid CNN config: {problem.Value.Key}: {problem.Value.Message}");
        InChannels = inChannels;
        Height = height;
        Width = width;
        Channels = channels.ToArray();
        KernelSize = kernelSize;
        Classes = classes;
    }

    /// <inheritdoc/>
    public string ModelType => CnnModelType;

    /// <summary>Channels of the input image.</summary>
    public int InChannels { get; }

    /// <summary>Height of the input image.</summary>
    public int Height { get; }

    /// <summary>Width of the input image.</summary>
    public int Width { get; }

    /// <summary>Output channels of each conv block.</summary>
    public IReadOnlyList<int> Channels { get; }

    /// <summary>The (odd) side of every convolution kernel.</summary>
    public int KernelSize { get; }

    /// <summary>The number of classes (outputs of the head).</summary>
    public int Classes { get; }

    /// <summary>Input features per sample, C·H·W.</summary>
    public int InputFeatures => InChannels * Height * Width;

    /// <summary>Features entering the head: last channels × the spatial size after every pooling.</summary>
    public int HeadFeatures => Channels[^1] * (Height >> Channels.Count) * (Width >> Channels.Count);

    /// <inheritdoc/>
    public string Summary => Invariant($"CNN {InChannels}×{Height}×{Width} → conv{KernelSize}×{KernelSize} {string.Join("-", Channels)} → {Classes}");

    /// <inheritdoc/>
    public IEnumerable<(string Name, int[] Shape)> ExpectedTensors()
    {
        int cin = InChannels;
        for (int i = 0; i < Channels.Count; i++)
        {
            yield return ($"convs.{i}.weight", [Channels[i], cin, KernelSize, KernelSize]);
            yield return ($"convs.{i}.bias", [Channels[i]]);
            cin = Channels[i];
        }
        yield return ("head.weight", [Classes, HeadFeatures]);
        yield return ("head.bias", [Classes]);
    }

    /// <inheritdoc/>
    public string ToJson() => Invariant($$"""
        {
          "model_type": "{{CnnModelType}}",
          "in_channels": {{InChannels}},
          "height": {{Height}},
          "width": {{Width}},
          "channels": [{{string.Join(", ", Channels)}}],
          "kernel_size": {{KernelSize}},
          "classes": {{Classes}}
        }

        """);

    /// <summary>Parses <c>config.json</c> bytes; <paramref name="file"/> names the file in errors.</summary>
    /// <exception cref="InvalidDataException">Invalid JSON, duplicate keys, another model_type, or invalid values.</exception>
    public static CnnConfig FromJson(ReadOnlySpan<byte> utf8, string file)
    {
        using var doc = StrictJson.Parse(utf8, file);
        var root = StrictJson.Object(doc, file);
        string type = StrictJson.String(StrictJson.Require(root, "model_type", file), "model_type", file);
        if (type != CnnModelType) throw Corrupt(file, "model_type", $"'{type}' is not supported (expected '{CnnModelType}')");
        StrictJson.RejectUnknownKeys(root, file, "a cnn config", "model_type", "in_channels", "height", "width", "channels", "kernel_size", "classes");
        int Int(string key) => StrictJson.Int(StrictJson.Require(root, key, file), key, file, 1, MaxSize);
        var channelsJson = StrictJson.Require(root, "channels", file);
        if (channelsJson.ValueKind != System.Text.Json.JsonValueKind.Array) throw Corrupt(file, "channels", "must be an array of integers");
        var channels = new List<int>();
        foreach (var c in channelsJson.EnumerateArray()) channels.Add(StrictJson.Int(c, $"channels[{channels.Count}]", file, 1, MaxSize));
        int inChannels = Int("in_channels"), height = Int("height"), width = Int("width"), kernel = Int("kernel_size"), classes = Int("classes");
        var problem = FindProblem(inChannels, height, width, channels, kernel, classes);
        if (problem is not null) throw Corrupt(file, problem.Value.Key, problem.Value.Message);
        return new CnnConfig(inChannels, height, width, channels, kernel, classes);
    }

    /// <inheritdoc/>
    public bool Equals(CnnConfig? other) => other is not null && InChannels == other.InChannels && Height == other.Height &&
        Width == other.Width && Channels.SequenceEqual(other.Channels) && KernelSize == other.KernelSize && Classes == other.Classes;

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(InChannels); h.Add(Height); h.Add(Width); h.Add(KernelSize); h.Add(Classes);
        foreach (int c in Channels) h.Add(c);
        return h.ToHashCode();
    }

    static (string Key, string Message)? FindProblem(int inChannels, int height, int width, IReadOnlyList<int> channels, int kernel, int classes)
    {
        foreach (var (key, v) in new[] { ("in_channels", inChannels), ("height", height), ("width", width), ("kernel_size", kernel), ("classes", classes) })
            if (v < 1 || v > MaxSize) return (key, Invariant($"{v} is outside [1, {MaxSize}]"));
        if (channels.Count == 0) return ("channels", "needs at least one conv block");
        for (int i = 0; i < channels.Count; i++)
            if (channels[i] < 1 || channels[i] > MaxSize) return (Invariant($"channels[{i}]"), Invariant($"{channels[i]} is outside [1, {MaxSize}]"));
        if (kernel % 2 == 0) return ("kernel_size", Invariant($"{kernel} must be odd (padding k/2 keeps the size)"));
        if (channels.Count > 30 || (height >> channels.Count) < 1 || (width >> channels.Count) < 1)
            return ("channels", Invariant($"{channels.Count} blocks each halve the image, but {height}×{width} allows at most {(int)Math.Log2(Math.Min(height, width))}"));
        long weights = (long)classes * channels[^1] * (height >> channels.Count) * (width >> channels.Count);
        for (int i = 0; i < channels.Count; i++) weights = Math.Max(weights, (long)channels[i] * (i == 0 ? inChannels : channels[i - 1]) * kernel * kernel);
        if (weights > Array.MaxLength) return ("channels", Invariant($"a layer would have {weights} weights, too many for one array"));
        return null;
    }

    static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
