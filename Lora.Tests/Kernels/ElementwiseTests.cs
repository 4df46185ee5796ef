using Lora.Kernels;
using static Lora.Tests.Kernels.KernelTestData;

namespace Lora.Tests.Kernels;

public class ElementwiseTests
{
    public static TheoryData<int> Lengths => LengthData();

    // Double references: f and f′ for each activation.
    static double Gelu(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    static double GeluPrime(double x)
    {
        double c = Math.Sqrt(2 / Math.PI), t = Math.Tanh(c * (x + 0.044715 * x * x * x));
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
    }
    static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    delegate void UnaryKernel(ReadOnlySpan<float> x, Span<float> y);

    /// <summary>
    /// Tolerance for y = f(x) from a chain of about k roundings: the inputs to exp are rounded (relative error
    /// ~k·U, so the output moves by |x·f′(x)|·k·U) and the result is rounded a few times (|y|·k·U). k = 8 covers the
    /// ~6 float operations in the longest body (GELU) plus exp's own error of up to 2.5 U (measured on this runtime).
    /// tanh's vector form 1 − 2/(e+1) has an absolute error of a few U (documented on the operator), hence its floor.
    /// </summary>
    static void CheckUnary(string name, UnaryKernel kernel, Func<double, double> f, Func<double, double> df, double absFloor, int n)
    {
        float[] x = Uniform(n, -6, 6, n + 1);
        if (n > 3) { x[0] = 0f; x[1] = -0f; x[2] = 1e-4f; }
        var y = new float[n];
        kernel(x, y);
        double[] expected = x.Select(v => f(v)).ToArray();
        double[] tol = x.Select((v, i) => 8 * U * (Math.Abs(expected[i]) + Math.Abs(v * df(v))) + absFloor).ToArray();
        Close(y, expected, tol, name);
        // In place gives the same as out of place.
        var inPlace = (float[])x.Clone();
        kernel(inPlace, inPlace);
        Assert.Equal(y, inPlace);
    }

    [Theory, MemberData(nameof(Lengths))]
    public void ActivationsMatchDoubleReference(int n)
    {
        Func<double, double> relu = v => Math.Max(v, 0), drelu = v => v > 0 ? 1 : 0;
        Func<double, double> dtanh = v => 1 - Math.Tanh(v) * Math.Tanh(v), dsig = v => Sigmoid(v) * (1 - Sigmoid(v));
        CheckUnary("relu", Elementwise.Relu, relu, drelu, 0, n);
        CheckUnary("relu.scalar", Elementwise.UnaryScalar<ReluOperator>, relu, drelu, 0, n);
        CheckUnary("gelu", Elementwise.Gelu, Gelu, GeluPrime, 0, n);
        CheckUnary("gelu.scalar", Elementwise.UnaryScalar<GeluOperator>, Gelu, GeluPrime, 0, n);
        CheckUnary("sigmoid", Elementwise.Sigmoid, Sigmoid, dsig, 0, n);
        CheckUnary("sigmoid.scalar", Elementwise.UnaryScalar<SigmoidOperator>, Sigmoid, dsig, 0, n);
        CheckUnary("tanh", Elementwise.Tanh, Math.Tanh, dtanh, 4 * U, n);
        CheckUnary("tanh.scalar", Elementwise.UnaryScalar<TanhOperator>, Math.Tanh, dtanh, 4 * U, n);
    }

    delegate void BinaryKernel(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> z);

    /// <summary>Backward kernels: dx = dx₀ + g(x, dy). The local gradient g has the same k·U error model as the
    /// forward, and the final addition adds one rounding of the sum.</summary>
    static void CheckBackward(string name, BinaryKernel kernel, Func<double, double, double> g, Func<double, double, double> gScale, int n)
    {
        float[] x = Uniform(n, -6, 6, 3 * n + 7), dy = Uniform(n, -2, 2, 5 * n + 1), dx0 = Uniform(n, -1, 1, 7 * n + 3);
        var dx = (float[])dx0.Clone();
        kernel(x, dy, dx);
        double[] expected = new double[n], tol = new double[n];
        for (int i = 0; i < n; i++)
        {
            expected[i] = dx0[i] + g(x[i], dy[i]);
            tol[i] = U * Math.Abs(expected[i]) + 8 * U * gScale(x[i], dy[i]);
        }
        Close(dx, expected, tol, name);
    }

    [Theory, MemberData(nameof(Lengths))]
    public void BackwardKernelsAccumulateTheLocalGradient(int n)
    {
        // gScale bounds |g| plus its sensitivity to rounded inputs (|x·∂g/∂x|), estimated with a 2nd-order term.
        static double SecondGelu(double x) => (GeluPrime(x + 1e-4) - GeluPrime(x - 1e-4)) / 2e-4;
        Func<double, double, double> reluG = (x, dy) => x > 0 ? dy : 0, reluS = (x, dy) => Math.Abs(dy);
        Func<double, double, double> geluG = (x, dy) => dy * GeluPrime(x), geluS = (x, dy) => Math.Abs(dy) * (Math.Abs(GeluPrime(x)) + Math.Abs(x * SecondGelu(x)));
        // tanh and sigmoid backward take the forward output y as their first argument.
        Func<double, double, double> tanhG = (y, dy) => dy * (1 - y * y), tanhS = (y, dy) => Math.Abs(dy) * (1 + y * y);
        Func<double, double, double> sigG = (y, dy) => dy * y * (1 - y), sigS = (y, dy) => Math.Abs(dy) * (Math.Abs(y) + y * y);
        CheckBackward("reluBackward", Elementwise.ReluBackward, reluG, reluS, n);
        CheckBackward("reluBackward.scalar", Elementwise.BinaryAccumulateScalar<ReluBackwardOperator>, reluG, reluS, n);
        CheckBackward("geluBackward", Elementwise.GeluBackward, geluG, geluS, n);
        CheckBackward("geluBackward.scalar", Elementwise.BinaryAccumulateScalar<GeluBackwardOperator>, geluG, geluS, n);
        CheckBackward("tanhBackward", Elementwise.TanhBackward, tanhG, tanhS, n);
        CheckBackward("tanhBackward.scalar", Elementwise.BinaryAccumulateScalar<TanhBackwardOperator>, tanhG, tanhS, n);
        CheckBackward("sigmoidBackward", Elementwise.SigmoidBackward, sigG, sigS, n);
        CheckBackward("sigmoidBackward.scalar", Elementwise.BinaryAccumulateScalar<SigmoidBackwardOperator>, sigG, sigS, n);
    }

    [Theory, MemberData(nameof(Lengths))]
    public void ArithmeticIsCorrectlyRounded(int n)
    {
        // One IEEE operation each: the result is the exact value rounded once, |error| ≤ U·|exact|.
        float[] x = Uniform(n, -3, 3, n), y = Uniform(n, -3, 3, n + 100);
        var z = new float[n];
        void Check(string name, Func<double, double, double> f)
        {
            double[] e = x.Select((v, i) => f(v, y[i])).ToArray();
            Close(z, e, e.Select(Math.Abs).Select(a => U * a).ToArray(), name);
        }
        Elementwise.Add(x, y, z); Check("add", (a, b) => a + b);
        Elementwise.BinaryScalar<AddOperator>(x, y, z); Check("add.scalar", (a, b) => a + b);
        Elementwise.Subtract(x, y, z); Check("sub", (a, b) => a - b);
        Elementwise.Multiply(x, y, z); Check("mul", (a, b) => a * b);
        Elementwise.BinaryScalar<MultiplyOperator>(x, y, z); Check("mul.scalar", (a, b) => a * b);
        Elementwise.Scale(x, 0.37f, z); Check("scale", (a, _) => a * 0.37f);
        Elementwise.BinaryWithScalarScalar<MultiplyOperator>(x, 0.37f, z); Check("scale.scalar", (a, _) => a * 0.37f);

        // Two roundings for axpy (product, then sum): |error| ≤ U·(|a·x| + |exact|) to first order.
        y.CopyTo(z, 0);
        Elementwise.AddScaled(-1.5f, x, z);
        double[] axpy = x.Select((v, i) => y[i] - 1.5 * v).ToArray();
        Close(z, axpy, axpy.Select((a, i) => U * (Math.Abs(a) + 1.5 * Math.Abs(x[i]))).ToArray(), "axpy");
        y.CopyTo(z, 0);
        Elementwise.AddScaledScalar(-1.5f, x, z);
        Close(z, axpy, axpy.Select((a, i) => U * (Math.Abs(a) + 1.5 * Math.Abs(x[i]))).ToArray(), "axpy.scalar");
        y.CopyTo(z, 0);
        Elementwise.AddInto(x, z);
        double[] sum = x.Select((v, i) => (double)v + y[i]).ToArray();
        Close(z, sum, sum.Select(a => U * Math.Abs(a)).ToArray(), "addInto");
    }

    [Theory]
    [InlineData(0, 5)]
    [InlineData(3, 0)]
    [InlineData(1, 1)]
    [InlineData(4, 7)]
    [InlineData(3, 17)]
    [InlineData(5, 33)]
    public void RowBroadcastAppliesTheRowToEveryRow(int rows, int cols)
    {
        float[] x = Uniform(rows * cols, -2, 2, rows * 31 + cols), row = Uniform(cols, -2, 2, cols + 9);
        var z = new float[rows * cols];
        double[] Ref(Func<double, double, double> f) =>
            Enumerable.Range(0, rows * cols).Select(i => f(x[i], row[i % cols])).ToArray();
        void Check(string name, double[] e) => Close(z, e, e.Select(a => U * Math.Abs(a)).ToArray(), name);
        Elementwise.AddRow(rows, cols, x, row, z); Check("addRow", Ref((a, b) => a + b));
        Elementwise.SubtractRow(rows, cols, x, row, z); Check("subRow", Ref((a, b) => a - b));
        Elementwise.MultiplyRow(rows, cols, x, row, z); Check("mulRow", Ref((a, b) => a * b));
        Elementwise.RowBroadcastScalar<MultiplyOperator>(rows, cols, x, row, z); Check("mulRow.scalar", Ref((a, b) => a * b));
    }

    [Fact]
    public void BadSpansAreRejected()
    {
        var buf = new float[20];
        var e = Assert.Throws<ArgumentException>(() => Elementwise.Relu(buf.AsSpan(0, 10), buf.AsSpan(3, 10)));
        Assert.Contains("overlap", e.Message);
        e = Assert.Throws<ArgumentException>(() => Elementwise.Add(new float[3], new float[4], new float[3]));
        Assert.Contains("3", e.Message);
        Assert.Throws<ArgumentException>(() => Elementwise.AddRow(2, 3, new float[6], new float[2], new float[6]));
    }

    [Fact]
    public void ActivationsHandleExtremeInputs()
    {
        float[] x = [float.MaxValue, -float.MaxValue, 100f, -100f, 88.7f, -88.7f, 1e-30f, -1e-30f, 50f, -50f];
        var y = new float[x.Length];
        Elementwise.Sigmoid(x, y);
        Assert.Equal([1f, 0f, 1f, 0f], y[..4]);
        Elementwise.Tanh(x, y);
        Assert.Equal([1f, -1f, 1f, -1f], y[..4]);
        Elementwise.Gelu(x, y);
        Assert.Equal(float.MaxValue, y[0]);
        Assert.Equal(100f, y[2]);
        Assert.True(y[3] == 0f && y[1] == 0f, "gelu of very negative inputs is 0");
        Assert.All(y, v => Assert.False(float.IsNaN(v)));
    }
    [Theory, MemberData(nameof(Lengths))]
    public void ReluKeepsNaNAndTurnsNegativeZeroIntoZeroAtEveryTail(int n)
    {
        // As PyTorch: a NaN must reach the loss, where the trainer's check sees it, instead of becoming 0.
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (i % 4) switch { 0 => float.NaN, 1 => -0f, 2 => -3f, _ => 2.5f };
        foreach (var (name, relu) in new (string, Action<float[], float[]>)[]
            { ("vector", (a, b) => Elementwise.Relu(a, b)), ("scalar", (a, b) => Elementwise.UnaryScalar<ReluOperator>(a, b)) })
        {
            var y = new float[n];
            relu(x, y);
            for (int i = 0; i < n; i++)
            {
                uint expected = (i % 4) switch { 0 => BitConverter.SingleToUInt32Bits(float.NaN), 3 => BitConverter.SingleToUInt32Bits(2.5f), _ => 0u };
                Assert.True(i % 4 == 0 ? float.IsNaN(y[i]) : BitConverter.SingleToUInt32Bits(y[i]) == expected, $"{name} [{i}] of {n}: {y[i]}");
            }
        }
    }
}
