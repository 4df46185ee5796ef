using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Lora.Kernels;

// Named forward and backward kernels over the driver. Backward kernels add into the gradient (+=).
public static partial class Elementwise
{
    /// <summary>z = x + y.</summary>
    public static void Add(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> z) => Binary<AddOperator>(x, y, z);

    /// <summary>z = x − y.</summary>
    public static void Subtract(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> z) => Binary<SubtractOperator>(x, y, z);

    /// <summary>z = x ⊙ y.</summary>
    public static void Multiply(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> z) => Binary<MultiplyOperator>(x, y, z);

    /// <summary>y = s · x.</summary>
    public static void Scale(ReadOnlySpan<float> x, float s, Span<float> y) => BinaryWithScalar<MultiplyOperator>(x, s, y);

    /// <summary>y += x.</summary>
    public static void AddInto(ReadOnlySpan<float> x, Span<float> y) => BinaryAccumulate<SecondOperator>(x, x, y);

    /// <summary>y += a · x (BLAS's axpy).</summary>
    public static void AddScaled(float a, ReadOnlySpan<float> x, Span<float> y) => AddScaled(a, x, y, Vector256.IsHardwareAccelerated);

    /// <summary>Scalar twin of <see cref="AddScaled(float, ReadOnlySpan{float}, Span{float})"/>.</summary>
    public static void AddScaledScalar(float a, ReadOnlySpan<float> x, Span<float> y) => AddScaled(a, x, y, false);

    /// <summary>z[i, j] = x[i, j] + row[j] for x, z (rows, cols), row (cols).</summary>
    public static void AddRow(int rows, int cols, ReadOnlySpan<float> x, ReadOnlySpan<float> row, Span<float> z)
        => RowBroadcast<AddOperator>(rows, cols, x, row, z);

    /// <summary>z[i, j] = x[i, j] − row[j].</summary>
    public static void SubtractRow(int rows, int cols, ReadOnlySpan<float> x, ReadOnlySpan<float> row, Span<float> z)
        => RowBroadcast<SubtractOperator>(rows, cols, x, row, z);

    /// <summary>z[i, j] = x[i, j] · row[j].</summary>
    public static void MultiplyRow(int rows, int cols, ReadOnlySpan<float> x, ReadOnlySpan<float> row, Span<float> z)
        => RowBroadcast<MultiplyOperator>(rows, cols, x, row, z);

    /// <summary>y = max(x, 0).</summary>
    public static void Relu(ReadOnlySpan<float> x, Span<float> y) => Unary<ReluOperator>(x, y);

    /// <summary>dx += dy · [x &gt; 0].</summary>
    public static void ReluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx) => BinaryAccumulate<ReluBackwardOperator>(x, dy, dx);

    /// <summary>y = gelu(x), tanh approximation.</summary>
    public static void Gelu(ReadOnlySpan<float> x, Span<float> y) => Unary<GeluOperator>(x, y);

    /// <summary>dx += dy · gelu′(x).</summary>
    public static void GeluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx) => BinaryAccumulate<GeluBackwardOperator>(x, dy, dx);

    /// <summary>y = tanh(x).</summary>
    public static void Tanh(ReadOnlySpan<float> x, Span<float> y) => Unary<TanhOperator>(x, y);

    /// <summary>dx += dy · (1 − y²), y = tanh(x).</summary>
    public static void TanhBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx) => BinaryAccumulate<TanhBackwardOperator>(y, dy, dx);

    /// <summary>y = σ(x).</summary>
    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> y) => Unary<SigmoidOperator>(x, y);

    /// <summary>dx += dy · y · (1 − y), y = σ(x).</summary>
    public static void SigmoidBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx) => BinaryAccumulate<SigmoidBackwardOperator>(y, dy, dx);

    internal static void AddScaled(float a, ReadOnlySpan<float> x, Span<float> y, bool vector)
    {
        CheckPair("x", x, "y", y);
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (vector)
        {
            var av = Vector256.Create(a);
            for (; i <= n - 8; i += 8)
                (Vector256.LoadUnsafe(ref yr, (nuint)i) + av * Vector256.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref yr, i) += a * Unsafe.Add(ref xr, i);
    }
}
