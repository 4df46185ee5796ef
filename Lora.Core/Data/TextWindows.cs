namespace Lora.Core.Data;

/// <summary>(input, target) windows for a sequence model: window i holds T character ids and the T ids that follow
/// each of them (the same text shifted by one), for next-character prediction at every position.</summary>
/// <remarks>
/// <para>Windows are cut from each block separately, back to back (stride T, each reading T + 1 characters, so
/// consecutive windows share one character: the last target of one is the first input of the next). A window never
/// spans two blocks, so windows of training blocks never read test text. The last
/// <c>(blockLength − 1) mod T</c> characters of each block form no window (fewer than T + 1 are left).</para>
/// <para>Inputs are stored as floats holding exact integers, the form <c>Embedding.Forward(Tensor)</c> and the
/// minibatch pipelines carry; targets as ints, the form of the cross-entropy's class indices.</para>
/// </remarks>
public sealed class TextWindows
{
    TextWindows(string name, int count, int length, int vocabularySize, float[] inputs, int[] targets)
    {
        Name = name;
        Count = count;
        Length = length;
        VocabularySize = vocabularySize;
        Inputs = inputs;
        Targets = targets;
    }

    /// <summary>A short description for reports.</summary>
    public string Name { get; }

    /// <summary>The number of windows, N.</summary>
    public int Count { get; }

    /// <summary>Characters per window, T.</summary>
    public int Length { get; }

    /// <summary>The number of distinct ids (the classes of every target).</summary>
    public int VocabularySize { get; }

    /// <summary>The input ids as exact integer floats, window by window: (N, T) row-major.</summary>
    public float[] Inputs { get; }

    /// <summary>The target ids: (N, T) row-major; target [i, t] is the character after input [i, t].</summary>
    public int[] Targets { get; }

    /// <summary>The number of predicted characters, N·T.</summary>
    public long TargetCount => (long)Count * Length;

    /// <summary>Cuts windows of <paramref name="length"/> characters from every block of
    /// <paramref name="blocks"/> (typically <see cref="TextSplit.Train"/> or <see cref="TextSplit.Test"/>).</summary>
    /// <exception cref="ArgumentException">A length below 1, an id outside [0, vocabularySize), or blocks too short
    /// for a single window.</exception>
    public static TextWindows Cut(IReadOnlyList<ReadOnlyMemory<int>> blocks, int length, int vocabularySize, string name)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        ArgumentNullException.ThrowIfNull(name);
        if (length < 1) throw new ArgumentException($"Window length {length} must be positive.", nameof(length));
        if (vocabularySize < 1) throw new ArgumentException($"Vocabulary size {vocabularySize} must be positive.", nameof(vocabularySize));
        long count = 0;
        foreach (var b in blocks) count += WindowsIn(b.Length, length);
        if (count == 0)
            throw new ArgumentException($"Text '{name}': no block holds the {length + 1L} characters of one window of {length}.", nameof(blocks));
        var inputs = new float[checked(count * length)];
        var targets = new int[inputs.Length];
        int w = 0;
        foreach (var block in blocks)
        {
            var ids = block.Span;
            for (int start = 0, n = WindowsIn(ids.Length, length); n > 0; n--, start += length, w++)
            {
                for (int t = 0; t < length; t++)
                {
                    int x = ids[start + t], y = ids[start + t + 1];
                    if ((uint)x >= (uint)vocabularySize || (uint)y >= (uint)vocabularySize)
                        throw new ArgumentException($"Text '{name}': id {((uint)x >= (uint)vocabularySize ? x : y)} is outside [0, {vocabularySize}).", nameof(blocks));
                    inputs[w * length + t] = x;
                    targets[w * length + t] = y;
                }
            }
        }
        return new TextWindows(name, (int)count, length, vocabularySize, inputs, targets);
    }

    static int WindowsIn(int blockLength, int length) => blockLength > length ? (blockLength - 1) / length : 0;

    /// <summary>The first <paramref name="count"/> windows (a smaller run of the same text), as a new instance.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A count outside [1, <see cref="Count"/>].</exception>
    public TextWindows Take(int count)
    {
        if (count < 1 || count > Count) throw new ArgumentOutOfRangeException(nameof(count), $"Take {count} of {Count} windows: the count must be in [1, {Count}].");
        int n = count * Length;
        return new TextWindows(Name, count, Length, VocabularySize, Inputs[..n], Targets[..n]);
    }

    /// <summary>The windows as a <see cref="Dataset"/> of T + 1 ids per sample (the T inputs followed by the last
    /// target, as exact integer floats) with the last target as the label: the form the demo framework carries and
    /// <c>Training.TrainingObjective.NextToken</c> reads back (input = ids 0…T−1, targets = ids 1…T).</summary>
    public Dataset AsDataset()
    {
        int f = Length + 1;
        var features = new float[(long)Count * f];
        var labels = new int[Count];
        for (int i = 0; i < Count; i++)
        {
            Inputs.AsSpan(i * Length, Length).CopyTo(features.AsSpan(i * f, Length));
            labels[i] = Targets[i * Length + Length - 1];
            features[i * f + Length] = labels[i];
        }
        return new Dataset(Name, features, labels, f, VocabularySize);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {Count} windows of {Length} characters";
}
