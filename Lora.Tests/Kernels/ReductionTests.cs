using Lora.Kernels;
using static Lora.Tests.Kernels.KernelTestData;

namespace Lora.Tests.Kernels;

public class ReductionTests
{
    public static TheoryData<int> Lengths => LengthData();

    // Recursive summation in any order: |ŝ − s| ≤ (n − 1)·U·Σ|xᵢ| (+ n·U·Σ|xᵢyᵢ| for the products of a dot).
    [Theory, MemberData(nameof(Lengths))]
    public void SumDotAndMaxMatchDouble(int n)
    {
        float[] x = Uniform(n, -1, 3, n + 11), y = Uniform(n, -2, 2, n + 12);
        double s = x.Sum(v => (double)v), sAbs = x.Sum(v => Math.Abs((double)v));
        Close(Reductions.Sum(x), s, Math.Max(n - 1, 0) * U * sAbs, "sum");
        Close(Reductions.SumScalar(x), s, Math.Max(n - 1, 0) * U * sAbs, "sum.scalar");
        double d = x.Select((v, i) => (double)v * y[i]).Sum(), dAbs = x.Select((v, i) => Math.Abs((double)v * y[i])).Sum();
        Close(Reductions.Dot(x, y), d, n * U * dAbs, "dot");
        Close(Reductions.DotScalar(x, y), d, n * U * dAbs, "dot.scalar");
        float max = n == 0 ? float.NegativeInfinity : x.Max();
        Assert.Equal(max, Reductions.Max(x));
        Assert.Equal(max, Reductions.MaxScalar(x));
    }

    [Theory, MemberData(nameof(Lengths))]
    public void MaxPropagatesNaNFromAnyPosition(int n)
    {
        if (n == 0) return;
        foreach (int at in new[] { 0, n / 2, n - 1 })
        {
            float[] x = Uniform(n, -1, 1, n);
            x[at] = float.NaN;
            Assert.True(float.IsNaN(Reductions.Max(x)), $"NaN at {at} of {n}");
            Assert.True(float.IsNaN(Reductions.MaxScalar(x)), $"scalar: NaN at {at} of {n}");
        }
    }

    [Theory]
    [InlineData(0, 4)]
    [InlineData(3, 0)]
    [InlineData(1, 17)]
    [InlineData(5, 9)]
    [InlineData(7, 33)]
    public void RowAndColumnSumsMatchDouble(int rows, int cols)
    {
        float[] x = Uniform(rows * cols, -1, 1, rows + 100 * cols);
        var rs = new float[rows];
        Reductions.RowSums(rows, cols, x, rs);
        for (int i = 0; i < rows; i++)
        {
            var row = x.Skip(i * cols).Take(cols).Select(v => (double)v).ToArray();
            Close(rs[i], row.Sum(), cols * U * row.Sum(Math.Abs), $"rowSum[{i}]");
        }
        float[] start = Uniform(cols, -1, 1, 5);
        foreach (bool scalar in new[] { false, true })
        {
            var cs = (float[])start.Clone();
            if (scalar) Reductions.AddColumnSumsScalar(rows, cols, x, cs); else Reductions.AddColumnSums(rows, cols, x, cs);
            for (int j = 0; j < cols; j++)
            {
                var col = Enumerable.Range(0, rows).Select(i => (double)x[i * cols + j]).Append(start[j]).ToArray();
                Close(cs[j], col.Sum(), rows * U * col.Sum(Math.Abs), $"colSum[{j}]");
            }
        }
        Assert.Throws<ArgumentException>(() => Reductions.AddColumnSums(rows, cols, x, new float[cols + 1]));
    }
}
