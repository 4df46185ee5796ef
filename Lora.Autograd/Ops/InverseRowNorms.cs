using Lora.Kernels;

namespace Lora.Autograd;

public static partial class Ops
{
    /// <summary>
    /// DoRA's inverse weight norm as a constant: y_i = 1/‖W_i + s·(B·A)_i‖₂ for W (d, k), A (r, k), B (d, r); a zero
    /// norm gives 0. No gradient flows through it.
    /// </summary>
    /// <remarks>
    /// <para>DoRA (Liu et al., 2024, §4.3) and PEFT treat the column norm of the adapted weight as a constant during
    /// backpropagation, so the magnitude m gets dm = Σ_rows dy ⊙ ŷ / ‖·‖ and the factors get the LoRA gradient scaled
    /// by m/‖·‖; this op is that constant. The norms come from <see cref="LoraNorms.RowNorms"/> (B·A never formed
    /// whole). A zero norm (a zero row of W with a zero update) maps to 0 rather than ∞: the row's output is then 0,
    /// as its weight is, instead of NaN.</para>
    /// <para>The tensors are read flat: W (d, …) as (d, k) with k the product of its other dimensions, A (r, …) as
    /// (r, k) and B (d, r, 1, …) as (d, r) — a convolution's kernel (out, in, kh, kw) with PEFT's factors
    /// (r, in, kh, kw) and (out, r, 1, 1).</para>
    /// </remarks>
    /// <param name="rowSquares">‖W_i‖² per row (<see cref="LoraNorms.RowSquares"/>) kept by a caller whose W is
    /// frozen, or empty to compute them.</param>
    public static Tensor InverseRowNorms(Tensor w, Tensor a, Tensor b, float scale, ReadOnlySpan<float> rowSquares = default)
    {
        const string op = "InverseRowNorms";
        RequireRank(op, w, 2);
        RequireRank(op, a, 2);
        RequireRank(op, b, 2);
        int d = w.Shape[0], k = Trailing(w.Shape), r = a.Shape[0];
        if (Trailing(a.Shape) != k) throw new ArgumentException($"{op}: {a.Describe()} must be (r, …) with {k} values per row, as W {w.Describe()} has.");
        if (b.Shape[0] != d || Trailing(b.Shape) != r) throw Mismatch(op, $"B must be ({d}, r) with the r of A (trailing dimensions of 1 allowed)", b, a);
        if (!float.IsFinite(scale)) throw new ArgumentException($"{op}: scale {scale} must be finite.", nameof(scale));
        var tape = Tape.Current;
        var y = tape.NewTensor(new Shape(d));
        int scratchLength = LoraNorms.ScratchLength(d, r);
        var scratch = tape.Pool.RentFloats(scratchLength);
        LoraNorms.RowNorms(d, k, r, scale, w.Data, a.Data, b.Data, scratch.AsSpan(0, scratchLength), y.Data, rowSquares);
        tape.Pool.Return(scratch);
        return tape.Finish(op, Invert(y));
    }

    /// <summary>
    /// The same constant for a weight stored transposed: y_i = 1/‖T[:, i] + s·(B·A)_iᵀ‖₂ for T (k, d), A (r, k),
    /// B (d, r) — an embedding table (num, dim) with PEFT's factors, whose DoRA norm runs over each embedding
    /// dimension (<see cref="LoraNorms.ColumnNorms"/>). No gradient flows through it; a zero norm gives 0.
    /// </summary>
    /// <param name="columnSquares">‖T[:, i]‖² per column (<see cref="LoraNorms.ColumnSquares"/>) kept by a caller whose
    /// table is frozen, or empty to compute them.</param>
    public static Tensor InverseColumnNorms(Tensor t, Tensor a, Tensor b, float scale, ReadOnlySpan<float> columnSquares = default)
    {
        const string op = "InverseColumnNorms";
        RequireRank(op, t, 2, 2);
        RequireRank(op, a, 2, 2);
        RequireRank(op, b, 2, 2);
        int k = t.Shape[0], d = t.Shape[1], r = a.Shape[0];
        if (a.Shape[1] != k) throw new ArgumentException($"{op}: {a.Describe()} must be (r, {k}) for T {t.Describe()}.");
        if (b.Shape[0] != d || b.Shape[1] != r) throw Mismatch(op, $"B must be ({d}, r) with the r of A", b, a);
        if (!float.IsFinite(scale)) throw new ArgumentException($"{op}: scale {scale} must be finite.", nameof(scale));
        var tape = Tape.Current;
        var y = tape.NewTensor(new Shape(d));
        int scratchLength = LoraNorms.ColumnScratchLength(d, r);
        var scratch = tape.Pool.RentFloats(scratchLength);
        LoraNorms.ColumnNorms(d, k, r, scale, t.Data, a.Data, b.Data, scratch.AsSpan(0, scratchLength), y.Data, columnSquares);
        tape.Pool.Return(scratch);
        return tape.Finish(op, Invert(y));
    }

    static Tensor Invert(Tensor y)
    {
        var inv = y.Data;
        for (int i = 0; i < inv.Length; i++) inv[i] = inv[i] == 0f ? 0f : 1f / inv[i]; // NaN stays NaN
        return y;
    }

    // The product of the dimensions after the first: the columns of the tensor seen as a matrix.
    static int Trailing(Shape s)
    {
        long n = 1;
        for (int i = 1; i < s.Rank; i++) n *= s[i];
        return (int)n;
    }
}
