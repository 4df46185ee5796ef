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
        if (k == 0) return; // A and B are empty: nothing to overlap
        if (Overlaps(c, m, n, ldc, a, aRows, aCols, lda))
            throw new ArgumentException($"c ({m}×{n}, ldc = {ldc}) overlaps a ({aRows}×{aCols}, lda = {lda}).", nameof(c));
        if (Overlaps(c, m, n, ldc, b, bRows, bCols, ldb))
            throw new ArgumentException($"c ({m}×{n}, ldc = {ldc}) overlaps b ({bRows}×{bCols}, ldb = {ldb}).", nameof(c));
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

    /// <summary>
    /// Does any element of C (m rows of n at stride ldc) coincide with an element of X (rows×cols at stride ld)?
    /// Exact, row by row, so disjoint column blocks of one buffer (C beside A in a wider matrix) are allowed.
    /// </summary>
    static bool Overlaps(ReadOnlySpan<float> c, int m, int n, int ldc, ReadOnlySpan<float> x, int rows, int cols, int ld)
    {
        if (rows == 0 || cols == 0) return false;
        long xLen = (long)(rows - 1) * ld + cols, cLen = (long)(m - 1) * ldc + n;
        long bytes = Unsafe.ByteOffset(ref MemoryMarshal.GetReference(c), ref MemoryMarshal.GetReference(x)); // x0 - c0
        if (bytes >= cLen * sizeof(float) || -bytes >= xLen * sizeof(float)) return false; // extents are disjoint
        if (bytes % sizeof(float) != 0) return true; // misaligned views that share bytes: treat as overlapping
        long offset = bytes / sizeof(float);
        for (long i = 0; i < m; i++)
        {
            // C row i covers [s, s + n) relative to x0; X row r covers [r·ld, r·ld + cols).
            long s = i * ldc - offset;
            long r = Math.Max(0, FloorDiv(s - cols, ld) + 1); // first X row ending after s
            if (r < rows && r * ld < s + n) return true;
        }
        return false;
    }

    static long FloorDiv(long a, long b) => a >= 0 ? a / b : -((-a + b - 1) / b);
}
