namespace Lora.Kernels;

/// <summary>Row norms of a weight plus its low-rank update, ‖W_i + s·(B·A)_i‖₂ — DoRA's weight norm — from thin
/// products only, so B·A is never formed. With its scalar double-precision twin.</summary>
/// <remarks>
/// Shapes: W (d, k), A (r, k), B (d, r). Expanding the square,
/// ‖W_i + s·B_i·A‖² = ‖W_i‖² + 2s·Σ_t (W·Aᵀ)_it·B_it + s²·B_i·(A·Aᵀ)·B_iᵀ: one pass over W for W·Aᵀ (the LoRA layer's
/// thin product, <see cref="LoraLowRank.Dot"/>), one for the squares, and the r×r Gram matrix A·Aᵀ; the O(d·r²) rest in
/// double. That is about a tenth of the time of adding s·B·A to W a block at a time and taking norms.
/// Error: every float dot product has depth ≤ k, so with M = |W| + s·|B|·|A| (element-wise magnitudes),
/// |n̂² − n²| ≤ (k + 4)·2⁻²⁴·‖M_i‖², and |n̂ − n| ≤ that / (n̂ + n) + 2⁻²⁴·n. The expansion loses relative accuracy
/// only when the update nearly cancels the row (n ≪ ‖M_i‖); a negative rounded square is clamped to 0.
/// </remarks>
public static unsafe partial class LoraNorms
{
    /// <summary>Floats of scratch <see cref="RowNorms"/> needs: d·r + r·r (W·Aᵀ and A·Aᵀ).</summary>
    /// <exception cref="ArgumentException">A negative size, or more than int.MaxValue floats (one span cannot hold
    /// them; the product is formed in 64 bits so that it cannot wrap to a small length the kernel would overrun).</exception>
    public static int ScratchLength(int d, int r)
    {
        if (d < 0 || r < 0) throw new ArgumentException($"RowNorms: W's rows {d} and rank {r} must be non-negative.");
        long length = (long)d * r + (long)r * r;
        if (length > int.MaxValue)
            throw new ArgumentException($"RowNorms: the scratch for {d} rows and rank {r} (d·r + r·r = {length} floats) exceeds int.MaxValue.");
        return (int)length;
    }

    /// <summary>squares[i] = ‖W_i‖², the part of <see cref="RowNorms"/> that depends on W alone (a caller whose W is
    /// frozen may keep it between calls).</summary>
    // w: (d, k), squares: (d)
    public static void RowSquares(int d, int k, ReadOnlySpan<float> w, Span<float> squares)
    {
        if (d < 0 || k < 0 || w.Length < (long)d * k || squares.Length < d)
            throw new ArgumentException($"RowSquares: W has {w.Length} floats (needs ({d}, {k})), squares {squares.Length} (needs {d}).");
        SpanOverlap.Disjoint("RowSquares", "squares", squares[..d], "w", w[..(d * k)]); // written while later rows are read
        for (int i = 0; i < d; i++)
        {
            var row = w.Slice(i * k, k);
            squares[i] = Reductions.Dot(row, row);
        }
    }

    /// <summary>norms[i] = ‖W_i + s·(B·A)_i‖₂ for every row i of W; <paramref name="rowSquares"/>, when given (d
    /// values), are ‖W_i‖² from <see cref="RowSquares"/> and save the pass over W that computes them (same bits).</summary>
    // w: (d, k), a: (r, k), b: (d, r), scratch: ≥ ScratchLength(d, r), norms: (d), rowSquares: (d) or empty
    public static void RowNorms(int d, int k, int r, float scale, ReadOnlySpan<float> w, ReadOnlySpan<float> a,
        ReadOnlySpan<float> b, Span<float> scratch, Span<float> norms, ReadOnlySpan<float> rowSquares = default)
    {
        Check(d, k, r, w, a, b, norms);
        if (!rowSquares.IsEmpty && rowSquares.Length != d)
            throw new ArgumentException($"RowNorms: rowSquares has {rowSquares.Length} values, expected {d} (one per row of W) or none.", nameof(rowSquares));
        if (scratch.Length < ScratchLength(d, r))
            throw new ArgumentException($"RowNorms: scratch has {scratch.Length} floats, needs {ScratchLength(d, r)} for W ({d}, {k}) and rank {r}.", nameof(scratch));
        Aliasing(false, w[..(d * k)], a[..(r * k)], b[..(d * r)], scratch[..ScratchLength(d, r)], norms[..d], rowSquares);
        var wa = scratch[..(d * r)];
        var gram = scratch.Slice(d * r, r * r);
        if (r > 0 && k > 0)
        {
            fixed (float* pw = w, pa = a, pwa = wa, pg = gram)
            {
                LoraLowRank.Dot(d, r, k, pw, pa, pwa);   // (d, r) = W·Aᵀ
                LoraLowRank.Dot(r, r, k, pa, pa, pg);    // (r, r) = A·Aᵀ
            }
        }
        else
        {
            wa.Clear();
            gram.Clear();
        }
        for (int i = 0; i < d; i++)
            norms[i] = Combine(r, scale, rowSquares.IsEmpty ? Reductions.Dot(w.Slice(i * k, k), w.Slice(i * k, k)) : rowSquares[i],
                wa.Slice(i * r, r), 1, gram, b.Slice(i * r, r));
    }

    // ‖W_i‖² + 2s·Σ_t (W·Aᵀ)_it·B_it + s²·B_i·(A·Aᵀ)·B_iᵀ in double, then √ (a negative rounded square clamped to 0).
    // wa holds row i's r thin-product values at stride waStride (1 for W·Aᵀ (d, r), d for A·T (r, d)).
    static float Combine(int r, float scale, double square, ReadOnlySpan<float> wa, int waStride, ReadOnlySpan<float> gram, ReadOnlySpan<float> bi)
    {
        double s = scale, cross = 0, quad = 0;
        for (int t = 0; t < r; t++)
        {
            double bt = bi[t], gb = 0;
            cross += wa[t * waStride] * bt;
            for (int u = 0; u < r; u++) gb += gram[t * r + u] * (double)bi[u];
            quad += bt * gb;
        }
        return (float)Math.Sqrt(Math.Max(square + 2 * s * cross + s * s * quad, 0));
    }

    /// <summary>Scalar twin and test oracle of <see cref="RowNorms"/>: the row W_i + s·B_i·A formed element by element
    /// in double, one rounding at the end.</summary>
    public static void RowNormsReference(int d, int k, int r, float scale, ReadOnlySpan<float> w, ReadOnlySpan<float> a,
        ReadOnlySpan<float> b, Span<float> norms)
    {
        Check(d, k, r, w, a, b, norms);
        for (int i = 0; i < d; i++)
        {
            double sum = 0;
            for (int c = 0; c < k; c++)
            {
                double v = 0;
                for (int t = 0; t < r; t++) v += (double)b[i * r + t] * a[t * k + c];
                v = w[i * k + c] + (double)scale * v;
                sum += v * v;
            }
            norms[i] = (float)Math.Sqrt(sum);
        }
    }

    static void Check(int d, int k, int r, ReadOnlySpan<float> w, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> norms,
        bool transposed = false)
    {
        if (d < 0 || k < 0 || r < 0) throw new ArgumentException($"{Op(transposed)}: {Weight(d, k, transposed)} and rank {r} must be non-negative.");
        if (w.Length < (long)d * k || a.Length < (long)r * k || b.Length < (long)d * r || norms.Length < d)
            throw new ArgumentException($"{Op(transposed)}: {(transposed ? 'T' : 'W')} has {w.Length} floats (needs {Weight(d, k, transposed)[2..]}), A {a.Length} (needs ({r}, {k})), B {b.Length} (needs ({d}, {r})), norms {norms.Length} (needs {d}).");
    }

    /// <summary>The scratch and the norms are written while W (T), A, B and the kept squares are still read, so none
    /// may share memory with them (nor with each other); only the parts the sizes use are compared.</summary>
    static void Aliasing(bool transposed, ReadOnlySpan<float> w, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> scratch,
        ReadOnlySpan<float> norms, ReadOnlySpan<float> rowSquares)
    {
        string names = transposed ? "t|a|b|norms|columnSquares" : "w|a|b|norms|rowSquares";
        SpanOverlap.DisjointFromAll(Op(transposed), "scratch", scratch, names, w, a, b, norms, rowSquares);
        SpanOverlap.DisjointFromAll(Op(transposed), "norms", norms, names, w, a, b, default, rowSquares);
    }

    // Built only when a check fails: the kernels allocate nothing per call.
    static string Op(bool transposed) => transposed ? "ColumnNorms" : "RowNorms";

    static string Weight(int d, int k, bool transposed) => transposed ? $"T ({k}, {d})" : $"W ({d}, {k})";
}
