using Lora.Autograd;
using Lora.Kernels;

namespace Lora.Core.Lora;

// DoRA's share of LoraLayer: the norms, the rule that a DoRA adapter is active alone, and its merge and unmerge. The
// weight is seen as (FanOut, FanIn) — a Linear's W, a convolution's kernel flattened per output channel, or an
// embedding table's transpose — and the norm is taken per output: per row of W, per output channel, per embedding
// dimension (PEFT's get_weight_norm for the three layer kinds).
public abstract partial class LoraLayer
{
    /// <summary>Why these adapters cannot be active together, or null. A DoRA adapter rescales each output row of the
    /// whole adapted weight, so stacking it with other adapters has no order-free meaning (PEFT's result depends on
    /// the order the adapters run in); we refuse it rather than pick one.</summary>
    internal string? DoraConflict(IReadOnlyCollection<LoraAdapter> adapters)
    {
        if (adapters.Count < 2) return null;
        var dora = adapters.FirstOrDefault(a => a.UseDora);
        return dora is null ? null
            : $"DoRA adapter '{dora.Name}' must be the only active adapter, but [{string.Join(", ", adapters.Select(a => a.Name))}] were chosen";
    }

    /// <summary>The DoRA adapter a forward runs, when one is active: null for plain LoRA adapters.</summary>
    /// <exception cref="InvalidOperationException">A DoRA adapter active with others (e.g. added on top of an active set).</exception>
    protected LoraAdapter? ActiveDora(ReadOnlySpan<LoraAdapter> active)
    {
        foreach (var a in active)
        {
            if (!a.UseDora) continue;
            if (active.Length > 1 && DoraConflict(active.ToArray()) is { } conflict)
                throw new InvalidOperationException($"Layer '{BaseWeight.Name}': {conflict}.");
            return a;
        }
        return null;
    }

    // ‖W_i‖² per output of the (FanOut, FanIn) view while W is frozen (a pass over all of W each step otherwise), with
    // W's unfreeze count when they were taken: dropped by BaseWeightChanged, stale once W has been unfrozen since (it
    // may have been trained). One immutable pair, so a reader never sees squares and count from two takes.
    sealed record KeptSquares(float[] Squares, long AtUnfreeze);
    KeptSquares? _keptSquares;

    // The frozen weight's squares for the norms, or none (computed inside them) while W trains. Two threads may both
    // compute them at first; either result is the same bits.
    ReadOnlySpan<float> FrozenSquares()
    {
        var w = BaseWeight;
        if (!w.Frozen) return default;
        if (Volatile.Read(ref _keptSquares) is { } kept && kept.AtUnfreeze == w.UnfreezeCount) return kept.Squares;
        var squares = new float[FanOut];
        if (Layout.Embedding) LoraNorms.ColumnSquares(FanOut, FanIn, w.Data, squares);
        else LoraNorms.RowSquares(FanOut, FanIn, w.Data, squares);
        Volatile.Write(ref _keptSquares, new KeptSquares(squares, w.UnfreezeCount));
        return squares;
    }

    /// <summary>c = m / ‖W + s·ΔW‖ per output (FanOut), the norm a constant of the backward.</summary>
    protected Tensor DoraScale(LoraAdapter ad)
    {
        var w = BaseWeight;
        var squares = FrozenSquares();
        var inverse = Layout.Embedding
            ? Ops.InverseColumnNorms(w, ad.A, ad.B, ad.Scale, squares)
            : Ops.InverseRowNorms(w, ad.A, ad.B, ad.Scale, squares);
        var m = ad.Magnitude!;
        return Ops.Mul(m.Shape.Rank == 1 ? m : Ops.Reshape(m, new Shape(FanOut)), inverse); // (FanOut)
    }

    /// <summary>norms[i] = ‖W_i + s·(B·A)_i‖ on the (FanOut, FanIn) view of the base weight, for flat factors.</summary>
    internal void DoraNorms(int rank, float scale, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> norms)
    {
        var w = BaseWeight.Data;
        if (Layout.Embedding)
            LoraNorms.ColumnNorms(FanOut, FanIn, rank, scale, w, a, b, new float[LoraNorms.ColumnScratchLength(FanOut, rank)], norms);
        else
            LoraNorms.RowNorms(FanOut, FanIn, rank, scale, w, a, b, new float[LoraNorms.ScratchLength(FanOut, rank)], norms);
    }

    /// <summary>W ← (m/n) ⊙ (W + s·ΔW) per output, n = ‖W + s·ΔW‖ (kept for <see cref="DoraUnmerge"/>, as PEFT caches
    /// it: the merged weight no longer tells it).</summary>
    /// <exception cref="InvalidOperationException">A zero magnitude on an output with a nonzero norm: the merged output
    /// would be 0 and could not be unmerged.</exception>
    void DoraMerge(LoraAdapter a)
    {
        var norms = new float[FanOut];
        DoraNorms(a.Rank, a.Scale, a.A.Data, a.B.Data, norms);
        var m = a.Magnitude!.Data;
        for (int i = 0; i < norms.Length; i++)
            if (m[i] == 0 && norms[i] != 0)
                throw new InvalidOperationException($"DoRA merge of '{BaseWeight.Name}': output {i} has magnitude 0 and norm {norms[i]}; the merged weight there would be 0 and could not be unmerged.");
        AddDelta(a, +1f);
        var factors = new float[FanOut];
        for (int i = 0; i < factors.Length; i++) factors[i] = norms[i] == 0 ? 0f : m[i] / norms[i];
        ScaleOutputs(factors);
        a.MergedNorms = norms;
    }

    /// <summary>W ← W·(n/m) − s·ΔW with the norms of the merge (an output merged to 0 by a zero norm comes back as
    /// −s·ΔW, which is what it was).</summary>
    void DoraUnmerge(LoraAdapter a)
    {
        var norms = a.MergedNorms!;
        var m = a.Magnitude!.Data;
        var factors = new float[FanOut];
        for (int i = 0; i < factors.Length; i++) factors[i] = norms[i] == 0 ? 0f : norms[i] / m[i];
        ScaleOutputs(factors);
        AddDelta(a, -1f);
        a.MergedNorms = null;
    }

    // Multiplies output i of the (FanOut, FanIn) view by factors[i]: rows of W, or columns of a transposed table.
    void ScaleOutputs(ReadOnlySpan<float> factors)
    {
        var w = BaseWeight.Data;
        int outs = FanOut, ins = FanIn;
        if (Layout.Embedding)
            for (int j = 0; j < ins; j++) Elementwise.Multiply(w.Slice(j * outs, outs), factors, w.Slice(j * outs, outs));
        else
            for (int i = 0; i < outs; i++) Elementwise.Scale(w.Slice(i * ins, ins), factors[i], w.Slice(i * ins, ins));
    }
}
