using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Lora.Kernels;

/// <summary>Argument validation shared by the GEMM entry points.</summary>
internal static class GemmArguments
{
    public static void Check(Transpose transA, Transpose transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc)
    {
        if (m < 0) throw new ArgumentException($"m must be non-negative, got {m}.", nameof(m));
        if (n < 0) throw new ArgumentException($"n must be non-negative, got {n}.", nameof(n));
        if (k < 0) throw new ArgumentException($"k must be non-negative, got {k}.", nameof(k));
        // Stored shapes: A is (m, k) or (k, m); B is (k, n) or (n, k).
        int aRows = transA == Transpose.No ? m : k, aCols = transA == Transpose.No ? k : m;
        int bRows = transB == Transpose.No ? k : n, bCols = transB == Transpose.No ? n : k;
        CheckMatrix("a", "lda", a.Length, aRows, aCols, lda);
        CheckMatrix("b", "ldb", b.Length, bRows, bCols, ldb);
        CheckMatrix("c", "ldc", c.Length, m, n, ldc);
        if (m == 0 || n == 0) return;
        ReadOnlySpan<float> cr = c;
        long cLen = (long)(m - 1) * ldc + n;
        if (k > 0 && Overlaps(cr, cLen, a, aRows, aCols, lda)) throw new ArgumentException("c overlaps a.", nameof(c));
        if (k > 0 && Overlaps(cr, cLen, b, bRows, bCols, ldb)) throw new ArgumentException("c overlaps b.", nameof(c));
    }

    static void CheckMatrix(string name, string ldName, int length, int rows, int cols, int ld)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentException($"{ldName} = {ld} is smaller than the {cols} columns of {name} ({rows}×{cols}).", ldName);
        if (rows == 0 || cols == 0) return;
        long needed = (long)(rows - 1) * ld + cols;
        if (length < needed)
            throw new ArgumentException($"{name} has {length} elements but a {rows}×{cols} matrix with {ldName} = {ld} needs {needed}.", name);
    }

    static bool Overlaps(ReadOnlySpan<float> c, long cLen, ReadOnlySpan<float> x, int rows, int cols, int ld)
    {
        if (rows == 0 || cols == 0) return false;
        long xLen = (long)(rows - 1) * ld + cols;
        ref float c0 = ref MemoryMarshal.GetReference(c);
        ref float x0 = ref MemoryMarshal.GetReference(x);
        long offset = Unsafe.ByteOffset(ref c0, ref x0) / sizeof(float); // x0 - c0 in elements
        // Do the extents [0, cLen) and [offset, offset + xLen) intersect?
        return offset < cLen && -offset < xLen;
    }
}
