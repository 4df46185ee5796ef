namespace Lora.Core.Data;

/// <summary>Seeded, shuffled minibatches of a dataset, copied into buffers the caller owns.</summary>
/// <remarks>
/// <para>Epoch e visits the samples in a permutation drawn from (seed, e) alone, so the order does not depend on
/// how earlier epochs were consumed, and the same seed gives the same batches on any machine.</para>
/// <para>Nothing is allocated after construction: <see cref="StartEpoch()"/> reshuffles one index array in place and
/// <see cref="Next"/> copies features and labels into the spans passed in.</para>
/// </remarks>
public sealed class MinibatchIterator
{
    readonly Dataset data;
    readonly int[] order;
    readonly ulong seed;
    int position, lastStart, lastCount;

    /// <summary>Prepares batches of <paramref name="batchSize"/> samples of <paramref name="data"/>.</summary>
    /// <param name="shuffle">False visits samples in dataset order (for evaluation).</param>
    /// <param name="dropLast">True skips a final batch smaller than <paramref name="batchSize"/>.</param>
    public MinibatchIterator(Dataset data, int batchSize, ulong seed, bool shuffle = true, bool dropLast = false)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (batchSize < 1) throw new ArgumentException($"Batch size {batchSize} must be positive.", nameof(batchSize));
        this.data = data;
        this.seed = seed;
        BatchSize = batchSize;
        Shuffle = shuffle;
        DropLast = dropLast;
        order = new int[data.Count];
        Epoch = -1;
        position = data.Count;
    }

    /// <summary>The largest batch.</summary>
    public int BatchSize { get; }

    /// <summary>Whether each epoch is shuffled.</summary>
    public bool Shuffle { get; }

    /// <summary>Whether a final partial batch is skipped.</summary>
    public bool DropLast { get; }

    /// <summary>The current epoch, counted from 0; -1 before the first <see cref="StartEpoch()"/>.</summary>
    public int Epoch { get; private set; }

    /// <summary>Samples in the largest batch: <see cref="BatchSize"/>, or the whole set when it is smaller — the
    /// buffer size <see cref="Next"/> needs, so a batch size far beyond the set allocates nothing extra.</summary>
    public int LargestBatch => Math.Min(BatchSize, data.Count);

    /// <summary>Batches per epoch.</summary>
    public int BatchesPerEpoch => DropLast || data.Count % BatchSize == 0 ? data.Count / BatchSize : data.Count / BatchSize + 1; // no Count + BatchSize − 1: it overflows

    /// <summary>Samples in batch <paramref name="index"/> (from 0) of every epoch: <see cref="BatchSize"/>, except a
    /// last, partial batch (kept unless <see cref="DropLast"/>).</summary>
    public int SamplesIn(int index)
    {
        if ((uint)index >= (uint)BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(index), $"Batch {index} is outside [0, {BatchesPerEpoch}).");
        return (int)Math.Min(BatchSize, data.Count - (long)index * BatchSize);
    }

    /// <summary>The dataset indices of the batch <see cref="Next"/> returned last.</summary>
    public ReadOnlySpan<int> LastIndices => order.AsSpan(lastStart, lastCount);

    /// <summary>Begins the next epoch (epoch 0 first) with its own permutation.</summary>
    public void StartEpoch() => StartEpoch(Epoch + 1);

    /// <summary>Begins epoch <paramref name="epoch"/>; its order is the same whenever it is started.</summary>
    public void StartEpoch(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        Epoch = epoch;
        for (int i = 0; i < order.Length; i++) order[i] = i;
        if (Shuffle) new DataRandom(seed, (ulong)epoch + 1).Shuffle(order);
        position = 0;
        lastCount = 0;
    }

    /// <summary>Copies the next batch into <paramref name="features"/> (count × f) and <paramref name="labels"/> (count).</summary>
    /// <returns>False when the epoch is over (call <see cref="StartEpoch()"/> for the next one).</returns>
    /// <exception cref="ArgumentException">A buffer smaller than the largest batch (<see cref="LargestBatch"/>).</exception>
    public bool Next(Span<float> features, Span<int> labels, out int count)
    {
        int f = data.FeatureCount;
        if (features.Length < (long)LargestBatch * f)
            throw new ArgumentException($"The feature buffer holds {features.Length} values; a batch needs {(long)LargestBatch * f}.", nameof(features));
        if (labels.Length < LargestBatch)
            throw new ArgumentException($"The label buffer holds {labels.Length} values; a batch needs {LargestBatch}.", nameof(labels));
        int remaining = order.Length - position;
        count = Math.Min(BatchSize, remaining);
        if (count == 0 || (DropLast && count < BatchSize))
        {
            count = 0;
            return false;
        }
        var indices = order.AsSpan(position, count);
        for (int i = 0; i < count; i++)
        {
            int j = indices[i];
            data.Features.AsSpan(j * f, f).CopyTo(features.Slice(i * f, f));
            labels[i] = data.Labels[j];
        }
        (lastStart, lastCount) = (position, count);
        position += count;
        return true;
    }
}
