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

    /// <summary>norms[i] = ‖T[:, i] + s·(B·A)_iᵀ‖₂ for every column i of T (k, d): <see cref="RowNorms"/> of W = Tᵀ
    /// without forming the transpose.</summary>
    /// <remarks>‖W_i‖² = Σ_j T_ji² (summed down the columns, k terms each), (W·Aᵀ)_it = (A·T)_ti (one GEMM, depth k),
    /// and the same r×r Gram matrix; so the error bound of <see cref="LoraNorms"/> holds unchanged.</remarks>
    // t: (k, d), a: (r, k), b: (d, r), scratch: ≥ ColumnScratchLength(d, r), norms: (d)
    public static void ColumnNorms(int d, int k, int r, float scale, ReadOnlySpan<float> t, ReadOnlySpan<float> a,
        ReadOnlySpan<float> b, Span<float> scratch, Span<float> norms)
    {
        Check(d, k, r, t, a, b, norms, transposed: true);
        if (scratch.Length < ColumnScratchLength(d, r))
            throw new ArgumentException($"ColumnNorms: scratch has {scratch.Length} floats, needs {ColumnScratchLength(d, r)} for T ({k}, {d}) and rank {r}.", nameof(scratch));
        Aliasing(true, t[..(k * d)], a[..(r * k)], b[..(d * r)], scratch[..ColumnScratchLength(d, r)], norms[..d], default);
        var at = scratch[..(r * d)];
        var gram = scratch.Slice(r * d, r * r);
        var squares = scratch.Slice(r * d + r * r, d);
        squares.Clear();
        for (int j = 0; j < k; j++)
        {
            var row = t.Slice(j * d, d);
            Elementwise.BinaryAccumulate<MultiplyOperator>(row, row, squares);
        }
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
