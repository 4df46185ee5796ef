using System.Text;
using Lora.Core.Data;
using Lora.Core.IO;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;
using Lora.Tests.Core.IO;

namespace Lora.Tests.Core.Data;

/// <summary>Data loader inputs a user can hand the library by mistake that used to give wrong counts, a misleading
/// message, or an empty dataset instead of an error.</summary>
public class DataMisuseTests
{
    static Dataset Ten() => new("ten", Enumerable.Range(0, 20).Select(i => (float)i).ToArray(), [0, 1, 0, 1, 0, 1, 0, 1, 0, 1], 2, 2);

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(int.MaxValue - 5)] // Count + BatchSize − 1 overflowed to a negative count: zero batches per epoch
    [InlineData(11)]
    public void ABatchLargerThanTheSetIsOneBatchOfEverySample(int batchSize)
    {
        var it = new MinibatchIterator(Ten(), batchSize, seed: 1);
        Assert.Equal(1, it.BatchesPerEpoch);
        Assert.Equal(10, it.SamplesIn(0));
        var dropping = new MinibatchIterator(Ten(), batchSize, seed: 1, dropLast: true);
        Assert.Equal(0, dropping.BatchesPerEpoch);
    }

    [Fact]
    public void ABatchBeyondTheSetNeedsBuffersForTheSetOnly()
    {
        var it = new MinibatchIterator(Ten(), int.MaxValue, seed: 3);
        Assert.Equal(10, it.LargestBatch);
        it.StartEpoch();
        var labels = new int[10];
        Assert.True(it.Next(new float[20], labels, out int count));
        Assert.Equal(10, count);
        Assert.Equal(Ten().Labels.Order(), labels.Order());
        Assert.False(it.Next(new float[20], labels, out _));
        Assert.Throws<ArgumentException>(() => new MinibatchIterator(Ten(), 4, seed: 3).Next(new float[7], new int[4], out _));
    }

    [Fact]
    public void TrainingWithABatchSizeBeyondTheSetIsFullBatchTraining()
    {
        // Fit sized its buffers by BatchSize: 2^31 − 1 overflowed (and 10^8 would have allocated gigabytes) for 40 samples.
        float[] Fit(int batchSize)
        {
            var model = new Mlp([3, 5, 2], ActivationKind.Tanh, seed: 7);
            var opt = TrainableSlots.AdamW(model, LearningRateSchedule.Constant(1e-2));
            new Trainer(model, opt, new TrainerOptions { Epochs = 2, BatchSize = batchSize, Seed = 5 })
                .Fit(global::Lora.Tests.Core.Training.TrainingTestData.Gaussian(40, 3, 2, 9, shift: 1));
            return model.Parameters().SelectMany(p => p.ToArray()).ToArray();
        }
        var full = Fit(40);
        Assert.Equal(full, Fit(int.MaxValue));
        Assert.Equal(full, Fit(100_000_000));
    }

    [Theory]
    [InlineData(3, false, 4, 1)]
    [InlineData(3, true, 3, 3)]
    [InlineData(5, false, 2, 5)]
    [InlineData(10, true, 1, 10)]
    public void BatchCountsFollowDropLast(int batchSize, bool dropLast, int batches, int lastSize)
    {
        var it = new MinibatchIterator(Ten(), batchSize, seed: 1, dropLast: dropLast);
        Assert.Equal(batches, it.BatchesPerEpoch);
        Assert.Equal(lastSize, it.SamplesIn(batches - 1));
        it.StartEpoch();
        int seen = 0, count;
        var f = new float[batchSize * 2];
        var l = new int[batchSize];
        while (it.Next(f, l, out count)) seen++;
        Assert.Equal(batches, seen);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n\n")]
    public void DigitsTextWithoutSamplesIsAnError(string text)
    {
        var e = Assert.Throws<InvalidDataException>(() => Digits.Parse(new StringReader(text), "my-digits.csv"));
        Assert.StartsWith("my-digits.csv: no samples", e.Message);
    }

    [Fact]
    public void AByteOrderMarkIsNotText()
    {
        using var dir = new TempDir();
        string path = dir.File("bom.txt");
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("ab")]);
        var corpus = TextCorpus.Load(path);
        Assert.Equal(CharVocabulary.Default.Encode("ab"), corpus.Ids);
        Assert.Equal(0, corpus.UnknownFraction);
    }

    [Fact]
    public void AnIdxPathThatIsADirectorySaysSo()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => Idx.ReadLabels(dir.PathName));
        Assert.Contains("is a directory", e.Message);
        string file = dir.File("labels");
        File.WriteAllBytes(file, [0, 0, 8, 1, 0, 0, 0, 0]);
        Assert.Contains("is a file", Assert.Throws<DirectoryNotFoundException>(() => Idx.LoadDirectory(file)).Message);
        Assert.Contains("no such directory", Assert.Throws<DirectoryNotFoundException>(() => Idx.LoadDirectory(dir.File("none"))).Message);
    }

    [Theory]
    [InlineData(46341, 2)]  // V² > 2^31 − 1: the row count wrapped to a small positive or negative int
    [InlineData(100000, 3)]
    [InlineData(0, 1)]
    public void NgramTablesTooLargeForAnIntOrEmptyVocabulariesAreRefused(int vocabulary, int orders)
    {
        Assert.Throws<ArgumentException>(() => NgramContexts.MinimumRows(vocabulary, orders));
    }

    [Fact]
    public void NgramMinimumRowsIsExactBelowTheLimit()
    {
        Assert.Equal(46340 + 46340L * 46340 + 1, NgramContexts.MinimumRows(46340, 3));
        Assert.Equal(39, NgramContexts.MinimumRows(39, 1));
    }

    [Theory]
    [InlineData(10)]
    [InlineData(-1)]
    public void ASampleOutsideTheSetNamesTheIndexAndTheCount(int index)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Ten().Sample(index).Length);
        Assert.Contains($"sample {index} is outside [0, 10)", e.Message);
    }
}
