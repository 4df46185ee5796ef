using Lora.Core.Lora;
using Lora.Core.Modules;
using MathNet.Numerics.LinearAlgebra;

namespace Lora.Tests.Core.Lora;

public class LoraMathTests
{
    const double Eps = 1.0 / (1 << 24);

    static float[] Rand(int n, ulong seed, double std = 1)
    {
        var a = new float[n];
        new SeededRandom(seed).FillGaussian(a, std);
        return a;
    }

    [Fact]
    public void MergeAddsScaledProductAndUnmergeRestoresWithinBound()
    {
        int d = 13, k = 17, r = 3;
        float s = 2.5f;
        var w0 = Rand(d * k, 1); var a = Rand(r * k, 2); var b = Rand(d * r, 3);
        var w = (float[])w0.Clone();
        LoraMath.AddDelta(w, d, k, r, s, a, b, +1);
        for (int i = 0; i < d; i++)
            for (int c = 0; c < k; c++)
            {
                double exact = w0[i * k + c], mag = Math.Abs(w0[i * k + c]);
                for (int j = 0; j < r; j++) { exact += s * (double)b[i * r + j] * a[j * k + c]; mag += s * Math.Abs((double)b[i * r + j] * a[j * k + c]); }
                double bound = (r + 2) * Eps * mag;
                Assert.True(Math.Abs(w[i * k + c] - exact) <= bound, $"merge ({i},{c})");
            }
        LoraMath.AddDelta(w, d, k, r, s, a, b, -1);
        for (int i = 0; i < d; i++)
            for (int c = 0; c < k; c++)
            {
                double mag = Math.Abs(w0[i * k + c]);
                for (int j = 0; j < r; j++) mag += s * Math.Abs((double)b[i * r + j] * a[j * k + c]);
                Assert.True(Math.Abs(w[i * k + c] - w0[i * k + c]) <= 2 * (r + 2) * Eps * mag, $"unmerge ({i},{c})");
            }
    }

    [Fact]
    public void PissaSplitsWIntoPrincipalPartAndResidual()
    {
        int d = 24, k = 20, r = 4;
        float s = 0.5f;
        // A spectrum with a gap after r so the principal part is well defined.
        var rng = new SeededRandom(5);
        var u = Matrix<double>.Build.Dense(d, d, (_, _) => rng.NextGaussian()).QR().Q;
        var v = Matrix<double>.Build.Dense(k, k, (_, _) => rng.NextGaussian()).QR().Q;
        var sig = Matrix<double>.Build.Dense(d, k);
        for (int i = 0; i < k; i++) sig[i, i] = i < r ? 4.0 - i * 0.5 : 0.3 / (i + 1);
        var wd = u * sig * v.Transpose();
        var w = new float[d * k];
        for (int i = 0; i < d; i++) for (int c = 0; c < k; c++) w[i * k + c] = (float)wd[i, c];
        var w0 = (float[])w.Clone();
        var a = new float[r * k]; var b = new float[d * r];
        LoraMath.PissaInit(w, d, k, r, s, seed: 3, iterations: 16, a, b);

        var A = Matrix<double>.Build.Dense(r, k, (i, c) => a[i * k + c]);
        var B = Matrix<double>.Build.Dense(d, r, (i, j) => b[i * r + j]);
        var W0 = Matrix<double>.Build.Dense(d, k, (i, c) => w0[i * k + c]);
        var Wres = Matrix<double>.Build.Dense(d, k, (i, c) => w[i * k + c]);
        var svd = W0.Svd();
        double s1 = svd.S[0];
        // 1) residual + s·B·A reproduces W (the model output is unchanged) up to float rounding of the GEMM.
        Assert.True((Wres + s * B * A - W0).FrobeniusNorm() <= 50 * Eps * s1 * Math.Sqrt(d * k));
        // 2) s·B·A is the best rank-r approximation; 3) the residual keeps the tail singular values.
        var best = svd.U.SubMatrix(0, d, 0, r) * Matrix<double>.Build.DenseOfDiagonalArray(svd.S.Take(r).ToArray()) * svd.VT.SubMatrix(0, r, 0, k);
        Assert.True((s * B * A - best).FrobeniusNorm() <= 1e-4 * s1);
        var resS = Wres.Svd(false).S;
        Assert.Equal(svd.S[r], resS[0], 1e-4 * s1);
        // 4) A's rows are orthogonal with norms² = σ_j/s; B's columns likewise: A = √S·Vᵀ/√s, B = U·√S/√s.
        var aat = A * A.Transpose();
        var btb = B.Transpose() * B;
        for (int i = 0; i < r; i++)
            for (int j = 0; j < r; j++)
            {
                double expected = i == j ? svd.S[i] / s : 0;
                Assert.Equal(expected, aat[i, j], 1e-4 * s1 / s);
                Assert.Equal(expected, btb[i, j], 1e-4 * s1 / s);
            }
    }

    [Fact]
    public void ConcatenationIsTheWeightedSumOfDeltas()
    {
        int d = 9, k = 11;
        var ad1 = (A: Rand(2 * k, 1), B: Rand(d * 2, 2), Rank: 2, Scale: 2f, Weight: 0.7f);
        var ad2 = (A: Rand(3 * k, 3), B: Rand(d * 3, 4), Rank: 3, Scale: 0.5f, Weight: -1.5f);
        var (a, b, rank) = LoraMath.Concatenate(d, k, [ad1, ad2]);
        Assert.Equal(5, rank);
        var combined = new float[d * k];
        LoraMath.AddDelta(combined, d, k, rank, 1f, a, b, +1);
        for (int i = 0; i < d; i++)
            for (int c = 0; c < k; c++)
            {
                double exact = 0, mag = 0;
                foreach (var ad in new[] { ad1, ad2 })
                    for (int j = 0; j < ad.Rank; j++)
                    {
                        double t = (double)ad.Weight * ad.Scale * ad.B[i * ad.Rank + j] * ad.A[j * k + c];
                        exact += t; mag += Math.Abs(t);
                    }
                // one rounding when B is scaled, plus the GEMM's (rank + 1) roundings
                Assert.True(Math.Abs(combined[i * k + c] - exact) <= (rank + 3) * Eps * mag + 1e-30, $"({i},{c})");
            }
        Assert.Throws<ArgumentException>(() => LoraMath.Concatenate(d, k, []));
        Assert.Throws<ArgumentException>(() => LoraMath.Concatenate(d, k, [(new float[3], new float[d], 1, 1f, 1f)]));
    }

    [Fact]
    public void ReportArithmetic()
    {
        var rep = new LoraReport { WrappedModules = ["layers.0"], TrainableParameters = 100, TotalParameters = 1100, BaseParameters = 1000 };
        Assert.Equal(100.0 * 100 / 1100, rep.TrainablePercent, 12);
        Assert.Equal(100 * 16, rep.TrainableStateBytes);
        Assert.Equal(1000 * 16, rep.FullFineTuningStateBytes);
        Assert.Equal(0.1, rep.StateRatio, 12);
        Assert.Contains("layers.0", rep.ToString());
    }
}
