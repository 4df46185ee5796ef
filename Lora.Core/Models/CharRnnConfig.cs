using System.Text;
using Lora.Core.IO;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.Models;

/// <summary>The recurrent cell of a <see cref="CharRnnModel"/>.</summary>
public enum RecurrentCell
{
    /// <summary><see cref="Modules.Gru"/> (gates r, z, n; 3H rows in ih and hh).</summary>
    Gru,
    /// <summary><see cref="Modules.ElmanRnn"/> (tanh; H rows in ih and hh).</summary>
    Elman,
}

/// <summary>The architecture of a character-level recurrent language model (<c>model_type</c> <c>char_rnn</c>).</summary>
/// <remarks>
/// <para>Parameters, with PyTorch's names and layouts: <c>embedding.weight</c> (V, E); <c>rnn.ih.weight</c> (G·H, E),
/// <c>rnn.ih.bias</c> (G·H), <c>rnn.hh.weight</c> (G·H, H), <c>rnn.hh.bias</c> (G·H), with G = 3 for a GRU and 1 for an
/// Elman cell; <c>head.weight</c> (V, H), <c>head.bias</c> (V).</para>
/// <para>File form: <c>{"model_type": "char_rnn", "vocab_size": 39, "embedding_dim": 32, "hidden_size": 128,
/// "cell": "gru"}</c>.</para>
/// </remarks>
public sealed record CharRnnConfig : IModelConfig
{
    /// <summary>The <c>model_type</c> value.</summary>
    public const string CharRnnModelType = "char_rnn";

    /// <summary>The largest vocabulary, embedding or hidden width accepted.</summary>
    public const int MaxSize = 1 << 16;

    /// <summary>Creates and validates a configuration.</summary>
    /// <exception cref="ArgumentException">A size outside [1, <see cref="MaxSize"/>] or an unknown cell.</exception>
    public CharRnnConfig(int vocabSize, int embeddingDim, int hiddenSize, RecurrentCell cell = RecurrentCell.Gru)
    {
        if (FindProblem(vocabSize, embeddingDim, hiddenSize) is { } p) throw new ArgumentException($"Invalid char_rnn config: {p.Key}: {p.Message}");
        if (!Enum.IsDefined(cell)) throw new ArgumentException($"Unknown recurrent cell {cell}.", nameof(cell));
        VocabSize = vocabSize;
        EmbeddingDim = embeddingDim;
        HiddenSize = hiddenSize;
        Cell = cell;
    }

    /// <summary>Ids in the vocabulary, V (inputs and output classes).</summary>
    public int VocabSize { get; }

    /// <summary>Width of the character embedding, E.</summary>
    public int EmbeddingDim { get; }

    /// <summary>Width of the recurrent state, H.</summary>
    public int HiddenSize { get; }

    /// <summary>The recurrent cell.</summary>
    public RecurrentCell Cell { get; }

    /// <summary>Gate blocks per recurrent matrix: 3 for a GRU, 1 for an Elman cell.</summary>
    public int Gates => Cell == RecurrentCell.Gru ? 3 : 1;

    /// <inheritdoc/>
    public string ModelType => CharRnnModelType;

    /// <inheritdoc/>
    public string Summary => $"char-RNN {CellName(Cell)} V={VocabSize} E={EmbeddingDim} H={HiddenSize}";

    /// <inheritdoc/>
    public IEnumerable<(string Name, int[] Shape)> ExpectedTensors()
    {
        int g = Gates * HiddenSize;
        yield return ("embedding.weight", [VocabSize, EmbeddingDim]);
        yield return ("rnn.ih.weight", [g, EmbeddingDim]);
        yield return ("rnn.ih.bias", [g]);
        yield return ("rnn.hh.weight", [g, HiddenSize]);
        yield return ("rnn.hh.bias", [g]);
        yield return ("head.weight", [VocabSize, HiddenSize]);
        yield return ("head.bias", [VocabSize]);
    }

    /// <inheritdoc/>
    public string ToJson() =>
        $"{{\n  \"model_type\": \"{CharRnnModelType}\",\n  \"vocab_size\": {VocabSize},\n  \"embedding_dim\": {EmbeddingDim},\n" +
        $"  \"hidden_size\": {HiddenSize},\n  \"cell\": \"{CellName(Cell)}\"\n}}\n";

    /// <summary>Parses <c>config.json</c> bytes; <paramref name="file"/> names the file in errors.</summary>
    /// <exception cref="InvalidDataException">Invalid JSON, a wrong model_type, a missing key or an invalid value,
    /// naming the file and the key.</exception>
    public static CharRnnConfig FromJson(ReadOnlySpan<byte> utf8, string file)
    {
        using var doc = StrictJson.Parse(utf8, file);
        var root = StrictJson.Object(doc, file);
        string type = StrictJson.String(StrictJson.Require(root, "model_type", file), "model_type", file);
        if (type != CharRnnModelType) throw Corrupt(file, "model_type", $"'{type}' is not supported (expected '{CharRnnModelType}')");
        StrictJson.RejectUnknownKeys(root, file, "a char_rnn config", "model_type", "vocab_size", "embedding_dim", "hidden_size", "cell");
        int Size(string key) => StrictJson.Int(StrictJson.Require(root, key, file), key, file, 1, MaxSize);
        int v = Size("vocab_size"), e = Size("embedding_dim"), h = Size("hidden_size");
        string cellName = StrictJson.String(StrictJson.Require(root, "cell", file), "cell", file);
        var cell = cellName switch
        {
            "gru" => RecurrentCell.Gru,
            "elman" => RecurrentCell.Elman,
            _ => throw Corrupt(file, "cell", $"'{cellName}' is not one of gru, elman"),
        };
        return new CharRnnConfig(v, e, h, cell);
    }

    /// <summary>The name of <paramref name="cell"/> in <c>config.json</c>.</summary>
    public static string CellName(RecurrentCell cell) => cell == RecurrentCell.Gru ? "gru" : "elman";

    static (string Key, string Message)? FindProblem(int v, int e, int h)
    {
        foreach (var (key, value) in new[] { ("vocab_size", v), ("embedding_dim", e), ("hidden_size", h) })
            if (value < 1 || value > MaxSize) return (key, $"{value} is outside [1, {MaxSize}]");
        return null;
    }
}
