namespace Lora.Kernels;

/// <summary>Row norms of a weight plus its low-rank update, ‖W_i + s·(B·A)_i‖₂ — DoRA's weight norm — computed a
/// block of rows at a time, so B·A is never formed whole. With its scalar double-precision twin.</summary>
/// <remarks>
/// Shapes: W (d, k), A (r, k), B (d, r). Each block of <see cref="BlockRows"/> rows is W's rows plus one GEMM,
/// s·B_block·A, in <c>scratch</c>; each norm is then √(Σ v²) over the block's row. Error per norm: every v carries
/// one rounded product-sum, |δv_c| ≤ (r + 1)·2⁻²⁴·(|W_ic| + s·Σ_t|B_it||A_tc|), and the sum of squares adds a
/// relative (k + 1)·2⁻²⁴, so |n̂ − n| ≤ ‖δv‖ + (k/2 + 2)·2⁻²⁴·n.
/// </remarks>
public static class LoraNorms
{
    /// <summary>Rows per block: 32 rows of a 1024-wide layer are 128 KB of scratch, inside L2.</summary>
    public const int BlockRows = 32;

    /// <summary>Floats of scratch <see cref="RowNorms"/> needs: min(d, <see cref="BlockRows"/>)·k.</summary>
    public static int ScratchLength(int d, int k) => Math.Min(d, BlockRows) * k;

    /// <summary>norms[i] = ‖W_i + s·(B·A)_i‖₂ for every row i of W.</summary>
    // w: (d, k), a: (r, k), b: (d, r), scratch: ≥ ScratchLength(d, k), norms: (d)
    public static void RowNorms(int d, int k, int r, float scale, ReadOnlySpan<float> w, ReadOnlySpan<float> a,
        ReadOnlySpan<float> b, Span<float> scratch, Span<float> norms)
    {
        Check(d, k, r, w, a, b, norms);
        if (scratch.Length < ScratchLength(d, k))
            throw new ArgumentException($"RowNorms: scratch has {scratch.Length} floats, needs {ScratchLength(d, k)} for W ({d}, {k}).", nameof(scratch));
        for (int i0 = 0; i0 < d; i0 += BlockRows)
        {
            int rows = Math.Min(BlockRows, d - i0);
            var block = scratch[..(rows * k)];
            w.Slice(i0 * k, rows * k).CopyTo(block);
            if (r > 0) Gemm.Sgemm(Transpose.No, Transpose.No, rows, k, r, scale, b.Slice(i0 * r, rows * r), r, a, k, 1f, block, k);
            for (int i = 0; i < rows; i++)
            {
                var row = block.Slice(i * k, k);
                norms[i0 + i] = MathF.Sqrt(Reductions.Dot(row, row));
            }
        }
    }

    /// <summary>Scalar twin and test oracle of <see cref="RowNorms"/>: every sum in double, one rounding at the end.</summary>
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

    static void Check(int d, int k, int r, ReadOnlySpan<float> w, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> norms)
    {
        if (d < 0 || k < 0 || r < 0) throw new ArgumentException($"RowNorms: W ({d}, {k}) and rank {r} must be non-negative.");
        if (w.Length < (long)d * k || a.Length < (long)r * k || b.Length < (long)d * r || norms.Length < d)
            throw new ArgumentException($"RowNorms: W has {w.Length} floats (needs ({d}, {k})), A {a.Length} (needs ({r}, {k})), B {b.Length} (needs ({d}, {r})), norms {norms.Length} (needs {d}).");
    }
}
