using Lora.Kernels;
using static Lora.Tests.Kernels.LoraOracle;

namespace Lora.Tests.Kernels;

/// <summary>
/// The thin LoRA products (<see cref="LoraLowRank"/>) against double-precision sums, over sizes that run every tail
/// of the register blocking (rows in threes, pairs and ones, rank rows in fours and eights, columns in 8s, 12s, 24s
/// and the AVX-512 tile's 32s, and more rows than one 128-row strip of <see cref="LoraLowRank.Outer"/>). Bound: a sum of m products
/// is within γ(2m + 4)·Σ|terms| (<see cref="LoraOracle.Gamma"/>), plus the same relative error on a scaled or
/// accumulated result.
/// </summary>
[Collection(nameof(MacroKernelSwitches))]
public unsafe class LoraLowRankTests
{
    static readonly int[] Ns = [0, 1, 2, 3, 5, 131];
    static readonly int[] Rs = [1, 2, 3, 4, 5, 8, 9];
    static readonly int[] Cs = [0, 1, 7, 8, 9, 12, 15, 16, 17, 23, 24, 25, 31, 32, 33, 40, 48, 50, 64, 97];

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
    [InlineData(0.5f, 0f, false)]
    [InlineData(2f, 1f, false)]
    [InlineData(-1.5f, 0.25f, false)]
    [InlineData(0.5f, 0f, true)]
    [InlineData(2f, 1f, true)]
    [InlineData(-1.5f, 0.25f, true)]
    public void OuterMatchesTheDoubleSums(float s, float beta, bool transposed)
    {
        foreach (int n in Ns)
            foreach (int r in Rs)
                foreach (int c in Cs)
                {
                    if (transposed && r > 8) continue;
                    float[] u = Random(n * r, 3 + n + r), v = Random(n * c, 4 + c), o0 = Random(r * c, 5 + r);
                    float[] fast = (float[])o0.Clone(), slow = (float[])o0.Clone();
                    if (beta == 0f) Array.Fill(fast, float.NaN); // beta = 0 must not read o
                    fixed (float* pu = u, pv = v, pf = fast, ps = slow)
                    {
                        if (transposed)
                        {
                            LoraLowRank.OuterTransposed(n, r, c, s, pu, pv, beta, pf);
                            LoraLowRank.OuterTransposedReference(n, r, c, s, pu, pv, beta, ps);
                        }
                        else
                        {
                            LoraLowRank.Outer(n, r, c, s, pu, pv, beta, pf);
                            LoraLowRank.OuterReference(n, r, c, s, pu, pv, beta, ps);
                        }
                    }
                    string name = transposed ? "OuterTransposed" : "Outer";
                    for (int j = 0; j < r; j++)
                        for (int p = 0; p < c; p++)
                        {
                            double e = 0, abs = 0;
                            for (int i = 0; i < n; i++)
                            {
                                e += (double)u[i * r + j] * v[i * c + p];
                                abs += Math.Abs((double)u[i * r + j] * v[i * c + p]);
                            }
                            int at = transposed ? p * r + j : j * c + p;
                            double old = beta == 0f ? 0 : (double)beta * o0[at];
                            e = s * e + old;
                            double bound = Gamma(n) * (Math.Abs(s) * abs + Math.Abs(old));
                            foreach (var (val, what) in new[] { (fast[at], name), (slow[at], name + "Reference") })
                                Assert.True(Math.Abs(val - e) <= bound, $"{what} n={n} r={r} c={c} s={s} beta={beta} [{j}, {p}] = {val:R}, expected {e:R} ± {bound:E2}");
                        }
                }
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(1f)]
    [InlineData(0.75f)]
    public void OuterTransposedIsOuterTransposedBitForBit(float beta)
    {
        // The documented promise: the same chain per element, so LoRA's dB is the same whichever kernel forms it.
        foreach (int n in new[] { 1, 7, 130 })
            foreach (int r in new[] { 1, 3, 8 })
                foreach (int c in new[] { 5, 12, 37, 100 })
                {
                    float[] u = Random(n * r, 21 + n), v = Random(n * c, 22 + c), o = Random(r * c, 23 + r), ot = new float[c * r];
                    for (int j = 0; j < r; j++)
                        for (int p = 0; p < c; p++) ot[p * r + j] = o[j * c + p];
                    fixed (float* pu = u, pv = v, po = o, pt = ot)
                    {
                        LoraLowRank.Outer(n, r, c, 1.25f, pu, pv, beta, po);
                        LoraLowRank.OuterTransposed(n, r, c, 1.25f, pu, pv, beta, pt);
                    }
                    for (int j = 0; j < r; j++)
                        for (int p = 0; p < c; p++)
                            Assert.True(BitConverter.SingleToInt32Bits(o[j * c + p]) == BitConverter.SingleToInt32Bits(ot[p * r + j]),
                                $"n={n} r={r} c={c} beta={beta} [{j}, {p}]: Outer {o[j * c + p]:R}, OuterTransposed {ot[p * r + j]:R}");
                }
    }

    [Theory]
    [InlineData(37, 9, 203)]
    [InlineData(64, 8, 1024)]
    [InlineData(200, 8, 301)]
    public void OneThreadAndManyThreadsAreBitwiseEqual(int n, int r, int c)
    {
        float[] x = Random(n * c, 11), m = Random(r * c, 12), u = Random(n * r, 13), o0 = Random(r * c, 14);
        (float[] Y, float[] O, float[] T) Run(int threads)
        {
            float[] y = new float[n * r], o = (float[])o0.Clone(), ot = (float[])o0.Clone();
            long threshold = GemmDriver.MinFlopsPerPart;
            KernelThreads.Count = threads;
            GemmDriver.MinFlopsPerPart = 1 << 10; // split even these shapes
            try
            {
                fixed (float* px = x, pm = m, pu = u, py = y, po = o, pt = ot)
                {
                    LoraLowRank.Dot(n, r, c, px, pm, py);
                    LoraLowRank.Outer(n, r, c, 1.5f, pu, px, 0.5f, po);
                    if (r <= 8) LoraLowRank.OuterTransposed(n, r, c, 1.5f, pu, px, 0.5f, pt);
                }
                return (y, o, ot);
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
            BitwiseEqual(one.T, many.T, $"OuterTransposed with {threads} threads");
        }
    }

    [Theory]
    [InlineData(0f, 1)]
    [InlineData(1f, 1)]
    [InlineData(0.75f, 1)]
    [InlineData(0.75f, 2)]
    public void TheAvx512TileGivesTheAvx2TilesBits(float beta, int threads)
    {
        // The 8×32 tile keeps each element's chain, so the AVX-512 path must give the AVX2 path's bits: every
        // partial group of rank rows (r mod 8), columns left to the AVX2 tiles (c mod 32), and the transposed form's
        // turn into and out of rows. Without AVX-512 both runs take the AVX2 path and the test only checks the switch.
        Assert.Equal(MicroKernel.UseAvx512, LoraLowRank.Wide);
        foreach (int n in new[] { 1, 7, 33, 131 })
            foreach (int r in new[] { 1, 3, 4, 5, 8, 9, 16 })
                foreach (int c in new[] { 32, 33, 64, 100, 784 })
                {
                    float[] u = Random(n * r, 31 + n + r), v = Random(n * c, 32 + c), o0 = Random(r * c, 33 + r);
                    (float[] O, float[] T) Run(bool wide)
                    {
                        float[] o = (float[])o0.Clone(), ot = (float[])o0.Clone();
                        long threshold = GemmDriver.MinFlopsPerPart;
                        MacroKernelSwitches.WithLowRankWide(wide, () =>
                        {
                            KernelThreads.Count = threads;
                            GemmDriver.MinFlopsPerPart = 1 << 10;
                            try
                            {
                                fixed (float* pu = u, pv = v, po = o, pt = ot)
                                {
                                    LoraLowRank.Outer(n, r, c, -1.25f, pu, pv, beta, po);
                                    if (r <= 8) LoraLowRank.OuterTransposed(n, r, c, -1.25f, pu, pv, beta, pt);
                                }
                            }
                            finally
                            {
                                KernelThreads.Reset();
                                GemmDriver.MinFlopsPerPart = threshold;
                            }
                        });
                        return (o, ot);
                    }
                    var on = Run(true);
                    var off = Run(false);
                    BitwiseEqual(off.O, on.O, $"Outer n={n} r={r} c={c} beta={beta} threads={threads}");
                    BitwiseEqual(off.T, on.T, $"OuterTransposed n={n} r={r} c={c} beta={beta} threads={threads}");
                }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void TheAvx512DotGivesTheAvx2DotsBits(int threads)
    {
        // The paired tile holds two of Dot's 8-lane chains per zmm, so it must give Dot's bits: x rows in sixes and
        // ones, rank rows in fours with r mod 4 left over, column tails below 8.
        foreach (int n in new[] { 1, 5, 6, 7, 13, 131 })
            foreach (int r in new[] { 1, 3, 4, 5, 8, 9, 16 })
                foreach (int c in new[] { 7, 8, 9, 31, 100, 784 })
                {
                    float[] x = Random(n * c, 41 + n + c), m = Random(r * c, 42 + r + c);
                    float[] Run(bool wide)
                    {
                        float[] y = new float[n * r];
                        long threshold = GemmDriver.MinFlopsPerPart;
                        MacroKernelSwitches.WithLowRankWide(wide, () =>
                        {
                            KernelThreads.Count = threads;
                            GemmDriver.MinFlopsPerPart = 1 << 10;
                            try { fixed (float* px = x, pm = m, py = y) LoraLowRank.Dot(n, r, c, px, pm, py); }
                            finally
                            {
                                KernelThreads.Reset();
                                GemmDriver.MinFlopsPerPart = threshold;
                            }
                        });
                        return y;
                    }
                    BitwiseEqual(Run(false), Run(true), $"Dot n={n} r={r} c={c} threads={threads}");
                }
    }
}
