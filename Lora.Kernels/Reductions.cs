using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Lora.Kernels;

/// <summary>Sums, maxima and dot products over spans, with scalar twins.</summary>
/// <remarks>
/// The vector paths keep 8 partial sums (one per lane) and add them at the end, so their rounding differs from the
/// sequential scalar twin; both stay within the recursive-summation bound |ŝ − s| ≤ (n − 1)·ε·Σ|xᵢ|.
/// </remarks>
public static class Reductions
{
    static bool Fast => Vector256.IsHardwareAccelerated;

    /// <summary>Σ x[i] (0 for an empty span).</summary>
    public static float Sum(ReadOnlySpan<float> x) => Fast ? SumVector(x) : SumScalar(x);

    internal static float Sum(ReadOnlySpan<float> x, bool vector) => vector ? SumVector(x) : SumScalar(x);

    internal static float Max(ReadOnlySpan<float> x, bool vector) => vector ? MaxVector(x) : MaxScalar(x);

    internal static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y, bool vector) => vector ? DotVector(x, y) : DotScalar(x, y);

    /// <summary>Scalar twin of <see cref="Sum(ReadOnlySpan{float})"/>.</summary>
    public static float SumScalar(ReadOnlySpan<float> x)
    {
        float s = 0f;
        foreach (float v in x) s += v;
        return s;
    }

    /// <summary>Σ x[i]·y[i].</summary>
    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        if (x.Length != y.Length) throw new ArgumentException($"Dot: x has {x.Length} elements but y has {y.Length}.", nameof(y));
        return Fast ? DotVector(x, y) : DotScalar(x, y);
    }

    /// <summary>Scalar twin of <see cref="Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/>.</summary>
    public static float DotScalar(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        if (x.Length != y.Length) throw new ArgumentException($"Dot: x has {x.Length} elements but y has {y.Length}.", nameof(y));
        float s = 0f;
        for (int i = 0; i < x.Length; i++) s += x[i] * y[i];
        return s;
    }

    /// <summary>max x[i]; NaN if any element is NaN; −∞ for an empty span.</summary>
    public static float Max(ReadOnlySpan<float> x) => Fast ? MaxVector(x) : MaxScalar(x);

    /// <summary>Scalar twin of <see cref="Max(ReadOnlySpan{float})"/>.</summary>
    public static float MaxScalar(ReadOnlySpan<float> x)
    {
        float m = float.NegativeInfinity;
        foreach (float v in x)
        {
            if (float.IsNaN(v)) return float.NaN;
            if (v > m) m = v;
        }
        return m;
    }

    /// <summary>Row sums: sums[i] = Σ_j x[i, j] for x (rows, cols), sums (rows).</summary>
    public static void RowSums(int rows, int cols, ReadOnlySpan<float> x, Span<float> sums)
    {
        CheckMatrix("RowSums", rows, cols, x.Length);
        if (sums.Length != rows) throw new ArgumentException($"RowSums: sums has {sums.Length} elements, expected ({rows}).", nameof(sums));
        SpanOverlap.Disjoint("RowSums", "sums", sums, "x", x); // a sum written over a row not yet read
        for (int i = 0; i < rows; i++) sums[i] = Sum(x.Slice(i * cols, cols));
    }

    /// <summary>Column sums, accumulated: sums[j] += Σ_i x[i, j] for x (rows, cols), sums (cols). A bias's gradient.</summary>
    public static void AddColumnSums(int rows, int cols, ReadOnlySpan<float> x, Span<float> sums)
    {
        CheckMatrix("AddColumnSums", rows, cols, x.Length);
        if (sums.Length != cols) throw new ArgumentException($"AddColumnSums: sums has {sums.Length} elements, expected ({cols}).", nameof(sums));
        SpanOverlap.Disjoint("AddColumnSums", "sums", sums, "x", x); // sums over a row of x would add that row into itself
        for (int i = 0; i < rows; i++) Elementwise.AddInto(x.Slice(i * cols, cols), sums);
    }

    /// <summary>Scalar twin of <see cref="AddColumnSums"/>.</summary>
    public static void AddColumnSumsScalar(int rows, int cols, ReadOnlySpan<float> x, Span<float> sums)
    {
        CheckMatrix("AddColumnSums", rows, cols, x.Length);
        if (sums.Length != cols) throw new ArgumentException($"AddColumnSums: sums has {sums.Length} elements, expected ({cols}).", nameof(sums));
        SpanOverlap.Disjoint("AddColumnSums", "sums", sums, "x", x);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) sums[j] += x[i * cols + j];
    }

    static void CheckMatrix(string op, int rows, int cols, int length)
    {
        if (rows < 0 || cols < 0) throw new ArgumentException($"{op}: sizes must be non-negative, got ({rows}, {cols}).");
        if (length != (long)rows * cols) throw new ArgumentException($"{op}: x has {length} elements, expected ({rows}, {cols}).", "x");
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float SumVector(ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        ref float r = ref MemoryMarshal.GetReference(x);
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        for (; i <= n - 16; i += 16)
        {
            acc0 += Vector256.LoadUnsafe(ref r, (nuint)i);
            acc1 += Vector256.LoadUnsafe(ref r, (nuint)(i + 8));
        }
        if (i <= n - 8) { acc0 += Vector256.LoadUnsafe(ref r, (nuint)i); i += 8; }
        float s = Vector256.Sum(acc0 + acc1);
        for (; i < n; i++) s += Unsafe.Add(ref r, i);
        return s;
    }

    static float DotVector(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        for (; i <= n - 16; i += 16)
        {
            acc0 += Vector256.LoadUnsafe(ref xr, (nuint)i) * Vector256.LoadUnsafe(ref yr, (nuint)i);
            acc1 += Vector256.LoadUnsafe(ref xr, (nuint)(i + 8)) * Vector256.LoadUnsafe(ref yr, (nuint)(i + 8));
        }
        if (i <= n - 8) { acc0 += Vector256.LoadUnsafe(ref xr, (nuint)i) * Vector256.LoadUnsafe(ref yr, (nuint)i); i += 8; }
        float s = Vector256.Sum(acc0 + acc1);
        for (; i < n; i++) s += Unsafe.Add(ref xr, i) * Unsafe.Add(ref yr, i);
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float MaxVector(ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        ref float r = ref MemoryMarshal.GetReference(x);
        float m = float.NegativeInfinity;
        if (n >= 8)
        {
            var acc = Vector256.Create(float.NegativeInfinity);
            var nan = Vector256<float>.Zero;
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref r, (nuint)i);
                nan |= ~Vector256.Equals(v, v); // NaN lanes: a max alone would drop them on x86
                acc = Vector256.Max(acc, v);
            }
            if (nan != Vector256<float>.Zero) return float.NaN;
            for (int l = 0; l < 8; l++) m = Math.Max(m, acc.GetElement(l));
        }
        for (; i < n; i++)
        {
            float v = Unsafe.Add(ref r, i);
            if (float.IsNaN(v)) return float.NaN;
            if (v > m) m = v;
        }
        return m;
    }
}
