using Lora.Kernels;
using static Lora.Tests.Kernels.KernelTestData;

namespace Lora.Tests.Kernels;

public class EmbeddingDropoutOptimizerTests
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

    [Theory, MemberData(nameof(Lengths))]
    public void AdamWMatchesADoubleReferenceOverSteps(int n)
    {
        float[] p = Uniform(n, -1, 1, n), m = new float[n], v = new float[n];
        double[] pd = p.Select(a => (double)a).ToArray(), md = new double[n], vd = new double[n];
        float[] ps = (float[])p.Clone(), ms = new float[n], vs = new float[n];
        const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.01f;
        for (int t = 1; t <= 5; t++)
        {
            float[] g = Uniform(n, -1, 1, 100 * t + n);
            OptimizerKernels.AdamW(p, g, m, v, lr, b1, b2, eps, wd, t);
            OptimizerKernels.AdamWScalar(ps, g, ms, vs, lr, b1, b2, eps, wd, t);
            for (int i = 0; i < n; i++)
            {
                md[i] = b1 * md[i] + (1 - b1) * g[i];
                vd[i] = b2 * vd[i] + (1 - (double)b2) * g[i] * g[i];
                double mh = md[i] / (1 - Math.Pow(b1, t)), vh = vd[i] / (1 - Math.Pow(b2, t));
                pd[i] = pd[i] * (1 - (double)lr * wd) - lr * mh / (Math.Sqrt(vh) + eps);
            }
        }
        // Each step moves p by at most ~lr·(1 + …); the update's own relative error is ~10 U and the
        // running p carries U·|p| per step: 5 steps · (10·U·lr + 2·U·|p|).
        double[] tol = pd.Select(a => 5 * (10 * U * lr * 3 + 2 * U * (Math.Abs(a) + 0.1))).ToArray();
        Close(p, pd, tol, "adamw");
        Close(ps, pd, tol, "adamw.scalar");
    }

    [Fact]
    public void SgdWithNesterovMomentumMatchesADoubleReference()
    {
        const int n = 19;
        float[] p = Uniform(n, -1, 1, 1), buf = new float[n];
        double[] pd = p.Select(a => (double)a).ToArray(), bd = new double[n];
        const float lr = 0.1f, mu = 0.9f, damp = 0.1f, wd = 0.05f;
        for (int t = 0; t < 4; t++)
        {
            float[] g = Uniform(n, -1, 1, 10 + t);
            OptimizerKernels.Sgd(p, g, buf, lr, mu, damp, wd, nesterov: true, firstStep: t == 0);
            for (int i = 0; i < n; i++)
            {
                double gi = g[i] + (double)wd * pd[i];
                bd[i] = t == 0 ? gi : mu * bd[i] + (1 - (double)damp) * gi;
                pd[i] -= lr * (gi + mu * bd[i]);
            }
        }
        Close(p, pd, pd.Select(a => 4 * 8 * U * (Math.Abs(a) + 1)).ToArray(), "sgd");
    }
}
