using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Lora.Kernels;

/// <summary>
/// The one loop driver for elementwise kernels: an operator struct supplies the scalar and vector bodies, the
/// driver supplies the loop, the tail and the checks. Outputs may be the very same span as an input (in place)
/// but must not partly overlap one.
/// </summary>
/// <remarks>
/// The vector path runs 8 lanes at a time when <see cref="Vector256.IsHardwareAccelerated"/> (AVX2); the tail and
/// machines without AVX2 take the scalar body. Each method has a <c>…Scalar</c> twin that only uses the scalar body:
/// the fallback made explicit, and the oracle tests compare against.
/// </remarks>
public static partial class Elementwise
{
    /// <summary>y[i] = f(x[i]).</summary>
    public static void Unary<TOp>(ReadOnlySpan<float> x, Span<float> y) where TOp : IUnaryOperator
        => Unary<TOp>(x, y, Vector256.IsHardwareAccelerated);

    /// <summary>Scalar twin of <see cref="Unary{TOp}(ReadOnlySpan{float}, Span{float})"/>.</summary>
    public static void UnaryScalar<TOp>(ReadOnlySpan<float> x, Span<float> y) where TOp : IUnaryOperator
        => Unary<TOp>(x, y, false);

    /// <summary>z[i] = f(x[i], y[i]).</summary>
    public static void Binary<TOp>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> z) where TOp : IBinaryOperator
        => Binary<TOp>(x, y, z, Vector256.IsHardwareAccelerated, accumulate: false);

    /// <summary>Scalar twin of <see cref="Binary{TOp}(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float})"/>.</summary>
    public static void BinaryScalar<TOp>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> z) where TOp : IBinaryOperator
        => Binary<TOp>(x, y, z, false, accumulate: false);

    /// <summary>z[i] += f(x[i], y[i]): the shape of every backward kernel (gradients accumulate).</summary>
    public static void BinaryAccumulate<TOp>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> z) where TOp : IBinaryOperator
        => Binary<TOp>(x, y, z, Vector256.IsHardwareAccelerated, accumulate: true);

    /// <summary>Scalar twin of <see cref="BinaryAccumulate{TOp}"/>.</summary>
    public static void BinaryAccumulateScalar<TOp>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> z) where TOp : IBinaryOperator
        => Binary<TOp>(x, y, z, false, accumulate: true);

    /// <summary>z[i] = f(x[i], s) with a scalar second argument.</summary>
    public static void BinaryWithScalar<TOp>(ReadOnlySpan<float> x, float s, Span<float> z) where TOp : IBinaryOperator
        => BinaryWithScalar<TOp>(x, s, z, Vector256.IsHardwareAccelerated);

    /// <summary>Scalar twin of <see cref="BinaryWithScalar{TOp}(ReadOnlySpan{float}, float, Span{float})"/>.</summary>
    public static void BinaryWithScalarScalar<TOp>(ReadOnlySpan<float> x, float s, Span<float> z) where TOp : IBinaryOperator
        => BinaryWithScalar<TOp>(x, s, z, false);

    /// <summary>Row broadcast: z[i, j] = f(x[i, j], row[j]) for x, z (rows, cols) and row (cols).</summary>
    public static void RowBroadcast<TOp>(int rows, int cols, ReadOnlySpan<float> x, ReadOnlySpan<float> row, Span<float> z)
        where TOp : IBinaryOperator => RowBroadcast<TOp>(rows, cols, x, row, z, Vector256.IsHardwareAccelerated);

    /// <summary>Scalar twin of <see cref="RowBroadcast{TOp}(int, int, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float})"/>.</summary>
    public static void RowBroadcastScalar<TOp>(int rows, int cols, ReadOnlySpan<float> x, ReadOnlySpan<float> row, Span<float> z)
        where TOp : IBinaryOperator => RowBroadcast<TOp>(rows, cols, x, row, z, false);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Unary<TOp>(ReadOnlySpan<float> x, Span<float> y, bool vector) where TOp : IUnaryOperator
    {
        CheckPair("x", x, "y", y);
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (vector)
            for (; i <= n - 8; i += 8)
                TOp.Invoke(Vector256.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref yr, i) = TOp.Invoke(Unsafe.Add(ref xr, i));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Binary<TOp>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> z, bool vector, bool accumulate)
        where TOp : IBinaryOperator
    {
        CheckPair("x", x, "y", y);
        CheckPair("x", x, "z", z);
        CheckPair("y", y, "z", z);
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref float zr = ref MemoryMarshal.GetReference(z);
        if (accumulate)
        {
            if (vector)
                for (; i <= n - 8; i += 8)
                    (Vector256.LoadUnsafe(ref zr, (nuint)i) + TOp.Invoke(Vector256.LoadUnsafe(ref xr, (nuint)i), Vector256.LoadUnsafe(ref yr, (nuint)i)))
                        .StoreUnsafe(ref zr, (nuint)i);
            for (; i < n; i++) Unsafe.Add(ref zr, i) += TOp.Invoke(Unsafe.Add(ref xr, i), Unsafe.Add(ref yr, i));
        }
        else
        {
            if (vector)
                for (; i <= n - 8; i += 8)
                    TOp.Invoke(Vector256.LoadUnsafe(ref xr, (nuint)i), Vector256.LoadUnsafe(ref yr, (nuint)i)).StoreUnsafe(ref zr, (nuint)i);
            for (; i < n; i++) Unsafe.Add(ref zr, i) = TOp.Invoke(Unsafe.Add(ref xr, i), Unsafe.Add(ref yr, i));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void BinaryWithScalar<TOp>(ReadOnlySpan<float> x, float s, Span<float> z, bool vector) where TOp : IBinaryOperator
    {
        CheckPair("x", x, "z", z);
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float zr = ref MemoryMarshal.GetReference(z);
        if (vector)
        {
            var sv = Vector256.Create(s);
            for (; i <= n - 8; i += 8)
                TOp.Invoke(Vector256.LoadUnsafe(ref xr, (nuint)i), sv).StoreUnsafe(ref zr, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref zr, i) = TOp.Invoke(Unsafe.Add(ref xr, i), s);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void RowBroadcast<TOp>(int rows, int cols, ReadOnlySpan<float> x, ReadOnlySpan<float> row, Span<float> z, bool vector)
        where TOp : IBinaryOperator
    {
        if (rows < 0 || cols < 0) throw new ArgumentException($"RowBroadcast sizes must be non-negative: rows = {rows}, cols = {cols}.");
        long len = (long)rows * cols;
        if (x.Length != len) throw new ArgumentException($"RowBroadcast: x has {x.Length} elements, expected ({rows}, {cols}).", nameof(x));
        if (z.Length != len) throw new ArgumentException($"RowBroadcast: z has {z.Length} elements, expected ({rows}, {cols}).", nameof(z));
        if (row.Length != cols) throw new ArgumentException($"RowBroadcast: row has {row.Length} elements, expected ({cols}).", nameof(row));
        for (int i = 0; i < rows; i++)
            Binary<TOp>(x.Slice(i * cols, cols), row, z.Slice(i * cols, cols), vector, accumulate: false);
    }

    /// <summary>Same length, and either the same memory or disjoint memory (a partial overlap would read results).</summary>
    internal static void CheckPair(string aName, ReadOnlySpan<float> a, string bName, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length)
            throw new ArgumentException($"{aName} has {a.Length} elements but {bName} has {b.Length}.", bName);
        if (a.IsEmpty) return;
        // In bytes, not floats: views cast from bytes may be misaligned, and a 2-byte shift must not pass as "the same span".
        long bytes = Unsafe.ByteOffset(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b));
        if (bytes != 0 && bytes < (long)a.Length * sizeof(float) && -bytes < (long)b.Length * sizeof(float))
            throw new ArgumentException($"{aName} and {bName} partly overlap; they must be the same span or disjoint.", bName);
    }
}
