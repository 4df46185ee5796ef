using Lora.Autograd;
using static Lora.Tests.Autograd.AutogradTestData;

namespace Lora.Tests.Autograd;

/// <summary>Edge cases a demanding user reaches through the public autograd API: zero-size dimensions, ranges whose
/// ends overflow int, and tensors used after the tape released them.</summary>
public class AutogradProbeTests
{
    const double U = 1.0 / (1 << 24);

    public static TheoryData<int, int, int> ZeroSizeProducts => new()
    {
        { 2, 3, 4 }, // the ordinary case, so the reference below is known to agree when nothing is empty
        { 2, 0, 4 }, // an empty inner dimension: y = 0 (MatMul) or y = bias (Linear), as in PyTorch
        { 0, 3, 4 },
        { 2, 3, 0 },
        { 0, 0, 0 },
    };

    /// <summary>MatMul a (m, k)·b (k, n) and Linear x (m, k)·Wᵀ (W (n, k)) + bias, forward and backward, against a
    /// double reference; every sum has at most k (or m) terms, so each element is within (k + 1)·u·Σ|terms|.</summary>
    [Theory]
    [MemberData(nameof(ZeroSizeProducts))]
    public void MatMulAndLinearAcceptZeroSizeDimensions(int m, int k, int n)
    {
        Tape.Current.Reset();
        var a = Leaf(new Shape(m, k), 1);
        var b = Leaf(new Shape(k, n), 2);
        var seed = Uniform(m * n, -1, 1, 3);
        var y = Ops.MatMul(a, b);
        Assert.Equal(new Shape(m, n), y.Shape);
        CheckProduct(y.Data, m, n, k, (i, j, p) => (a.Data[i * k + p], b.Data[p * n + j]), bias: null);
        y.Backward(seed);
        CheckProduct(a.Grad, m, k, n, (i, p, j) => (seed[i * n + j], b.Data[p * n + j]), bias: null); // da = dy·bᵀ
        CheckProduct(b.Grad, k, n, m, (p, j, i) => (a.Data[i * k + p], seed[i * n + j]), bias: null); // db = aᵀ·dy

        Tape.Current.Reset();
        var x = Leaf(new Shape(m, k), 4);
        var w = Param("w", new Shape(n, k), 5);
        var bias = Param("b", new Shape(n), 6);
        var z = Ops.Linear(x, w, bias);
        Assert.Equal(new Shape(m, n), z.Shape);
        CheckProduct(z.Data, m, n, k, (i, j, p) => (x.Data[i * k + p], w.Data[j * k + p]), bias.Data.ToArray());
        z.Backward(seed);
        CheckProduct(x.Grad, m, k, n, (i, p, j) => (seed[i * n + j], w.Data[j * k + p]), bias: null);  // dx = dy·W
        CheckProduct(w.Grad, n, k, m, (j, p, i) => (seed[i * n + j], x.Data[i * k + p]), bias: null);  // dW = dyᵀ·x
        CheckProduct(bias.Grad, 1, n, m, (_, j, i) => (seed[i * n + j], 1f), bias: null);             // db = Σ_rows dy
        Tape.Current.Reset();

        // With an empty inner dimension only the bias moves y: its gradient is still checked against differences.
        if (k == 0 && m > 0 && n > 0)
        {
            var x0 = Leaf(new Shape(m, 0), 7);
            var w0 = Param("w0", new Shape(n, 0), 8);
            var b0 = Param("b0", new Shape(n), 9);
            AssertPasses(GradCheck.Run(() => Ops.Linear(x0, w0, b0), x0, w0, b0));
        }
    }

    /// <summary>out (rows, cols)[i, j] = bias[j] + Σ_t f(i, j, t).a·f(i, j, t).b over t &lt; inner, in double.</summary>
    static void CheckProduct(ReadOnlySpan<float> actual, int rows, int cols, int inner, Func<int, int, int, (float, float)> term, float[]? bias)
    {
        Assert.Equal(rows * cols, actual.Length);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
            {
                double sum = bias?[j] ?? 0, abs = Math.Abs(sum);
                for (int t = 0; t < inner; t++)
                {
                    var (p, q) = term(i, j, t);
                    sum += (double)p * q;
                    abs += Math.Abs((double)p * q);
                }
                double tol = (inner + 2) * U * abs;
                Assert.True(Math.Abs(actual[i * cols + j] - sum) <= tol,
                    $"element ({i}, {j}) of ({rows}, {cols}): {actual[i * cols + j]} vs {sum}, tolerance {tol:E2}");
            }
    }

    [Theory]
    [InlineData(1, int.MaxValue)]       // 1 + int.MaxValue wraps to a negative end
    [InlineData(3, int.MaxValue - 1)]
    public void SliceRejectsARangeWhoseEndOverflows(int start, int length)
    {
        Tape.Current.Reset();
        foreach (var shape in new[] { new Shape(5), new Shape(2, 5) })
        {
            var x = Leaf(shape, 1);
            var e = Assert.ThrowsAny<ArgumentException>(() => Ops.Slice(x, start, length));
            Assert.Contains("Slice", e.Message);
            Assert.Contains(shape.ToString(), e.Message);
            Assert.Contains($"[{start}, {(long)start + length})", e.Message);
        }
        Assert.Equal(0, Tape.Current.LiveTensorCount); // rejected before any storage was rented
    }

    [Fact]
    public void AnEmptyShapeWhoseLeadingAxesOverflowSaysSoRatherThanCountingElements()
    {
        var e = Assert.Throws<ArgumentException>(() => new Shape(65536, 65536, 0));
        Assert.Contains("(65536, 65536, 0)", e.Message);
        Assert.Contains("empty", e.Message);
        Assert.DoesNotContain("more than", e.Message); // it has no elements at all
        Assert.Equal(0, new Shape(0, 65536, 65536 / 2).Length); // a leading zero keeps every partial product at 0
    }

    [Fact]
    public void BackwardOnAnActivationReleasedByResetSaysSo()
    {
        Tape.Current.Reset();
        var x = Leaf(new Shape(3), 1);
        var loss = Ops.Sum(Ops.Mul(x, x));
        Tape.Current.Reset();
        var e = Assert.Throws<ObjectDisposedException>(() => loss.Backward());
        Assert.Contains("Tape.Reset", e.Message);
        Assert.False(x.HasGrad);
    }

    [Fact]
    public void InverseRowNormsRejectsARankWhoseScratchOverflowsInt()
    {
        // Before, d·r + r·r wrapped to a small positive length and the Gram product wrote r² floats past it.
        Tape.Current.Reset();
        const int r = 65537;
        var w = Leaf(new Shape(1, 1), 1);
        var a = Leaf(new Shape(r, 1), 2);
        var b = Leaf(new Shape(1, r), 3);
        var e = Assert.ThrowsAny<ArgumentException>(() => Ops.InverseRowNorms(w, a, b, 1f));
        Assert.Contains($"rank {r}", e.Message);
        Tape.Current.Reset();
    }
}

/// <summary>GradCheck settings that cannot give a meaningful verdict are rejected, not reported as a failed check.</summary>
public class GradCheckOptionTests
{
    public static TheoryData<string, GradCheckOptions> BadOptions => new()
    {
        { "Step", new GradCheckOptions { Step = 0 } },
        { "Step", new GradCheckOptions { Step = -1.0 / 32 } },
        { "Step", new GradCheckOptions { Step = double.NaN } },
        { "Step", new GradCheckOptions { Step = double.PositiveInfinity } },
        { "RelativeTolerance", new GradCheckOptions { RelativeTolerance = double.NaN } },
        { "RelativeTolerance", new GradCheckOptions { RelativeTolerance = -1e-3 } },
        { "RoundingFactor", new GradCheckOptions { RoundingFactor = double.NaN } },
        { "MaxElementsPerInput", new GradCheckOptions { MaxElementsPerInput = 0 } },
        { "MaxElementsPerInput", new GradCheckOptions { MaxElementsPerInput = -3 } },
        { "float resolution", new GradCheckOptions { Step = 1e-12 } }, // x ± h rounds back to x
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void MeaninglessSettingsAreRejected(string named, GradCheckOptions options)
    {
        var x = Leaf(new Shape(2, 3), 1);
        var e = Assert.ThrowsAny<ArgumentException>(() => GradCheck.Run(() => Ops.Tanh(x), [x], options));
        Assert.Contains(named, e.Message);
        Tape.Current.Reset();
    }

    [Fact]
    public void ItChecksGradientsEvenInsideACallersNoGradScope()
    {
        var x = Leaf(new Shape(2, 3), 2);
        GradCheckResult result;
        using (Tape.NoGrad())
        {
            result = GradCheck.Run(() => Ops.Tanh(Ops.Mul(x, x)), [x], null);
            Assert.False(Tape.IsGradEnabled); // the caller's mode is restored
        }
        AssertPasses(result);
        Assert.Equal(x.Length, result.Checked);
    }

    [Fact]
    public void ANullInputIsNamedByItsPosition()
    {
        var x = Leaf(new Shape(2), 1);
        var e = Assert.ThrowsAny<ArgumentException>(() => GradCheck.Run(() => Ops.Tanh(x), [x, null!], null));
        Assert.Contains("input 1", e.Message);
        Tape.Current.Reset();
    }
}

/// <summary>A null tensor argument is an <see cref="ArgumentNullException"/> naming the op and the argument, not a
/// NullReferenceException from inside the op.</summary>
public class NullArgumentTests
{
    static readonly Tensor M = Leaf(new Shape(2, 3), 1), Table = Leaf(new Shape(4, 3), 2), Img = Leaf(new Shape(1, 1, 4, 4), 3);

    public static TheoryData<string, string> Cases => new()
    {
        { "Add", "b" }, { "Sub", "a" }, { "Mul", "b" }, { "Scale", "x" }, { "Sum", "x" }, { "Mean", "x" },
        { "Relu", "x" }, { "Gelu", "x" }, { "Tanh", "x" }, { "Sigmoid", "x" }, { "Dropout", "x" }, { "Reshape", "x" },
        { "Mse", "target" }, { "Softmax", "x" }, { "Slice", "x" }, { "Concat", "one of the parts" },
        { "MatMul", "b" }, { "Linear", "weight" }, { "LayerNorm", "x" }, { "SoftmaxCrossEntropy", "logits" },
        { "Embedding", "x" }, { "ChannelAffine", "scale" }, { "MaxPool2d", "x" }, { "Conv2d", "weight" },
        { "LoraConv2d", "a" }, { "SwapLeadingAxes", "x" },
    };

    static Tensor Call(string op) => op switch
    {
        "Add" => Ops.Add(M, null!),
        "Sub" => Ops.Sub(null!, M),
        "Mul" => Ops.Mul(M, null!),
        "Scale" => Ops.Scale(null!, 2f),
        "Sum" => Ops.Sum(null!),
        "Mean" => Ops.Mean(null!),
        "Relu" => Ops.Relu(null!),
        "Gelu" => Ops.Gelu(null!),
        "Tanh" => Ops.Tanh(null!),
        "Sigmoid" => Ops.Sigmoid(null!),
        "Dropout" => Ops.Dropout(null!, 0f, 1, training: false), // used to hand the null straight back
        "Reshape" => Ops.Reshape(null!, new Shape(6)),
        "Mse" => Ops.Mse(M, null!),
        "Softmax" => Ops.Softmax(null!),
        "Slice" => Ops.Slice(null!, 0, 1),
        "Concat" => Ops.Concat(M, null!),
        "MatMul" => Ops.MatMul(M, null!),
        "Linear" => Ops.Linear(M, null!),
        "LayerNorm" => Ops.LayerNorm(null!),
        "SoftmaxCrossEntropy" => Ops.SoftmaxCrossEntropy(null!, new[] { 0, 1 }),
        "Embedding" => Ops.Embedding((Tensor)null!, Table),
        "ChannelAffine" => Ops.ChannelAffine(M, null!),
        "MaxPool2d" => Ops.MaxPool2d(null!, 2),
        "Conv2d" => Ops.Conv2d(Img, null!),
        "LoraConv2d" => Ops.LoraConv2d(Img, Leaf(new Shape(2, 1, 3, 3), 4), null!, Leaf(new Shape(2, 2), 5), null, 1f),
        "SwapLeadingAxes" => Ops.SwapLeadingAxes(null!),
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ANullTensorIsNamed(string op, string argument)
    {
        Tape.Current.Reset();
        var e = Assert.Throws<ArgumentNullException>(() => Call(op));
        Assert.Contains(op + ":", e.Message);
        Assert.Equal(argument, e.ParamName);
        Tape.Current.Reset();
    }
}
