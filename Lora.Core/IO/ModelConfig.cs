using System.Globalization;
using System.Text;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.IO;

/// <summary>The architecture of a saved MLP, the contents of a checkpoint's <c>config.json</c>.</summary>
/// <remarks>
/// <para>An MLP of sizes (s0, s1, …, sL) has L Linear layers named <c>layers.{i}</c>, layer i mapping s_i inputs to
/// s_{i+1} outputs, with <see cref="Activation"/> (and dropout with probability <see cref="Dropout"/> while training)
/// between consecutive layers and none after the last. Its parameters use PyTorch's names and layout:
/// <c>layers.{i}.weight</c> (s_{i+1}, s_i) and <c>layers.{i}.bias</c> (s_{i+1}).</para>
/// <para>File form: <c>{"model_type": "mlp", "sizes": [8, 16, 12, 4], "activation": "relu", "dropout": 0.0}</c>.</para>
/// </remarks>
public sealed record ModelConfig : IModelConfig
{
    /// <summary>The <c>model_type</c> value identifying Lora's MLP.</summary>
    public const string MlpModelType = "mlp";

    /// <inheritdoc/>
    public string ModelType => MlpModelType;

    /// <inheritdoc/>
    public string Summary => "MLP " + string.Join("-", Sizes);

    /// <summary>The largest layer width accepted (2^24).</summary>
    public const int MaxWidth = 1 << 24;

    /// <summary>Creates and validates a configuration.</summary>
    /// <exception cref="ArgumentException">Fewer than two sizes, a size outside [1, <see cref="MaxWidth"/>], a layer
    /// with more than <see cref="Array.MaxLength"/> weights, or a dropout outside [0, 1).</exception>
    public ModelConfig(IReadOnlyList<int> sizes, ActivationKind activation = ActivationKind.Relu, double dropout = 0.0)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        var problem = FindProblem(sizes, dropout);
        if (problem is not null) throw new ArgumentException($"Invalid model config: {problem.Value.Key}: {problem.Value.Message}");
        if (!Enum.IsDefined(activation)) throw new ArgumentException($"Unknown activation {activation}.", nameof(activation));
        Sizes = sizes.ToArray();
        Activation = activation;
        Dropout = dropout;
    }

    /// <summary>Layer widths from input to output; <c>Sizes.Count - 1</c> Linear layers.</summary>
    public IReadOnlyList<int> Sizes { get; }

    /// <summary>The nonlinearity between layers.</summary>
    public ActivationKind Activation { get; }

    /// <summary>The dropout probability applied after each hidden activation while training.</summary>
    public double Dropout { get; }

    /// <summary>The number of Linear layers.</summary>
    public int LayerCount => Sizes.Count - 1;

    /// <summary>The Linear layers: module path <c>layers.{i}</c>, inputs and outputs.</summary>
    public IEnumerable<(string Path, int In, int Out)> Linears() =>
        Enumerable.Range(0, LayerCount).Select(i => ($"layers.{i}", Sizes[i], Sizes[i + 1]));

    /// <summary>Every parameter a checkpoint of this architecture holds, with its PyTorch name and shape.</summary>
    public IEnumerable<(string Name, int[] Shape)> ExpectedTensors()
    {
        foreach (var (path, input, output) in Linears())
        {
            yield return (path + ".weight", [output, input]);
            yield return (path + ".bias", [output]);
        }
    }

    /// <summary>The <c>config.json</c> text: two-space indented, keys in a fixed order.</summary>
    public string ToJson()
    {
        var sb = new StringBuilder();
        sb.Append("{\n  \"model_type\": \"").Append(MlpModelType).Append("\",\n  \"sizes\": [");
        sb.Append(string.Join(", ", Sizes.Select(s => s.ToString(CultureInfo.InvariantCulture))));
        sb.Append("],\n  \"activation\": \"").Append(ActivationName(Activation)).Append("\",\n  \"dropout\": ");
        sb.Append(Dropout.ToString("R", CultureInfo.InvariantCulture));
        if (Dropout == Math.Floor(Dropout)) sb.Append(".0");
        sb.Append("\n}\n");
        return sb.ToString();
    }

    /// <summary>Parses <c>config.json</c> bytes; <paramref name="file"/> names the file in errors.</summary>
    /// <exception cref="InvalidDataException">Invalid JSON, duplicate keys, a wrong model_type, an unknown key (a
    /// misspelt <c>activation</c> or <c>dropout</c> would otherwise leave the default in force), or invalid values.</exception>
    public static ModelConfig FromJson(ReadOnlySpan<byte> utf8, string file)
    {
        using var doc = StrictJson.Parse(utf8, file);
        var root = StrictJson.Object(doc, file);
        string type = StrictJson.String(StrictJson.Require(root, "model_type", file), "model_type", file);
        if (type != MlpModelType) throw Corrupt(file, "model_type", $"'{type}' is not supported (expected '{MlpModelType}')");
        StrictJson.RejectUnknownKeys(root, file, "an mlp config", "model_type", "sizes", "activation", "dropout");
        var sizesJson = StrictJson.Require(root, "sizes", file);
        if (sizesJson.ValueKind != System.Text.Json.JsonValueKind.Array) throw Corrupt(file, "sizes", "must be an array of integers");
        var sizes = new List<int>();
        int index = 0;
        foreach (var s in sizesJson.EnumerateArray())
            sizes.Add(StrictJson.Int(s, $"sizes[{index++}]", file, 1, MaxWidth));
        var activation = ActivationKind.Relu;
        if (StrictJson.TryGet(root, "activation", out var a))
        {
            string name = StrictJson.String(a, "activation", file);
            if (!TryParseActivation(name, out activation))
                throw Corrupt(file, "activation", $"'{name}' is not one of relu, tanh, sigmoid, gelu");
        }
        double dropout = StrictJson.TryGet(root, "dropout", out var d) ? StrictJson.Number(d, "dropout", file) : 0.0;
        var problem = FindProblem(sizes, dropout);
        if (problem is not null) throw Corrupt(file, problem.Value.Key, problem.Value.Message);
        return new ModelConfig(sizes, activation, dropout);
    }

    /// <summary>Reads and validates a <c>config.json</c> file.</summary>
    public static ModelConfig Read(string path) => FromJson(ReadFileBytes(path), path);

    /// <summary>Writes <see cref="ToJson"/> to <paramref name="path"/> atomically.</summary>
    public void Write(string path) => AtomicFile.WriteAllBytes(path, Encoding.UTF8.GetBytes(ToJson()));

    /// <summary>The lower-case name used in <c>config.json</c>, e.g. <c>relu</c>.</summary>
    public static string ActivationName(ActivationKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>Parses a lower-case activation name.</summary>
    public static bool TryParseActivation(string name, out ActivationKind kind)
    {
        foreach (var k in Enum.GetValues<ActivationKind>())
        {
            if (ActivationName(k) == name) { kind = k; return true; }
        }
        kind = default;
        return false;
    }

    /// <inheritdoc/>
    public bool Equals(ModelConfig? other) =>
        other is not null && Sizes.SequenceEqual(other.Sizes) && Activation == other.Activation && Dropout.Equals(other.Dropout);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (int s in Sizes) h.Add(s);
        h.Add(Activation);
        h.Add(Dropout);
        return h.ToHashCode();
    }

    static (string Key, string Message)? FindProblem(IReadOnlyList<int> sizes, double dropout)
    {
        if (sizes.Count < 2) return ("sizes", $"needs at least an input and an output size, got {sizes.Count} entries");
        for (int i = 0; i < sizes.Count; i++)
        {
            if (sizes[i] < 1 || sizes[i] > MaxWidth) return ($"sizes[{i}]", $"{sizes[i]} is outside [1, {MaxWidth}]");
            if (i > 0 && (long)sizes[i - 1] * sizes[i] > Array.MaxLength)
                return ($"sizes[{i}]", $"layer {i - 1} would have {(long)sizes[i - 1] * sizes[i]} weights, too many for one array");
        }
        if (!(dropout >= 0 && dropout < 1)) return ("dropout", $"{dropout.ToString(CultureInfo.InvariantCulture)} is outside [0, 1)");
        return null;
    }
}
