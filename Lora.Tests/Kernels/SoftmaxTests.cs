using Lora.Kernels;
using static Lora.Tests.Kernels.KernelTestData;

namespace Lora.Tests.Kernels;

public class SoftmaxTests
{
    public static TheoryData<int> Lengths => LengthData();

    static double[] RefSoftmax(float[] x, int rows, int cols, out double[] lse)
    {
        var p = new double[x.Length];
        lse = new double[rows];
        for (int i = 0; i < rows; i++)
        {
            double m = double.NegativeInfinity;
            for (int j = 0; j < cols; j++) m = Math.Max(m, x[i * cols + j]);
            double s = 0;
            for (int j = 0; j < cols; j++) s += Math.Exp(x[i * cols + j] - m);
            for (int j = 0; j < cols; j++) p[i * cols + j] = Math.Exp(x[i * cols + j] - m) / s;
            lse[i] = m + Math.Log(s);
        }
        return p;
    }

    /// <summary>
    /// Error model per probability: the rounded shift x − m perturbs the exponent by U·|x − m|, exp adds ≤ 2.5 U,
    /// the row sum adds (cols − 1)·U relative (all terms positive), the reciprocal and the product 2 U: so
    /// |p̂ − p| ≤ p·U·(|x − m| + cols + 6).
    /// </summary>
    [Theory, MemberData(nameof(Lengths))]
    public void SoftmaxRowsMatchDouble(int cols)
    {
        const int rows = 3;
        float[] x = Uniform(rows * cols, -20, 20, cols + 1);
        var y = new float[x.Length];
        var e = RefSoftmax(x, rows, cols, out _);
        double[] Tol()
        {
            var t = new double[x.Length];
            for (int i = 0; i < rows; i++)
            {
                double m = cols == 0 ? 0 : Enumerable.Range(0, cols).Max(j => (double)x[i * cols + j]);
                for (int j = 0; j < cols; j++) t[i * cols + j] = e[i * cols + j] * U * (Math.Abs(x[i * cols + j] - m) + cols + 6);
            }
            return t;
        }
        double[] tol = Tol(); // before the in-place call overwrites x
        Softmax.Forward(rows, cols, x, y); Close(y, e, tol, "softmax");
        Softmax.ForwardScalar(rows, cols, x, y); Close(y, e, tol, "softmax.scalar");
        Softmax.Forward(rows, cols, x, x); Close(x.ToArray(), e, tol, "softmax.inPlace");
    }

    [Theory, MemberData(nameof(Lengths))]
    public void CrossEntropyMatchesDoubleAndStaysFiniteForHugeLogits(int cols)
    {
        if (cols == 0) return;
        const int rows = 4;
        foreach (double range in new[] { 5.0, 1e4 })
        {
            float[] x = Uniform(rows * cols, -range, range, cols + (int)range);
            int[] labels = Enumerable.Range(0, rows).Select(i => (i * 7 + 3) % cols).ToArray();
            var probs = new float[x.Length];
            var pe = RefSoftmax(x, rows, cols, out var lse);
            double loss = Enumerable.Range(0, rows).Average(i => lse[i] - x[i * cols + labels[i]]);
            // Per row: s = Σ e^(x − m) ∈ [1, cols] is correct to (cols + 4)·U relative (the exponent's rounding adds
            // at most U·t·e^(−t) ≤ U/e per term), so log s is off by (cols + 4)·U absolute, plus U·log s for the
            // log itself; adding m and subtracting x_label add U·(|lse| + |x_label|) each, once more for safety.
            double tol = Enumerable.Range(0, rows).Average(i =>
                U * ((cols + 4) + Math.Log(cols) + 2 * Math.Abs(lse[i]) + 2 * Math.Abs(x[i * cols + labels[i]])));
            Close(Softmax.CrossEntropyForward(rows, cols, x, labels, probs), loss, tol, $"ce(range {range})");
            Close(Softmax.CrossEntropyForwardScalar(rows, cols, x, labels, probs), loss, tol, $"ce.scalar(range {range})");
            Assert.All(probs, p => Assert.True(float.IsFinite(p)));

            // Backward: dlogits = d0 + scale·(p − onehot): two roundings per element on top of the given probs.
            float[] d0 = Uniform(x.Length, -1, 1, 3), d = (float[])d0.Clone();
            const float scale = 0.25f;
            Softmax.CrossEntropyBackward(rows, cols, probs, labels, scale, d);
            var de = new double[x.Length];
            var dt = new double[x.Length];
            for (int i = 0; i < x.Length; i++)
            {
                double oneHot = labels[i / cols] == i % cols ? 1 : 0;
                de[i] = d0[i] + scale * (probs[i] - oneHot);
                dt[i] = 3 * U * (Math.Abs(d0[i]) + scale * (probs[i] + oneHot));
            }
            Close(d, de, dt, "ce.backward");
        }
    }

    [Fact]
    public void SoftmaxBackwardIsTheJacobianVectorProduct()
    {
        const int rows = 2, cols = 11;
        float[] x = Uniform(rows * cols, -3, 3, 1), dy = Uniform(rows * cols, -1, 1, 2), y = new float[rows * cols];
        Softmax.Forward(rows, cols, x, y);
        var dx = new float[rows * cols];
        Softmax.Backward(rows, cols, y, dy, dx);
        var e = new double[rows * cols];
        var t = new double[rows * cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
            {
                double s = 0, sAbs = 0; // Σ_k ∂y_k/∂x_j · dy_k = y_j·(dy_j − Σ_k y_k dy_k)
                for (int k = 0; k < cols; k++) { s += (double)y[i * cols + k] * dy[i * cols + k]; sAbs += Math.Abs((double)y[i * cols + k] * dy[i * cols + k]); }
                e[i * cols + j] = y[i * cols + j] * (dy[i * cols + j] - s);
                t[i * cols + j] = (cols + 3) * U * y[i * cols + j] * (Math.Abs(dy[i * cols + j]) + sAbs);
            }
        Close(dx, e, t, "softmax.backward");
    }

    [Fact]
    public void CrossEntropyOfAnEmptyBatchIsNaNAsAMeanOfNothing()
    {
        // PyTorch's mean-reduced cross_entropy gives nan on an empty batch, as Mean does here; 0 would read as a
        // perfect loss. The backward over no rows writes nothing.
        Assert.True(float.IsNaN(Softmax.CrossEntropyForward(0, 3, [], [], [])));
        Assert.True(float.IsNaN(Softmax.CrossEntropyForwardScalar(0, 3, [], [], [])));
        Softmax.CrossEntropyBackward(0, 3, [], [], 1f, []);
    }

    [Fact]
    public void LabelsOutOfRangeAreRejectedWithTheirRow()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            Softmax.CrossEntropyForward(2, 3, new float[6], new[] { 0, 3 }, new float[6]));
        Assert.Contains("row 1", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Softmax.CrossEntropyBackward(2, 3, new float[6], new[] { -1, 0 }, 1f, new float[6]));
        Assert.Throws<ArgumentException>(() => Softmax.CrossEntropyForward(2, 3, new float[6], new[] { 0 }, new float[6]));
    }
}
