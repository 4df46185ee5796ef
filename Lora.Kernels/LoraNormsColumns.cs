namespace Lora.Kernels;

// The transposed case of DoRA's norms, for a weight stored transposed (an embedding table T (k, d), whose LoRA delta
// is s·(B·A)ᵀ): the norms of T's columns plus the update's, the same expansion as RowNorms with W = Tᵀ.
public static unsafe partial class LoraNorms
{
    /// <summary>Floats of scratch <see cref="ColumnNorms"/> needs: r·d + r·r + d (A·T, A·Aᵀ and the column squares).</summary>
    /// <exception cref="ArgumentException">A negative size, or more than int.MaxValue floats (formed in 64 bits, so
    /// that it cannot wrap to a short length the kernel would overrun).</exception>
    public static int ColumnScratchLength(int d, int r)
    {
        if (d < 0 || r < 0) throw new ArgumentException($"ColumnNorms: the table's width {d} and rank {r} must be non-negative.");
        long length = (long)r * d + (long)r * r + d;
        if (length > int.MaxValue)
            throw new ArgumentException($"ColumnNorms: the scratch for width {d} and rank {r} (r·d + r·r + d = {length} floats) exceeds int.MaxValue.");
        return (int)length;
    }

    /// <summary>squares[i] = ‖T[:, i]‖², the part of <see cref="ColumnNorms"/> that depends on T alone (a caller whose
    /// table is frozen may keep it between calls): the rows of T added up in order, the same bits ColumnNorms forms.</summary>
    // t: (k, d), squares: (d)
    public static void ColumnSquares(int d, int k, ReadOnlySpan<float> t, Span<float> squares)
    {
        if (d < 0 || k < 0 || t.Length < (long)d * k || squares.Length < d)
            throw new ArgumentException($"ColumnSquares: T has {t.Length} floats (needs ({k}, {d})), squares {squares.Length} (needs {d}).");
        if (SpanOverlap.Overlaps(squares[..d], t[..(k * d)]))
            throw new ArgumentException($"ColumnSquares: squares ({d} elements) overlaps t; an output must not share memory with another operand.", nameof(squares));
        AddColumnSquares(d, k, t, squares[..d]);
    }

    static void AddColumnSquares(int d, int k, ReadOnlySpan<float> t, Span<float> squares)
    {
        squares.Clear();
        for (int j = 0; j < k; j++)
        {
            var row = t.Slice(j * d, d);
            Elementwise.BinaryAccumulate<MultiplyOperator>(row, row, squares);
        }
    }

    /// <summary>norms[i] = ‖T[:, i] + s·(B·A)_iᵀ‖₂ for every column i of T (k, d): <see cref="RowNorms"/> of W = Tᵀ
    /// without forming the transpose. <paramref name="columnSquares"/>, when given (d values), are ‖T[:, i]‖² from
    /// <see cref="ColumnSquares"/> and save the pass over T that computes them (same bits).</summary>
    /// <remarks>‖W_i‖² = Σ_j T_ji² (summed down the columns, k terms each), (W·Aᵀ)_it = (A·T)_ti (one GEMM, depth k),
    /// and the same r×r Gram matrix; so the error bound of <see cref="LoraNorms"/> holds unchanged.</remarks>
    // t: (k, d), a: (r, k), b: (d, r), scratch: ≥ ColumnScratchLength(d, r), norms: (d)
    public static void ColumnNorms(int d, int k, int r, float scale, ReadOnlySpan<float> t, ReadOnlySpan<float> a,
        ReadOnlySpan<float> b, Span<float> scratch, Span<float> norms, ReadOnlySpan<float> columnSquares = default)
    {
        Check(d, k, r, t, a, b, norms, transposed: true);
        if (!columnSquares.IsEmpty && columnSquares.Length != d)
            throw new ArgumentException($"ColumnNorms: columnSquares has {columnSquares.Length} values, expected {d} (one per column of T) or none.", nameof(columnSquares));
        if (scratch.Length < ColumnScratchLength(d, r))
            throw new ArgumentException($"ColumnNorms: scratch has {scratch.Length} floats, needs {ColumnScratchLength(d, r)} for T ({k}, {d}) and rank {r}.", nameof(scratch));
        Aliasing(true, t[..(k * d)], a[..(r * k)], b[..(d * r)], scratch[..ColumnScratchLength(d, r)], norms[..d], columnSquares);
        var at = scratch[..(r * d)];
        var gram = scratch.Slice(r * d, r * r);
        var squares = scratch.Slice(r * d + r * r, d);
        if (columnSquares.IsEmpty) AddColumnSquares(d, k, t, squares);
        else columnSquares.CopyTo(squares);
        if (r > 0 && k > 0 && d > 0)
        {
            Gemm.Sgemm(Transpose.No, Transpose.No, r, d, k, 1f, a, k, t, d, 0f, at, d); // (r, d) = A·T
            fixed (float* pa = a, pg = gram) LoraLowRank.Dot(r, r, k, pa, pa, pg); // (r, r) = A·Aᵀ
        }
        else
        {
            at.Clear();
            gram.Clear();
        }
        for (int i = 0; i < d; i++)
            norms[i] = Combine(r, scale, squares[i], r == 0 ? default : at[i..], d, gram, b.Slice(i * r, r));
    }

    /// <summary>Scalar twin and test oracle of <see cref="ColumnNorms"/>: each column T[:, i] + s·(B·A)_iᵀ formed
    /// element by element in double, one rounding at the end.</summary>
    public static void ColumnNormsReference(int d, int k, int r, float scale, ReadOnlySpan<float> t, ReadOnlySpan<float> a,
        ReadOnlySpan<float> b, Span<float> norms)
    {
        Check(d, k, r, t, a, b, norms, transposed: true);
        for (int i = 0; i < d; i++)
        {
            double sum = 0;
            for (int j = 0; j < k; j++)
            {
                double v = 0;
                for (int u = 0; u < r; u++) v += (double)b[i * r + u] * a[u * k + j];
                v = t[j * d + i] + (double)scale * v;
                sum += v * v;
            }
            norms[i] = (float)Math.Sqrt(sum);
        }
    }
}
