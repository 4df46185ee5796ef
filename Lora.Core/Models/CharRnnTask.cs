using Lora.Core.Data;
using Lora.Core.Experiments;
using Lora.Core.IO;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;

namespace Lora.Core.Models;

/// <summary>The character-level recurrent language model demo (<c>--model rnn</c>): embedding → GRU → Linear head,
/// pretrained on the King James Bible's Genesis and Exodus (task A) and adapted to Ambrose Bierce's The Devil's
/// Dictionary (task B) through LoRA on the GRU's input-to-hidden and hidden-to-hidden matrices and the head.</summary>
/// <remarks>
/// <para>Data: both texts normalised by <see cref="CharVocabulary.Default"/> (39 ids), cut by
/// <see cref="TextCorpus.Split"/> into blocks of <see cref="BlockLength"/> characters with every
/// <see cref="TestEvery"/>-th block held out, and into windows of <see cref="WindowLength"/> characters inside each
/// block (<see cref="TextWindows"/>). The loss is the mean next-character cross-entropy; reports add perplexity and
/// tokens per second.</para>
/// <para>Why it is a fair test of low-rank adaptation: both texts are English, so the spelling and the short-range
/// statistics the GRU learned from the Bible still hold, but the dictionary's vocabulary (modern, satirical, Latinate),
/// punctuation and rhythm differ; adapting means re-weighting which of the learned features drive the state and the
/// prediction, a change that a rank-r update of ih, hh and the head can express without relearning the features.
/// Full fine-tuning of the same base on the same data is the reference.</para>
/// <para>Every phase runs <see cref="PhaseSchedule.WarmupCosine"/> (linear warm-up, cosine decay to zero) at its own
/// peak rate, each rate the best of a small sweep: in these few epochs a decaying rate with a higher peak ends both
/// adaptations 2–4% lower in perplexity than the best constant rate (docs/demos.md, "rnn").</para>
/// <para><see cref="AdaptationOptions.Hidden"/> is (embedding width, hidden width).</para>
/// </remarks>
public sealed class CharRnnTask : DemoTask
{
    /// <summary>Characters per block of the train/test split.</summary>
    public const int BlockLength = 2048;

    /// <summary>One block in this many is held out for testing (10 %).</summary>
    public const int TestEvery = 10;

    /// <summary>Characters per training window, T (backpropagation through time runs over the whole window).</summary>
    public const int WindowLength = 64;

    /// <inheritdoc/>
    public override string Name => "rnn";

    /// <inheritdoc/>
    public override string ModelType => CharRnnConfig.CharRnnModelType;

    /// <inheritdoc/>
    public override string Description =>
        "char-level GRU language model (--hidden: embedding,hidden widths); task A = KJV Genesis-Exodus, B = The Devil's Dictionary; LoRA on rnn.ih, rnn.hh, head";

    /// <inheritdoc/>
    public override DemoSettings Settings => DemoSettings.Hidden;

    /// <inheritdoc/>
    public override bool IsLanguageModel => true;

    /// <inheritdoc/>
    public override int TokensPerSample => WindowLength;

    /// <inheritdoc/>
    public override AdaptationOptions Defaults { get; } = new()
    {
        Hidden = [32, 192],
        BatchSize = 32,
        BaseEpochs = 3,
        BaseLearningRate = 1e-2,
        Rank = 8,
        Alpha = 16,
        Targets = ["rnn.ih", "rnn.hh", "head"],
        LoraEpochs = 3,
        LoraLearningRate = 2e-2,
        FullEpochs = 2,
        FullLearningRate = 1.6e-2,
        Schedule = PhaseSchedule.WarmupCosine,
    };

    /// <inheritdoc/>
    public override DemoData LoadData(AdaptationOptions options, string? dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (dataDirectory is not null) throw new ArgumentException("The rnn demo uses its embedded texts; --data does not apply.");
        // The data depend on no option: built once per task instance (the datasets are immutable by convention), so
        // `lora eval` and repeated runs in one process do not decode and cut the texts again.
        return _data.Value;
    }

    readonly Lazy<DemoData> _data = new(Build);

    static DemoData Build()
    {
        var v = CharVocabulary.Default;
        var a = TextCorpus.KingJamesGenesisExodus(v).Split(BlockLength, TestEvery);
        var b = TextCorpus.DevilsDictionary(v).Split(BlockLength, TestEvery);
        Dataset Windows(IReadOnlyList<ReadOnlyMemory<int>> blocks, string name) => TextWindows.Cut(blocks, WindowLength, v.Size, name).AsDataset();
        return new DemoData(Windows(a.Train, "kjv-genesis-exodus (train)"), Windows(a.Test, "kjv-genesis-exodus (test)"),
            Windows(b.Train, "devils-dictionary (train)"), Windows(b.Test, "devils-dictionary (test)"),
            $"text (embedded KJV Genesis-Exodus → The Devil's Dictionary, {WindowLength}-character windows)", "devils-dictionary");
    }

    /// <inheritdoc/>
    public override Module CreateBase(DemoData data, AdaptationOptions options)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Hidden.Count != 2)
            throw new ArgumentException($"--hidden for the rnn demo is two widths, embedding and hidden (e.g. 32,192); got {options.Hidden.Count}.");
        return new CharRnnModel(new CharRnnConfig(data.TrainA.ClassCount, options.Hidden[0], options.Hidden[1]), options.Seed);
    }

    /// <inheritdoc/>
    public override void CheckCompatible(IModelConfig config, Dataset data)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(data);
        if (config is not CharRnnConfig c) throw new ArgumentException($"the {Name} demo needs a char_rnn model, not {config.Summary}.");
        if (c.VocabSize != data.ClassCount || data.FeatureCount < 2)
            throw new ArgumentException($"the model ({c.Summary}) reads {c.VocabSize} character ids but '{data.Name}' has {data.ClassCount} ids in windows of {data.FeatureCount}.");
    }

    /// <inheritdoc/>
    public override TrainingObjective Objective => TrainingObjective.NextToken;
}
