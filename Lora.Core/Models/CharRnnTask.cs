using Lora.Core.Data;
using Lora.Core.Experiments;
using Lora.Core.IO;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;

namespace Lora.Core.Models;

/// <summary>The character-level recurrent language model demo (<c>--model rnn</c>): embedding → GRU → Linear head,
/// pretrained on every other chapter of the King James Bible (task A) and adapted to Ambrose Bierce's The Devil's
/// Dictionary from a small sample of it (task B) through LoRA on the GRU's input-to-hidden and hidden-to-hidden
/// matrices and the head.</summary>
/// <remarks>
/// <para>Data: both texts normalised by <see cref="CharVocabulary.Default"/> (39 ids), cut by
/// <see cref="TextCorpus.Split"/> into blocks of <see cref="BlockLength"/> characters with every
/// <see cref="TestEvery"/>-th block held out, and into windows of <see cref="WindowLength"/> characters inside each
/// block (<see cref="TextWindows"/>). Task A trains on all its training blocks (one pass over 1.8 M characters of
/// 65 books); task B adapts on every <see cref="AdaptationSampleEvery"/>-th of the dictionary's training blocks
/// (40 k characters spread over A–Z) and is tested on all its held-out blocks. The loss is the mean next-character
/// cross-entropy; reports add perplexity and tokens per second.</para>
/// <para>Why it is a fair test of low-rank adaptation: both texts are English, so the spelling and the short-range
/// statistics the GRU learned from the Bible still hold, but the dictionary's vocabulary (modern, satirical, Latinate),
/// punctuation and rhythm differ. A broad base adapted from a sample small against what it was pretrained on is how
/// low-rank adaptation is meant to be used; adapting on the whole dictionary (as long as the base's pretraining text
/// used to be) came close to retraining the model, and full fine-tuning then moved its weights twice as far
/// (docs/demos.md, "rnn").
/// Full fine-tuning of the same base on the same sample, with its own tuned rate and epochs, is the reference.</para>
/// <para>Every phase runs <see cref="PhaseSchedule.WarmupCosine"/> (linear warm-up, cosine decay to zero) at its own
/// peak rate; rates and epochs are the best of a sweep for each method.</para>
/// <para><see cref="AdaptationOptions.Hidden"/> is (embedding width, hidden width).</para>
/// </remarks>
public sealed class CharRnnTask : DemoTask
{
    /// <summary>Characters per block of the train/test split.</summary>
    public const int BlockLength = 2048;

    /// <summary>One block in this many is held out for testing (10 %).</summary>
    public const int TestEvery = 10;

    /// <summary>Task B adapts on one training block of the dictionary in this many (blocks 0, 8, 16, … of its
    /// training blocks): the small-sample adaptation the demo measures.</summary>
    public const int AdaptationSampleEvery = 8;

    /// <summary>Characters per training window, T (backpropagation through time runs over the whole window).</summary>
    public const int WindowLength = 64;

    /// <inheritdoc/>
    public override string Name => "rnn";

    /// <inheritdoc/>
    public override string ModelType => CharRnnConfig.CharRnnModelType;

    /// <inheritdoc/>
    public override string Description =>
        "char-level GRU language model (--hidden: embedding,hidden widths); task A = KJV (alternate chapters), B = The Devil's Dictionary (a 1/8 sample); LoRA on rnn.ih, rnn.hh, head";

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
        BaseEpochs = 1,
        BaseLearningRate = 1e-2,
        Rank = 8,
        Alpha = 16,
        Targets = ["rnn.ih", "rnn.hh", "head"],
        LoraEpochs = 8,
        LoraLearningRate = 2e-2,
        FullEpochs = 6,
        FullLearningRate = 8e-3,
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
        var a = TextCorpus.KingJamesAlternateChapters(v).Split(BlockLength, TestEvery);
        var b = TextCorpus.DevilsDictionary(v).Split(BlockLength, TestEvery);
        var bSample = AdaptationSample(b.Train);
        Dataset Windows(IReadOnlyList<ReadOnlyMemory<int>> blocks, string name) => TextWindows.Cut(blocks, WindowLength, v.Size, name).AsDataset();
        return new DemoData(Windows(a.Train, "kjv-alternate-chapters (train)"), Windows(a.Test, "kjv-alternate-chapters (test)"),
            Windows(bSample, $"devils-dictionary (train, 1 block in {AdaptationSampleEvery})"), Windows(b.Test, "devils-dictionary (test)"),
            $"text (embedded KJV alternate chapters → a 1/{AdaptationSampleEvery} sample of The Devil's Dictionary, {WindowLength}-character windows)",
            "devils-dictionary");
    }

    /// <summary>The blocks task B adapts on: training blocks 0, <see cref="AdaptationSampleEvery"/>,
    /// 2·<see cref="AdaptationSampleEvery"/>, … (spread over the whole alphabetical dictionary; the test blocks are
    /// never among them).</summary>
    public static IReadOnlyList<ReadOnlyMemory<int>> AdaptationSample(IReadOnlyList<ReadOnlyMemory<int>> trainingBlocks)
    {
        ArgumentNullException.ThrowIfNull(trainingBlocks);
        return trainingBlocks.Where((_, k) => k % AdaptationSampleEvery == 0).ToArray();
    }

    /// <inheritdoc/>
    public override IModelConfig BaseConfig(DemoData data, AdaptationOptions options)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Hidden.Count != 2)
            throw new ArgumentException($"--hidden for the rnn demo is two widths, embedding and hidden (e.g. 32,192); got {options.Hidden.Count}.");
        return new CharRnnConfig(data.TrainA.ClassCount, options.Hidden[0], options.Hidden[1]);
    }

    /// <inheritdoc/>
    public override Module CreateBase(DemoData data, AdaptationOptions options) =>
        new CharRnnModel((CharRnnConfig)BaseConfig(data, options), options.Seed);

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
