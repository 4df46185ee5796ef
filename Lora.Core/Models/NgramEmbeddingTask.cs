using Lora.Core.Data;
using Lora.Core.Experiments;
using Lora.Core.IO;
using Lora.Core.Modules;

namespace Lora.Core.Models;

/// <summary>The embedding demo (<c>--model embedding</c>): a hashed n-gram next-character model whose knowledge lives
/// in one embedding table, pretrained on the King James Bible's Genesis and Exodus (task A) and adapted to The
/// Devil's Dictionary (task B) through LoRA on the table (a LoraEmbedding) and the head.</summary>
/// <remarks>
/// <para>Each sample predicts a character from the rows of its preceding 1…<see cref="Orders"/> characters in a
/// table of <see cref="Rows"/> rows (<see cref="NgramContexts"/>: orders 1 and 2 exact, higher orders hashed), so the
/// table is the model's capacity, as in a recommender's user and item tables. Both texts are normalised by
/// <see cref="CharVocabulary.Default"/> and split into the same held-out blocks as the rnn demo.</para>
/// <para>Why it is a fair test of low-rank adaptation: the new text reuses most contexts of the old one but with
/// different continuations (and brings contexts the Bible never had). Full fine-tuning may rewrite every row freely;
/// LoRA adds a rank-r correction s·(B·A)ᵀ whose row for a context is its own r-vector (a column of A) mapped through a
/// shared B — every context gets its own update, but all updates share r directions of the row space. Whether r
/// directions suffice to move a 64-wide table to a new text is exactly the question.</para>
/// <para><see cref="AdaptationOptions.Hidden"/> is the table width (one value).</para>
/// </remarks>
public sealed class NgramEmbeddingTask : DemoTask
{
    /// <summary>Context orders 1…K per sample.</summary>
    public const int Orders = 4;

    /// <summary>Rows of the table: 39 + 39² exact rows for orders 1 and 2, the rest shared by the hashed orders.</summary>
    public const int Rows = 8192;

    /// <inheritdoc/>
    public override string Name => "embedding";

    /// <inheritdoc/>
    public override string ModelType => NgramConfig.NgramModelType;

    /// <inheritdoc/>
    public override string Description =>
        "hashed character n-gram embedding table + linear head (--hidden: table width); task A = KJV Genesis-Exodus, B = The Devil's Dictionary; LoRA on table, head";

    /// <inheritdoc/>
    public override DemoSettings Settings => DemoSettings.Hidden;

    /// <inheritdoc/>
    public override bool IsLanguageModel => true;

    /// <inheritdoc/>
    public override AdaptationOptions Defaults { get; } = new()
    {
        Hidden = [64],
        BatchSize = 256,
        BaseEpochs = 2,
        BaseLearningRate = 1e-2,
        Rank = 4,
        Alpha = 8,
        Targets = ["table", "head"],
        LoraEpochs = 3,
        LoraLearningRate = 1e-3,
        FullEpochs = 2,
        FullLearningRate = 1e-2,
    };

    /// <inheritdoc/>
    public override DemoData LoadData(AdaptationOptions options, string? dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (dataDirectory is not null) throw new ArgumentException("The embedding demo uses its embedded texts; --data does not apply.");
        // The data depend on no option: built once per task instance (the datasets are immutable by convention), so
        // `lora eval` and repeated runs in one process do not decode and cut the texts again.
        return _data.Value;
    }

    readonly Lazy<DemoData> _data = new(Build);

    static DemoData Build()
    {
        var v = CharVocabulary.Default;
        var a = TextCorpus.KingJamesGenesisExodus(v).Split(CharRnnTask.BlockLength, CharRnnTask.TestEvery);
        var b = TextCorpus.DevilsDictionary(v).Split(CharRnnTask.BlockLength, CharRnnTask.TestEvery);
        Dataset Contexts(IReadOnlyList<ReadOnlyMemory<int>> blocks, string name) => NgramContexts.Build(blocks, Orders, Rows, v.Size, name);
        return new DemoData(Contexts(a.Train, "kjv-genesis-exodus (train)"), Contexts(a.Test, "kjv-genesis-exodus (test)"),
            Contexts(b.Train, "devils-dictionary (train)"), Contexts(b.Test, "devils-dictionary (test)"),
            $"text (embedded KJV Genesis-Exodus → The Devil's Dictionary, hashed {Orders}-character contexts)", "devils-dictionary");
    }

    /// <inheritdoc/>
    public override IModelConfig BaseConfig(DemoData data, AdaptationOptions options)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Hidden.Count != 1)
            throw new ArgumentException($"--hidden for the embedding demo is one width, the table's (e.g. 64); got {options.Hidden.Count} values.");
        return new NgramConfig(data.TrainA.ClassCount, Orders, Rows, options.Hidden[0]);
    }

    /// <inheritdoc/>
    public override Module CreateBase(DemoData data, AdaptationOptions options) =>
        new NgramModel((NgramConfig)BaseConfig(data, options), options.Seed);

    /// <inheritdoc/>
    public override void CheckCompatible(IModelConfig config, Dataset data)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(data);
        if (config is not NgramConfig c) throw new ArgumentException($"the {Name} demo needs an ngram_embedding model, not {config.Summary}.");
        if (c.VocabSize != data.ClassCount || c.Orders != data.FeatureCount || c.Rows != Rows)
            throw new ArgumentException($"the model ({c.Summary}) does not read '{data.Name}' ({data.FeatureCount} contexts of {Rows} rows, {data.ClassCount} ids).");
    }
}
