using Lora.Core.Lora;
using Lora.Core.Modules;
using MathNet.Numerics.LinearAlgebra;

namespace Lora.Tests.Core.Lora;

/// <summary>The in-library truncated SVD against MathNet's dense SVD in double.</summary>
public class TruncatedSvdTests
{
    /// <summary>W = U·diag(σ)·Vᵀ with random orthonormal U, V and a prescribed spectrum, rounded to float.</summary>
    static (float[] W, Matrix<double> Wd) Designed(int m, int n, Func<int, double> sigma, ulong seed)
    {
        var rng = new SeededRandom(seed);
        var gu = Matrix<double>.Build.Dense(m, m, (_, _) => rng.NextGaussian());
        var gv = Matrix<double>.Build.Dense(n, n, (_, _) => rng.NextGaussian());
        var u = gu.QR().Q; var v = gv.QR().Q;
        var s = Matrix<double>.Build.Dense(m, n);
        for (int i = 0; i < Math.Min(m, n); i++) s[i, i] = sigma(i);
        var w = u * s * v.Transpose();
        var wf = new float[m * n];
        for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) wf[i * n + j] = (float)w[i, j];
        // The reference decomposes exactly the float matrix the library sees.
        var wd = Matrix<double>.Build.Dense(m, n, (i, j) => wf[i * n + j]);
        return (wf, wd);
    }

    static Matrix<double> Projector(float[] rowMajor, int rows, int cols, bool columns)
    {
        var a = Matrix<double>.Build.Dense(rows, cols, (i, j) => rowMajor[i * cols + j]);
        return columns ? a * a.Transpose() : a.Transpose() * a;
    }

    [Theory]
    [InlineData(64, 48, 4)]
    [InlineData(40, 96, 8)]
    [InlineData(120, 120, 16)]
    public void MatchesMathNetOnAGappedSpectrum(int m, int n, int r)
    {
        // σ_i = 0.8^i: the ratio σ_{l+1}/σ_r ≤ 0.8^9 ≈ 0.13 so 16 iterations converge far below float round-off.
        var (w, wd) = Designed(m, n, i => Math.Pow(0.8, i), seed: (ulong)(m * 1000 + n));
        var res = TruncatedSvd.Compute(w, m, n, r, seed: 7);
        var svd = wd.Svd(computeVectors: true);
        double s1 = svd.S[0];
        // Float round-off of the products is about √n·2⁻²⁴·σ₁ ≈ 1e-6·σ₁; allow 20× that.
        double tol = 20 * Math.Sqrt(Math.Max(m, n)) * Math.Pow(2, -24) * s1;
        for (int i = 0; i < r; i++) Assert.True(Math.Abs(res.S[i] - svd.S[i]) <= tol, $"σ{i}: {res.S[i]} vs {svd.S[i]} (tol {tol})");

        // Subspaces: ‖P_U − P_Û‖_F is bounded by (perturbation)/(gap) (Davis–Kahan); gap σ_{r−1} − σ_r = 0.2·σ_{r−1}.
        var uRef = svd.U.SubMatrix(0, m, 0, r); var vRef = svd.VT.SubMatrix(0, r, 0, n);
        double gap = svd.S[r - 1] - svd.S[r];
        double subTol = 4 * tol / gap;
        double du = (Projector(res.U, m, r, columns: true) - uRef * uRef.Transpose()).FrobeniusNorm();
        double dv = (Projector(res.Vt, r, n, columns: false) - vRef.Transpose() * vRef).FrobeniusNorm();
        Assert.True(du <= subTol, $"left subspace distance {du} > {subTol}");
        Assert.True(dv <= subTol, $"right subspace distance {dv} > {subTol}");

        // Orthonormality of the returned vectors, at float precision.
        var ut = Matrix<double>.Build.Dense(m, r, (i, j) => res.U[i * r + j]);
        var vt = Matrix<double>.Build.Dense(r, n, (i, j) => res.Vt[i * n + j]);
        Assert.True((ut.Transpose() * ut - Matrix<double>.Build.DenseIdentity(r)).FrobeniusNorm() < 1e-5);
        Assert.True((vt * vt.Transpose() - Matrix<double>.Build.DenseIdentity(r)).FrobeniusNorm() < 1e-5);
    }

    [Fact]
    public void ResidualIsEckartYoungOptimalOnARandomMatrix()
    {
        // A Gaussian matrix has a nearly flat spectrum, the hard case: singular vectors of close values are
        // ill-defined, but the rank-r residual must still be near the optimum Σ_{i≥r} σ_i² (Eckart–Young).
        int m = 60, n = 50, r = 6;
        var rng = new SeededRandom(3);
        var w = new float[m * n];
        rng.FillGaussian(w, 1.0);
        var wd = Matrix<double>.Build.Dense(m, n, (i, j) => w[i * n + j]);
        var res = TruncatedSvd.Compute(w, m, n, r, seed: 11, iterations: 32);
        var u = Matrix<double>.Build.Dense(m, r, (i, j) => res.U[i * r + j]);
        var vt = Matrix<double>.Build.Dense(r, n, (i, j) => res.Vt[i * n + j]);
        var approx = u * Matrix<double>.Build.DenseOfDiagonalArray(res.S.Select(x => (double)x).ToArray()) * vt;
        double residual = (wd - approx).FrobeniusNorm();
        var s = wd.Svd(false).S;
        double optimal = Math.Sqrt(s.Skip(r).Sum(x => x * x));
        Assert.True(residual >= optimal * (1 - 1e-6), "better than optimal is impossible: the test is broken");
        Assert.True(residual <= optimal * 1.01, $"residual {residual} vs optimal {optimal}");
    }

    [Fact]
    public void RankDeficientMatrixGivesExactZerosAndOrthonormalLeftVectors()
    {
        // W = a·bᵀ has rank 1: σ₀ = ‖a‖‖b‖ and every other σ is 0.
        int m = 20, n = 12;
        var a = Enumerable.Range(0, m).Select(i => (float)(i % 5 - 2)).ToArray();
        var b = Enumerable.Range(0, n).Select(j => (float)(j % 3 + 1)).ToArray();
        var w = new float[m * n];
        for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) w[i * n + j] = a[i] * b[j];
        var res = TruncatedSvd.Compute(w, m, n, 3, seed: 1);
        double expected = Math.Sqrt(a.Sum(x => (double)x * x)) * Math.Sqrt(b.Sum(x => (double)x * x));
        Assert.True(Math.Abs(res.S[0] - expected) <= 1e-5 * expected);
        Assert.True(res.S[1] <= 1e-5 * expected && res.S[2] <= 1e-5 * expected);
        var u = Matrix<double>.Build.Dense(m, 3, (i, j) => res.U[i * 3 + j]);
        Assert.True((u.Transpose() * u - Matrix<double>.Build.DenseIdentity(3)).FrobeniusNorm() < 1e-5);
    }

    [Fact]
    public void SameSeedSameBits()
    {
        var (w, _) = Designed(30, 20, i => 1.0 / (i + 1), 5);
        var x = TruncatedSvd.Compute(w, 30, 20, 4, seed: 9);
        var y = TruncatedSvd.Compute(w, 30, 20, 4, seed: 9);
        Assert.Equal(x.S, y.S);
        Assert.Equal(x.U, y.U);
        Assert.Equal(x.Vt, y.Vt);
    }

    [Fact]
    public void BadArgumentsThrow()
    {
        var w = new float[12];
        Assert.Throws<ArgumentException>(() => TruncatedSvd.Compute(w, 3, 4, 0, 1));
        Assert.Contains("rank 4", Assert.Throws<ArgumentException>(() => TruncatedSvd.Compute(w, 3, 4, 4, 1)).Message);
        Assert.Throws<ArgumentException>(() => TruncatedSvd.Compute(w, 3, 5, 1, 1));
        Assert.Throws<ArgumentException>(() => TruncatedSvd.Compute(w, 3, 4, 1, 1, iterations: -1));
    }
}
