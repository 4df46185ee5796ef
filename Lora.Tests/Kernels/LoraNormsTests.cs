using Lora.Kernels;
using MathNet.Numerics.LinearAlgebra;
using static Lora.Tests.Kernels.KernelTestData;

namespace Lora.Tests.Kernels;

/// <summary>DoRA's row norms ‖W_i + s·(B·A)_i‖ against MathNet in double, with the bound of
/// <see cref="LoraNorms"/>: (k + 4)·ε·‖M_i‖² / n + 2ε·n with M = |W| + s·|B|·|A|.</summary>
public class LoraNormsTests
{
    const double Eps = 1.0 / (1 << 24);

    [Theory]
    [InlineData(0, 5, 3)]
    [InlineData(1, 1, 1)]
    [InlineData(5, 7, 0)]
    [InlineData(31, 17, 3)]
    [InlineData(32, 9, 8)]
    [InlineData(33, 40, 4)]
    [InlineData(70, 33, 8)]
    public void FastAndScalarMatchMathNet(int d, int k, int r)
    {
        const float s = 1.75f;
        float[] w = Uniform(d * k, -1, 1, d + 1), a = Uniform(r * k, -0.5, 0.5, k + 2), b = Uniform(d * r, -0.5, 0.5, r + 3);
        var W = Matrix<double>.Build.Dense(d, k, (i, c) => w[i * k + c]);
        var A = Matrix<double>.Build.Dense(r, k, (i, c) => a[i * k + c]);
        var B = Matrix<double>.Build.Dense(d, r, (i, c) => b[i * r + c]);
        var V = r == 0 ? W : W + s * (B * A);
        var M = r == 0 ? W.PointwiseAbs() : W.PointwiseAbs() + s * (B.PointwiseAbs() * A.PointwiseAbs());
        var expected = new double[d];
        var tol = new double[d];
        var tight = new double[d];
        for (int i = 0; i < d; i++)
        {
            expected[i] = V.Row(i).L2Norm();
            double m = M.Row(i).L2Norm();
            tol[i] = (k + 4) * Eps * m * m / Math.Max(expected[i], 1e-300) + 2 * Eps * expected[i];
            tight[i] = 2 * Eps * expected[i] + 1e-300; // the twin sums in double and rounds once
        }
        var fast = new float[d];
        LoraNorms.RowNorms(d, k, r, s, w, a, b, new float[LoraNorms.ScratchLength(d, r)], fast);
        Close(fast, expected, tol, "RowNorms");
        var scalar = new float[d];
        LoraNorms.RowNormsReference(d, k, r, s, w, a, b, scalar);
        Close(scalar, expected, tight, "RowNormsReference");
    }

    [Fact]
    public void KeptRowSquaresGiveTheSameBitsAndAWrongCountIsRejected()
    {
        const int d = 37, k = 29, r = 5;
        float[] w = Uniform(d * k, -1, 1, 1), a = Uniform(r * k, -0.5, 0.5, 2), b = Uniform(d * r, -0.5, 0.5, 3);
        var squares = new float[d];
        LoraNorms.RowSquares(d, k, w, squares);
        float[] computed = new float[d], kept = new float[d];
        var scratch = new float[LoraNorms.ScratchLength(d, r)];
        LoraNorms.RowNorms(d, k, r, 1.5f, w, a, b, scratch, computed);
        LoraNorms.RowNorms(d, k, r, 1.5f, w, a, b, scratch, kept, squares);
        Assert.Equal(computed, kept);
        var e = Assert.Throws<ArgumentException>(() => LoraNorms.RowNorms(d, k, r, 1.5f, w, a, b, scratch, kept, squares.AsSpan(1)));
        Assert.Contains("rowSquares has 36", e.Message);
    }

    [Fact]
    public void ShortSpansAreRejectedWithTheirShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => LoraNorms.RowNorms(4, 3, 2, 1f, new float[12], new float[5], new float[8], new float[12], new float[4]));
        Assert.Contains("A 5", e.Message);
        e = Assert.Throws<ArgumentException>(() => LoraNorms.RowNorms(4, 3, 2, 1f, new float[12], new float[6], new float[8], new float[11], new float[4]));
        Assert.Contains("scratch", e.Message);
    }

    /// <summary>The transposed case (an embedding table T (k, d)): the same bound, the columns of T + s·(B·A)ᵀ.</summary>
    [Theory]
    [InlineData(0, 5, 3)]
    [InlineData(3, 0, 2)]
    [InlineData(1, 1, 1)]
    [InlineData(5, 7, 0)]
    [InlineData(17, 31, 3)]
    [InlineData(9, 32, 8)]
    [InlineData(40, 33, 4)]
    [InlineData(33, 70, 8)]
    public void ColumnNormsFastAndScalarMatchMathNet(int d, int k, int r)
    {
        const float s = 1.75f;
        float[] t = Uniform(k * d, -1, 1, d + 5), a = Uniform(r * k, -0.5, 0.5, k + 6), b = Uniform(d * r, -0.5, 0.5, r + 7);
        var T = Matrix<double>.Build.Dense(k, d, (j, i) => t[j * d + i]);
        var A = Matrix<double>.Build.Dense(r, k, (i, c) => a[i * k + c]);
        var B = Matrix<double>.Build.Dense(d, r, (i, c) => b[i * r + c]);
        var V = r == 0 ? T : T + s * (B * A).Transpose();
        var M = r == 0 ? T.PointwiseAbs() : T.PointwiseAbs() + s * (B.PointwiseAbs() * A.PointwiseAbs()).Transpose();
        var expected = new double[d];
        var tol = new double[d];
        var tight = new double[d];
        for (int i = 0; i < d; i++)
        {
            expected[i] = V.Column(i).L2Norm();
            double m = M.Column(i).L2Norm();
            tol[i] = (k + 4) * Eps * m * m / Math.Max(expected[i], 1e-300) + 2 * Eps * expected[i] + 1e-300;
            tight[i] = 2 * Eps * expected[i] + 1e-300;
        }
        var fast = new float[d];
        LoraNorms.ColumnNorms(d, k, r, s, t, a, b, new float[LoraNorms.ColumnScratchLength(d, r)], fast);
        Close(fast, expected, tol, "ColumnNorms");
        var scalar = new float[d];
        LoraNorms.ColumnNormsReference(d, k, r, s, t, a, b, scalar);
        Close(scalar, expected, tight, "ColumnNormsReference");
    }

    [Fact]
    public void ColumnNormsRejectShortSpansNamingT()
    {
        var e = Assert.Throws<ArgumentException>(() => LoraNorms.ColumnNorms(4, 3, 2, 1f, new float[11], new float[6], new float[8], new float[20], new float[4]));
        Assert.Contains("ColumnNorms: T has 11", e.Message);
        e = Assert.Throws<ArgumentException>(() => LoraNorms.ColumnNorms(4, 3, 2, 1f, new float[12], new float[6], new float[8], new float[15], new float[4]));
        Assert.Contains("scratch has 15", e.Message);
    }

    [Fact]
    public void KeptColumnSquaresGiveTheSameBitsAndAWrongCountIsRejected()
    {
        const int d = 19, k = 41, r = 4;
        float[] t = Uniform(k * d, -1, 1, 11), a = Uniform(r * k, -0.5, 0.5, 12), b = Uniform(d * r, -0.5, 0.5, 13);
        var squares = new float[d];
        LoraNorms.ColumnSquares(d, k, t, squares);
        float[] computed = new float[d], kept = new float[d];
        var scratch = new float[LoraNorms.ColumnScratchLength(d, r)];
        LoraNorms.ColumnNorms(d, k, r, 1.5f, t, a, b, scratch, computed);
        LoraNorms.ColumnNorms(d, k, r, 1.5f, t, a, b, scratch, kept, squares);
        Assert.Equal(computed, kept);
        var e = Assert.Throws<ArgumentException>(() => LoraNorms.ColumnNorms(d, k, r, 1.5f, t, a, b, scratch, kept, squares.AsSpan(1)));
        Assert.Contains("columnSquares has 18", e.Message);
        Assert.Throws<ArgumentException>(() => LoraNorms.ColumnSquares(d, k, t.AsSpan(1), squares));
    }
}
