using Lora.Core.Data;

namespace Lora.Tests.Core.Data;

/// <summary>Splits and minibatches: deterministic per seed, complete, balanced, allocation-free per batch.</summary>
[Collection(global::Lora.Tests.SerialCollection.Name)]
public class SplitAndBatchTests
{
    static readonly Dataset DigitsData = Digits.Load();

    [Fact]
    public void StratifiedSplitIsDeterministicDisjointCompleteAndBalanced()
    {
        var (train, test) = DatasetSplit.Split(DigitsData, 0.2, seed: 7);
        var (train2, test2) = DatasetSplit.Split(DigitsData, 0.2, seed: 7);
        var (_, test3) = DatasetSplit.Split(DigitsData, 0.2, seed: 8);
        Assert.Equal(test.Features, test2.Features);
        Assert.Equal(train.Labels, train2.Labels);
        Assert.NotEqual(test.Features, test3.Features);
        Assert.Equal(DigitsData.Count, train.Count + test.Count);
        var counts = DigitsData.ClassCounts();
        var testCounts = test.ClassCounts();
        for (int c = 0; c < 10; c++)
            Assert.Equal((int)Math.Round(0.2 * counts[c], MidpointRounding.AwayFromZero), testCounts[c]);
        // Disjoint and complete: every original sample is in exactly one part (samples compared by content).
        var all = new HashSet<string>(Enumerable.Range(0, DigitsData.Count).Select(i => Key(DigitsData, i)));
        var seen = Enumerable.Range(0, train.Count).Select(i => Key(train, i)).Concat(Enumerable.Range(0, test.Count).Select(i => Key(test, i))).ToList();
        Assert.Equal(all.Count, seen.Distinct().Count());
        Assert.True(all.SetEquals(seen));
    }

    static string Key(Dataset d, int i) => string.Join(",", d.Sample(i).ToArray()) + "|" + d.Labels[i];

    [Fact]
    public void PlainSplitTakesTheRequestedFraction()
    {
        var (train, test) = DatasetSplit.Split(DigitsData, 0.25, seed: 1, stratified: false);
        Assert.Equal(449, test.Count); // round(0.25 · 1797)
        Assert.Equal(1348, train.Count);
        Assert.Throws<ArgumentException>(() => DatasetSplit.Split(DigitsData, 0, 1));
        Assert.Throws<ArgumentException>(() => DatasetSplit.Split(DigitsData, 1, 1));
    }

    [Fact]
    public void EveryEpochVisitsEverySampleOnceInASeededOrder()
    {
        var data = DigitsData.Subset(Enumerable.Range(0, 100).ToArray());
        var it = new MinibatchIterator(data, batchSize: 32, seed: 42);
        var again = new MinibatchIterator(data, batchSize: 32, seed: 42);
        var x = new float[32 * 64];
        var y = new int[32];
        var orders = new List<int[]>();
        for (int epoch = 0; epoch < 3; epoch++)
        {
            it.StartEpoch();
            var visited = new List<int>();
            var sizes = new List<int>();
            while (it.Next(x, y, out int count))
            {
                sizes.Add(count);
                for (int i = 0; i < count; i++)
                {
                    int j = it.LastIndices[i];
                    visited.Add(j);
                    Assert.Equal(data.Labels[j], y[i]);
                    Assert.True(data.Sample(j).SequenceEqual(x.AsSpan(i * 64, 64)));
                }
            }
            Assert.Equal([32, 32, 32, 4], sizes);
            Assert.Equal(Enumerable.Range(0, 100), visited.Order());
            orders.Add(visited.ToArray());
        }
        Assert.NotEqual(orders[0], orders[1]);
        // Epoch 1 has the same order whenever it is started, on any iterator with the same seed.
        again.StartEpoch(1);
        var replay = new List<int>();
        while (again.Next(x, y, out int count)) replay.AddRange(again.LastIndices.ToArray());
        Assert.Equal(orders[1], replay);
    }

    [Fact]
    public void BatchesAllocateNothing()
    {
        var it = new MinibatchIterator(DigitsData, batchSize: 64, seed: 3, dropLast: true);
        var x = new float[64 * 64];
        var y = new int[64];
        // Warm up past the JIT's tiering thresholds, so what is measured is the steady state.
        for (int epoch = 0; epoch < 10; epoch++)
        {
            it.StartEpoch();
            while (it.Next(x, y, out _)) { }
        }
        int batches = 0, partial = 0;
        void Epoch()
        {
            it.StartEpoch();
            while (it.Next(x, y, out int count)) { batches++; if (count != 64) partial++; } // no Assert inside: it allocates
        }
        Assert.Equal(0, AllocationProbe.QuietestWindow(Epoch, 5));
        Assert.Equal(0, partial);
        Assert.Equal(0, batches % (1797 / 64));
        Assert.True(batches >= 5 * (1797 / 64));
    }

    [Fact]
    public void UnshuffledIteratorKeepsDatasetOrderAndChecksBuffers()
    {
        var it = new MinibatchIterator(DigitsData, batchSize: 1000, seed: 0, shuffle: false);
        var x = new float[1000 * 64];
        var y = new int[1000];
        it.StartEpoch();
        Assert.True(it.Next(x, y, out int n));
        Assert.Equal(1000, n);
        Assert.Equal(DigitsData.Labels[..1000], y);
        Assert.True(it.Next(x, y, out n));
        Assert.Equal(797, n);
        Assert.False(it.Next(x, y, out n));
        Assert.Throws<ArgumentException>(() => it.Next(new float[10], y, out _));
        Assert.Throws<ArgumentException>(() => new MinibatchIterator(DigitsData, 0, 0));
    }
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SamplesInGivesTheCountsNextReturns(bool dropLast)
    {
        var it = new MinibatchIterator(DigitsData, batchSize: 500, seed: 1, dropLast: dropLast);
        var x = new float[500 * 64];
        var y = new int[500];
        it.StartEpoch();
        int b = 0;
        while (it.Next(x, y, out int n)) Assert.Equal(n, it.SamplesIn(b++));
        Assert.Equal(it.BatchesPerEpoch, b);
        Assert.Throws<ArgumentOutOfRangeException>(() => it.SamplesIn(b));
        Assert.Throws<ArgumentOutOfRangeException>(() => it.SamplesIn(-1));
    }
}
