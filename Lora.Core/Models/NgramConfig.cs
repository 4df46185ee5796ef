using Lora.Core.IO;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.Models;

/// <summary>The architecture of a hashed n-gram next-character model (<c>model_type</c> <c>ngram_embedding</c>).</summary>
/// <remarks>
/// <para>Parameters, with PyTorch's names and layouts: <c>table.weight</c> (rows, dim), the embedding table every
/// context order indexes (see <see cref="Data.NgramContexts"/> for the row layout); <c>head.weight</c>
/// (V, orders·dim) and <c>head.bias</c> (V).</para>
/// <para>File form: <c>{"model_type": "ngram_embedding", "vocab_size": 39, "orders": 4, "rows": 8192, "dim": 64}</c>.</para>
/// </remarks>
public sealed record NgramConfig : IModelConfig
{
    /// <summary>The <c>model_type</c> value.</summary>
    public const string NgramModelType = "ngram_embedding";

    /// <summary>The most rows accepted (2^24).</summary>
    public const int MaxRows = 1 << 24;

    /// <summary>The largest vocabulary, order count or width accepted.</summary>
    public const int MaxSize = 1 << 12;

    /// <summary>Creates and validates a configuration.</summary>
    /// <exception cref="ArgumentException">A size out of range, or too few rows for the exact orders 1 and 2.</exception>
    public NgramConfig(int vocabSize, int orders, int rows, int dim)
    {
        if (FindProblem(vocabSize, orders, rows, dim) is { } p) throw new ArgumentException($"Invalid ngram_embedding config: {p.Key}: {p.Message}");
        VocabSize = vocabSize;
        Orders = orders;
        Rows = rows;
        Dim = dim;
    }

    /// <summary>Ids in the vocabulary, V (the output classes).</summary>
    public int VocabSize { get; }

    /// <summary>Context orders 1…K, one table row each per sample.</summary>
    public int Orders { get; }

    /// <summary>Rows of the embedding table.</summary>
    public int Rows { get; }

    /// <summary>Width of a table row.</summary>
    public int Dim { get; }

    /// <inheritdoc/>
    public string ModelType => NgramModelType;

    /// <inheritdoc/>
    public string Summary => $"hashed n-gram embedding V={VocabSize} orders=1..{Orders} rows={Rows} dim={Dim}";

    /// <inheritdoc/>
    public IEnumerable<(string Name, int[] Shape)> ExpectedTensors()
    {
        yield return ("table.weight", [Rows, Dim]);
        yield return ("head.weight", [VocabSize, Orders * Dim]);
        yield return ("head.bias", [VocabSize]);
    }

    /// <inheritdoc/>
    public string ToJson() =>
        $"{{\n  \"model_type\": \"{NgramModelType}\",\n  \"vocab_size\": {VocabSize},\n  \"orders\": {Orders},\n  \"rows\": {Rows},\n  \"dim\": {Dim}\n}}\n";

    /// <summary>Parses <c>config.json</c> bytes; <paramref name="file"/> names the file in errors.</summary>
    /// <exception cref="InvalidDataException">Invalid JSON, a wrong model_type, a missing key or an invalid value,
    /// naming the file and the key.</exception>
    public static NgramConfig FromJson(ReadOnlySpan<byte> utf8, string file)
    {
        using var doc = StrictJson.Parse(utf8, file);
        var root = StrictJson.Object(doc, file);
        string type = StrictJson.String(StrictJson.Require(root, "model_type", file), "model_type", file);
        if (type != NgramModelType) throw Corrupt(file, "model_type", $"'{type}' is not supported (expected '{NgramModelType}')");
        StrictJson.RejectUnknownKeys(root, file, "an ngram_embedding config", "model_type", "vocab_size", "orders", "rows", "dim");
        int Get(string key, int max) => StrictJson.Int(StrictJson.Require(root, key, file), key, file, 1, max);
        int v = Get("vocab_size", MaxSize), k = Get("orders", MaxSize), rows = Get("rows", MaxRows), dim = Get("dim", MaxSize);
        if (FindProblem(v, k, rows, dim) is { } p) throw Corrupt(file, p.Key, p.Message);
        return new NgramConfig(v, k, rows, dim);
    }

    static (string Key, string Message)? FindProblem(int v, int orders, int rows, int dim)
    {
        if (v < 1 || v > MaxSize) return ("vocab_size", $"{v} is outside [1, {MaxSize}]");
        if (orders < 1 || orders > MaxSize) return ("orders", $"{orders} is outside [1, {MaxSize}]");
        if (dim < 1 || dim > MaxSize) return ("dim", $"{dim} is outside [1, {MaxSize}]");
        if (rows < 1 || rows > MaxRows) return ("rows", $"{rows} is outside [1, {MaxRows}]");
        int min = Data.NgramContexts.MinimumRows(v, orders);
        if (rows < min) return ("rows", $"{rows} rows cannot hold orders 1..{orders} over {v} ids (needs at least {min})");
        if ((long)rows * dim > Array.MaxLength) return ("rows", $"a table of {rows}×{dim} is too large for one array");
        return null;
    }
}
