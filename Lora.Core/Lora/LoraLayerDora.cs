namespace Lora.Core.Lora;

// DoRA's share of LoraLayer: the rule that a DoRA adapter is active alone, and its merge and unmerge.
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

    /// <summary>W ← (m/n) ⊙ (W + s·B·A) row by row, n = ‖W + s·B·A‖ (kept for <see cref="DoraUnmerge"/>).</summary>
    void DoraMerge(LoraAdapter a)
    {
        var norms = new float[FanOut];
        LoraMath.DoraMerge(BaseWeight.Data, FanOut, FanIn, a.Rank, a.Scale, a.A.Data, a.B.Data, a.Magnitude!.Data, norms, BaseWeight.Name);
        a.MergedNorms = norms;
    }

    /// <summary>W ← W·(n/m) − s·B·A with the norms of the merge.</summary>
    void DoraUnmerge(LoraAdapter a)
    {
        LoraMath.DoraUnmerge(BaseWeight.Data, FanOut, FanIn, a.Rank, a.Scale, a.A.Data, a.B.Data, a.Magnitude!.Data, a.MergedNorms!);
        a.MergedNorms = null;
    }
}
