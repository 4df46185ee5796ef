using Lora.Kernels;
using static Lora.Tests.Kernels.KernelTestData;

namespace Lora.Tests.Kernels;

public class EmbeddingDropoutTests
{
    public static TheoryData<int> Lengths => LengthData();

    [Fact]
    public void EmbeddingGathersRowsAndScatterAddsRepeatedIds()
    {
        const int vocab = 5, dim = 11;
        float[] table = Uniform(vocab * dim, -1, 1, 1);
        int[] ids = [3, 0, 3, 4, 3];
        var y = new float[ids.Length * dim];
        EmbeddingKernels.Gather(vocab, dim, table, ids, y);
        for (int i = 0; i < ids.Length; i++) Assert.Equal(table.AsSpan(ids[i] * dim, dim).ToArray(), y.AsSpan(i * dim, dim).ToArray());
        float[] dy = Uniform(y.Length, -1, 1, 2), dt = new float[table.Length];
        EmbeddingKernels.ScatterAdd(vocab, dim, dy, ids, dt);
        double[] e = new double[table.Length], t = new double[table.Length];
        for (int i = 0; i < ids.Length; i++)
            for (int j = 0; j < dim; j++) { e[ids[i] * dim + j] += dy[i * dim + j]; t[ids[i] * dim + j] += ids.Length * U * Math.Abs(dy[i * dim + j]); }
        Close(dt, e, t, "scatterAdd");
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => EmbeddingKernels.Gather(vocab, dim, table, new[] { 0, 5 }, new float[2 * dim]));
        Assert.Contains("position 1", ex.Message);
    }

    [Theory, MemberData(nameof(Lengths))]
    public void DropoutVectorAndScalarGiveIdenticalBitsAndAnySplitAgrees(int n)
    {
        const ulong seed = 0xC0FFEE;
        var a = new float[n];
        var b = new float[n];
        DropoutKernels.Mask(seed, 5, 0.3f, a);
        DropoutKernels.MaskScalar(seed, 5, 0.3f, b);
        Assert.Equal(a, b);
        // Two halves generated separately (as two threads would) equal the whole.
        int cut = n / 3;
        var c = new float[n];
        DropoutKernels.Mask(seed, 5 + cut, 0.3f, c.AsSpan(cut));
        DropoutKernels.Mask(seed, 5, 0.3f, c.AsSpan(0, cut));
        Assert.Equal(a, c);
        Assert.All(a, v => Assert.True(v == 0f || v == 1f / 0.7f));
    }

    [Fact]
    public void DropoutKeepsTheRightFractionAndSeedsDiffer()
    {
        const int n = 200_000;
        var m = new float[n];
        foreach (float p in new[] { 0.1f, 0.5f, 0.9f })
        {
            DropoutKernels.Mask(42, 0, p, m);
            int kept = m.Count(v => v != 0f);
            // Binomial(n, 1 − p): 6 standard deviations is a false alarm rate below 1e-8.
            double sd = Math.Sqrt(n * p * (1 - p));
            Assert.InRange(kept, n * (1 - p) - 6 * sd, n * (1 - p) + 6 * sd);
            Assert.Equal(1.0, m.Average(v => (double)v), 6 * sd / n / (1 - p));
        }
        var m2 = new float[n];
        DropoutKernels.Mask(43, 0, 0.5f, m2);
        DropoutKernels.Mask(42, 0, 0.5f, m);
        int same = m.Zip(m2).Count(t => t.First == t.Second);
        Assert.InRange(same, n / 2 - 6 * Math.Sqrt(n / 4.0), n / 2 + 6 * Math.Sqrt(n / 4.0)); // independent seeds agree half the time
        DropoutKernels.Mask(42, 0, 0f, m);
        Assert.All(m, v => Assert.Equal(1f, v));
        DropoutKernels.Mask(42, 0, 1f, m);
        Assert.All(m, v => Assert.Equal(0f, v));
        Assert.Throws<ArgumentException>(() => DropoutKernels.Mask(1, 0, 1.5f, m));
    }
}
