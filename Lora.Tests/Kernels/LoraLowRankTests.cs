using Lora.Kernels;
using static Lora.Tests.Kernels.LoraOracle;

namespace Lora.Tests.Kernels;

/// <summary>
/// The thin LoRA products (<see cref="LoraLowRank"/>) against double-precision sums, over sizes that run every tail
/// of the register blocking (rows in pairs, rank rows in fours, columns in 8s and 16s). Bound: a sum of m products
/// is within γ(2m + 4)·Σ|terms| (<see cref="LoraOracle.Gamma"/>), plus the same relative error on a scaled or
/// accumulated result.
/// </summary>
public unsafe class LoraLowRankTests
{
    static readonly int[] Ns = [0, 1, 2, 3, 5];
    static readonly int[] Rs = [1, 2, 3, 4, 5, 8, 9];
    static readonly int[] Cs = [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 40];

    [Fact]
    public void DotMatchesTheDoubleSums()
    {
        foreach (int n in Ns)
            foreach (int r in Rs)
                foreach (int c in Cs)
                {
                    float[] x = Random(n * c, 1 + n + c), m = Random(r * c, 2 + r + c);
                    float[] fast = new float[n * r], slow = new float[n * r];
                    Array.Fill(fast, float.NaN); // every element must be written
                    fixed (float* px = x, pm = m, pf = fast, ps = slow)
                    {
                        LoraLowRank.Dot(n, r, c, px, pm, pf);
                        LoraLowRank.DotReference(n, r, c, px, pm, ps);
                    }
                    for (int i = 0; i < n; i++)
                        for (int j = 0; j < r; j++)
                        {
                            double e = 0, abs = 0;
                            for (int p = 0; p < c; p++)
                            {
                                e += (double)x[i * c + p] * m[j * c + p];
                                abs += Math.Abs((double)x[i * c + p] * m[j * c + p]);
                            }
                            double bound = Gamma(c) * abs;
                            foreach (var (v, what) in new[] { (fast[i * r + j], "Dot"), (slow[i * r + j], "DotReference") })
                                Assert.True(Math.Abs(v - e) <= bound, $"{what} n={n} r={r} c={c} [{i}, {j}] = {v:R}, expected {e:R} ± {bound:E2}");
                        }
                }
    }

    [Theory]
    [InlineData(0.5f, 0f)]
    [InlineData(2f, 1f)]
    [InlineData(-1.5f, 0.25f)]
    public void OuterMatchesTheDoubleSums(float s, float beta)
    {
        foreach (int n in Ns)
            foreach (int r in Rs)
                foreach (int c in Cs)
                {
                    float[] u = Random(n * r, 3 + n + r), v = Random(n * c, 4 + c), o0 = Random(r * c, 5 + r);
                    float[] fast = (float[])o0.Clone(), slow = (float[])o0.Clone();
                    if (beta == 0f) Array.Fill(fast, float.NaN); // beta = 0 must not read o
                    fixed (float* pu = u, pv = v, pf = fast, ps = slow)
                    {
                        LoraLowRank.Outer(n, r, c, s, pu, pv, beta, pf);
                        LoraLowRank.OuterReference(n, r, c, s, pu, pv, beta, ps);
                    }
                    for (int j = 0; j < r; j++)
                        for (int p = 0; p < c; p++)
                        {
                            double e = 0, abs = 0;
                            for (int i = 0; i < n; i++)
                            {
                                e += (double)u[i * r + j] * v[i * c + p];
                                abs += Math.Abs((double)u[i * r + j] * v[i * c + p]);
                            }
                            double old = beta == 0f ? 0 : (double)beta * o0[j * c + p];
                            e = s * e + old;
                            double bound = Gamma(n) * (Math.Abs(s) * abs + Math.Abs(old));
                            foreach (var (val, what) in new[] { (fast[j * c + p], "Outer"), (slow[j * c + p], "OuterReference") })
                                Assert.True(Math.Abs(val - e) <= bound, $"{what} n={n} r={r} c={c} s={s} beta={beta} [{j}, {p}] = {val:R}, expected {e:R} ± {bound:E2}");
                        }
                }
    }
    [Theory]
    [InlineData(37, 9, 203)]
    [InlineData(64, 8, 1024)]
    public void OneThreadAndManyThreadsAreBitwiseEqual(int n, int r, int c)
    {
        float[] x = Random(n * c, 11), m = Random(r * c, 12), u = Random(n * r, 13), o0 = Random(r * c, 14);
        (float[] Y, float[] O) Run(int threads)
        {
            float[] y = new float[n * r], o = (float[])o0.Clone();
            long threshold = GemmDriver.MinFlopsPerPart;
            KernelThreads.Count = threads;
            GemmDriver.MinFlopsPerPart = 1 << 10; // split even these shapes
            try
            {
                fixed (float* px = x, pm = m, pu = u, py = y, po = o)
                {
                    LoraLowRank.Dot(n, r, c, px, pm, py);
                    LoraLowRank.Outer(n, r, c, 1.5f, pu, px, 0.5f, po);
                }
                return (y, o);
            }
            finally
            {
                KernelThreads.Reset();
                GemmDriver.MinFlopsPerPart = threshold;
            }
        }
        var one = Run(1);
        foreach (int threads in new[] { 2, 3 })
        {
            var many = Run(threads);
            BitwiseEqual(one.Y, many.Y, $"Dot with {threads} threads");
            BitwiseEqual(one.O, many.O, $"Outer with {threads} threads");
        }
    }
}
