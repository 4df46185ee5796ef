using Lora.Core.Modules;

namespace Lora.Tests.Core.Modules;

public class SeededRandomTests
{
    [Fact]
    public void SameSeedSameSequenceDifferentSeedDifferent()
    {
        var a = new SeededRandom(42); var b = new SeededRandom(42); var c = new SeededRandom(43);
        var xa = Enumerable.Range(0, 16).Select(_ => a.NextUInt64()).ToArray();
        Assert.Equal(xa, Enumerable.Range(0, 16).Select(_ => b.NextUInt64()).ToArray());
        Assert.NotEqual(xa, Enumerable.Range(0, 16).Select(_ => c.NextUInt64()).ToArray());
    }

    [Fact]
    public void MomentsAreWithinFiveStandardErrors()
    {
        // n samples: the sample mean of U(0,1) has standard error √(1/12/n); of N(0,1) 1/√n; the variance of N(0,1)
        // has standard error √(2/n). Five standard errors make a false failure a ~1e-6 event.
        const int n = 100_000;
        var r = new SeededRandom(1);
        double su = 0, sg = 0, sg2 = 0;
        for (int i = 0; i < n; i++)
        {
            float u = r.NextSingle();
            Assert.InRange(u, 0f, 1f - 1e-8f);
            su += u;
            double g = r.NextGaussian(); sg += g; sg2 += g * g;
        }
        Assert.InRange(su / n, 0.5 - 5 * Math.Sqrt(1.0 / 12 / n), 0.5 + 5 * Math.Sqrt(1.0 / 12 / n));
        Assert.InRange(sg / n, -5 / Math.Sqrt(n), 5 / Math.Sqrt(n));
        Assert.InRange(sg2 / n, 1 - 5 * Math.Sqrt(2.0 / n), 1 + 5 * Math.Sqrt(2.0 / n));
    }

    [Fact]
    public void NextIntCoversRangeAndShuffleIsAPermutation()
    {
        var r = new SeededRandom(2);
        var seen = new bool[7];
        for (int i = 0; i < 1000; i++) seen[r.NextInt(7)] = true;
        Assert.All(seen, Assert.True);
        var items = Enumerable.Range(0, 50).ToArray();
        r.Shuffle<int>(items);
        Assert.Equal(Enumerable.Range(0, 50), items.Order());
        Assert.NotEqual(Enumerable.Range(0, 50), items);
        Assert.Throws<ArgumentException>(() => r.NextInt(0));
    }
}
