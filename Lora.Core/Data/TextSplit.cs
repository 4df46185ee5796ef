namespace Lora.Core.Data;

/// <summary>A text cut into contiguous training and test blocks by <see cref="TextCorpus.Split"/>.</summary>
/// <remarks>The blocks are views of <see cref="TextCorpus.Ids"/>, in text order; no character is in both lists.</remarks>
public sealed class TextSplit
{
    internal TextSplit(TextCorpus corpus, IReadOnlyList<ReadOnlyMemory<int>> train, IReadOnlyList<ReadOnlyMemory<int>> test)
    {
        Corpus = corpus;
        Train = train;
        Test = test;
    }

    /// <summary>The text that was split.</summary>
    public TextCorpus Corpus { get; }

    /// <summary>The training blocks, in text order.</summary>
    public IReadOnlyList<ReadOnlyMemory<int>> Train { get; }

    /// <summary>The test blocks, in text order.</summary>
    public IReadOnlyList<ReadOnlyMemory<int>> Test { get; }

    /// <summary>Characters in the training blocks.</summary>
    public int TrainLength => Train.Sum(b => b.Length);

    /// <summary>Characters in the test blocks.</summary>
    public int TestLength => Test.Sum(b => b.Length);

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Corpus.Name}: {TrainLength} training characters in {Train.Count} blocks, {TestLength} test characters in {Test.Count} blocks";
}
