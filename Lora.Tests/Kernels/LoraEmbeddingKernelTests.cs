using Lora.Kernels;
using static Lora.Tests.Kernels.KernelTestData;

namespace Lora.Tests.Kernels;

/// <summary>The LoRA embedding kernels and their scalar twins against a double-precision reference.</summary>
/// <remarks>Tolerances: a float sum of m products is within γ_m·Σ|terms| ≈ m·U·Σ|terms| of the exact value; each
/// further rounding (the scale, the add into the gathered row or the existing gradient) adds one U of the magnitudes
/// involved. Each bound below counts those roundings.</remarks>
public class LoraEmbeddingKernelTests
{
    public static TheoryData<int, int, int, int> Shapes => new()
    {
        // num, dim, r, n: n ≤ 16 and larger batches take different GEMM paths; dims around the vector width.
        { 1, 1, 1, 1 }, { 7, 5, 2, 9 }, { 20, 17, 4, 3 }, { 50, 33, 8, 40 }, { 9, 8, 3, 0 }, { 6, 4, 0, 5 }, { 13, 0, 2, 4 },
    };

    sealed record Case(int Num, int Dim, int R, int N, float Scale, float[] T, float[] A, float[] B, int[] Ids, float[] Dy,
        float[] DT0, float[] DA0, float[] DB0);

    static Case Make(int num, int dim, int r, int n, int seed)
    {
        var rng = new Random(seed);
        // Ids concentrated on the lower half of the table with repeats, so some rows/columns stay unused.
        var ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = rng.Next(Math.Max(1, (num + 1) / 2));
        return new Case(num, dim, r, n, 0.75f, Uniform(num * dim, -1, 1, seed + 1), Uniform(r * num, -1, 1, seed + 2),
            Uniform(dim * r, -1, 1, seed + 3), ids, Uniform(n * dim, -1, 1, seed + 4), Uniform(num * dim, -1, 1, seed + 5),
            Uniform(r * num, -1, 1, seed + 6), Uniform(dim * r, -1, 1, seed + 7));
    }

    [Theory, MemberData(nameof(Shapes))]
    public void ForwardMatchesTheReference(int num, int dim, int r, int n)
    {
        var c = Make(num, dim, r, n, 10 + num);
        foreach (bool scalar in new[] { false, true })
            foreach (bool withTable in new[] { true, false })
            {
                var h = new float[n * r];
                var y = new float[n * dim];
                y.AsSpan().Fill(float.NaN); // every element must be written
                var table = withTable ? c.T : [];
                if (scalar) LoraEmbeddingKernels.ForwardScalar(num, dim, r, c.Scale, table, c.A, c.B, c.Ids, h, y);
                else LoraEmbeddingKernels.Forward(num, dim, r, c.Scale, table, c.A, c.B, c.Ids, h, y);
                var e = new double[n * dim];
                var tol = new double[n * dim];
                for (int i = 0; i < n; i++)
                {
                    int id = c.Ids[i];
                    for (int j = 0; j < r; j++) Assert.Equal(c.A[j * num + id], h[i * r + j]); // a gather: exact
                    for (int k = 0; k < dim; k++)
                    {
                        double t = withTable ? c.T[id * dim + k] : 0, sum = 0, mag = 0;
                        for (int j = 0; j < r; j++) { sum += (double)c.A[j * num + id] * c.B[k * r + j]; mag += Math.Abs((double)c.A[j * num + id] * c.B[k * r + j]); }
                        e[i * dim + k] = t + c.Scale * sum;
                        tol[i * dim + k] = (r + 2) * U * (Math.Abs(t) + c.Scale * mag);
                    }
                }
                Close(y, e, tol, $"y (scalar={scalar}, table={withTable})");
            }
    }

    [Theory, MemberData(nameof(Shapes))]
    public void BackwardMatchesTheReferenceAndLeavesUnusedRowsAndColumnsUntouched(int num, int dim, int r, int n)
    {
        var c = Make(num, dim, r, n, 20 + num);
        var h = new float[n * r];
        LoraEmbeddingKernels.ForwardScalar(num, dim, r, c.Scale, c.T, c.A, c.B, c.Ids, h, new float[n * dim]);
        // Reference: exact sums from the initial gradients, with error bounds.
        double[] eT = c.DT0.Select(v => (double)v).ToArray(), tT = new double[num * dim];
        double[] eA = c.DA0.Select(v => (double)v).ToArray(), tA = new double[r * num];
        double[] eB = c.DB0.Select(v => (double)v).ToArray(), tB = c.DB0.Select(v => 2 * U * Math.Abs(v)).ToArray();
        var uses = new int[num];
        foreach (int id in c.Ids) uses[id]++;
        for (int i = 0; i < n; i++)
        {
            int id = c.Ids[i];
            for (int k = 0; k < dim; k++) { eT[id * dim + k] += c.Dy[i * dim + k]; tT[id * dim + k] += uses[id] * U * Math.Abs(c.Dy[i * dim + k]); }
            for (int j = 0; j < r; j++)
            {
                double g = 0, mag = 0;
                for (int k = 0; k < dim; k++) { g += (double)c.Dy[i * dim + k] * c.B[k * r + j]; mag += Math.Abs((double)c.Dy[i * dim + k] * c.B[k * r + j]); }
                eA[j * num + id] += c.Scale * g;
                tA[j * num + id] += (dim + 1 + uses[id]) * U * c.Scale * mag;
            }
        }
        // Each of the uses[id] additions into a row or column rounds once, relative to a partial sum that includes
        // the initial gradient.
        for (int row = 0; row < num; row++)
        {
            for (int k = 0; k < dim; k++) tT[row * dim + k] += uses[row] * U * Math.Abs(c.DT0[row * dim + k]);
            for (int j = 0; j < r; j++) tA[j * num + row] += uses[row] * U * Math.Abs(c.DA0[j * num + row]);
        }
        for (int k = 0; k < dim; k++)
            for (int j = 0; j < r; j++)
            {
                double s = 0, mag = 0;
                for (int i = 0; i < n; i++) { s += (double)c.Dy[i * dim + k] * h[i * r + j]; mag += Math.Abs((double)c.Dy[i * dim + k] * h[i * r + j]); }
                eB[k * r + j] += c.Scale * s;
                tB[k * r + j] += (n + 2) * U * c.Scale * mag;
            }
        foreach (bool scalar in new[] { false, true })
        {
            float[] dT = (float[])c.DT0.Clone(), dA = (float[])c.DA0.Clone(), dB = (float[])c.DB0.Clone(), g = new float[n * r];
            if (scalar) LoraEmbeddingKernels.BackwardScalar(num, dim, r, c.Scale, c.B, c.Ids, h, c.Dy, g, dT, dA, dB);
            else LoraEmbeddingKernels.Backward(num, dim, r, c.Scale, c.B, c.Ids, h, c.Dy, g, dT, dA, dB);
            Close(dT, eT, tT, $"dT (scalar={scalar})");
            Close(dA, eA, tA, $"dA (scalar={scalar})");
            Close(dB, eB, tB, $"dB (scalar={scalar})");
            for (int row = 0; row < num; row++)
            {
                if (uses[row] > 0) continue;
                for (int k = 0; k < dim; k++) Assert.Equal(c.DT0[row * dim + k], dT[row * dim + k]); // bitwise
                for (int j = 0; j < r; j++) Assert.Equal(c.DA0[j * num + row], dA[j * num + row]);
            }
        }
    }

    [Fact]
    public void EmptyGradientsAreSkipped()
    {
        var c = Make(8, 6, 3, 5, 3);
        var h = new float[5 * 3];
        LoraEmbeddingKernels.Forward(8, 6, 3, c.Scale, c.T, c.A, c.B, c.Ids, h, new float[5 * 6]);
        float[] dA = (float[])c.DA0.Clone(), dB = (float[])c.DB0.Clone(), dA2 = (float[])c.DA0.Clone(), dB2 = (float[])c.DB0.Clone();
        // Only dB: no scratch needed, dA untouched; only dA: dB untouched. Each equals its part of the full call.
        LoraEmbeddingKernels.Backward(8, 6, 3, c.Scale, c.B, c.Ids, h, c.Dy, default, default, default, dB);
        LoraEmbeddingKernels.Backward(8, 6, 3, c.Scale, c.B, c.Ids, h, c.Dy, new float[15], default, dA, default);
        LoraEmbeddingKernels.Backward(8, 6, 3, c.Scale, c.B, c.Ids, h, c.Dy, new float[15], new float[48], dA2, dB2);
        Assert.Equal(dA2, dA);
        Assert.Equal(dB2, dB);
    }

    [Fact]
    public void BadArgumentsAreRejected()
    {
        var c = Make(8, 6, 3, 5, 4);
        var h = new float[15];
        var y = new float[30];
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => LoraEmbeddingKernels.Forward(8, 6, 3, 1f, c.T, c.A, c.B, new[] { 0, 1, 8, 2, 3 }, h, y));
        Assert.Contains("position 2", e.Message);
        Assert.Throws<ArgumentException>(() => LoraEmbeddingKernels.Forward(8, 6, 3, 1f, c.T, c.A.AsSpan(1), c.B, c.Ids, h, y));
        Assert.Throws<ArgumentException>(() => LoraEmbeddingKernels.Forward(8, 6, 3, 1f, c.T, c.A, c.B, c.Ids, h, new float[29]));
        Assert.Throws<ArgumentException>(() => LoraEmbeddingKernels.Forward(8, 6, 3, 1f, c.T.AsSpan(6), c.A, c.B, c.Ids, h, y));
        Assert.Throws<ArgumentException>(() => LoraEmbeddingKernels.Backward(8, 6, 3, 1f, c.B, c.Ids, h, c.Dy, new float[14], default, new float[24], default));
        Assert.Throws<ArgumentException>(() => LoraEmbeddingKernels.BackwardScalar(8, 6, 3, 1f, c.B, c.Ids, h, c.Dy.AsSpan(1), h, default, default, new float[18]));
        Assert.Throws<ArgumentOutOfRangeException>(() => LoraEmbeddingKernels.Backward(8, 6, 3, 1f, c.B, new[] { -1, 0, 0, 0, 0 }, h, c.Dy, h, default, default, new float[18]));
    }
}
