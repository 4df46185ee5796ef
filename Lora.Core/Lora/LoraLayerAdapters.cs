using Lora.Autograd;
using Lora.Kernels;

namespace Lora.Core.Lora;

// LoraLayer's adapter set: adding (validated, with DoRA's magnitude), deleting and combining adapters.
public abstract partial class LoraLayer
{
    /// <summary>Adds an adapter with the given flat factors (copied), A (rank, FanIn) and B (FanOut, rank), and makes it
    /// active. With <paramref name="useDora"/> it is a DoRA adapter whose magnitude starts at ‖W + s·B·A‖ per output
    /// row, so the layer's output is unchanged by adding it.</summary>
    /// <exception cref="ArgumentException">A duplicate or invalid name, wrong lengths, or bad alpha or dropout.</exception>
    /// <exception cref="InvalidOperationException">The layer is merged: a merged layer's forward is the base layer's, so
    /// the new active adapter would be left out until an unmerge (call <see cref="Unmerge"/> first).</exception>
    public LoraAdapter AddAdapter(string name, int rank, double alpha, bool useRsLora, double dropout,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, ulong seed = 0, bool useDora = false)
    {
        var adapter = Register(name, rank, alpha, useRsLora, dropout, a, b, seed, useDora: useDora);
        _active.Add(adapter);
        Refresh();
        return adapter;
    }

    // Validates and registers a new, inactive adapter; the merged check comes after the argument checks, so bad
    // arguments are reported as such whatever the layer's state.
    LoraAdapter Register(string name, int rank, double alpha, bool useRsLora, double dropout,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, ulong seed, bool whileMerged = false, bool useDora = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Contains('.')) throw new ArgumentException($"Adapter name '{name}' must not contain a dot.", nameof(name));
        if (HasAdapter(name)) throw new ArgumentException($"Layer already has an adapter '{name}'.", nameof(name));
        if (rank < 1) throw new ArgumentException($"Adapter '{name}': rank {rank} must be at least 1.", nameof(rank));
        CheckFactorLengths(rank, a.Length, b.Length, name);
        if (!(double.IsFinite(alpha) && alpha > 0)) throw new ArgumentException($"Adapter '{name}': alpha {alpha} must be finite and positive.", nameof(alpha));
        if (!(dropout >= 0 && dropout < 1)) throw new ArgumentException($"Adapter '{name}': dropout {dropout} must be in [0, 1).", nameof(dropout));
        if (IsMerged && !whileMerged)
            throw new InvalidOperationException(
                $"Cannot add adapter '{name}' to LoRA layer '{BaseWeight.Name}' while it is merged: its forward is the merged base layer's and would leave the new adapter out. Call Unmerge() first.");
        var layout = Layout;
        string nameA = NameOfA(name), nameB = NameOfB(name);
        var pa = new Parameter(nameA, a.ToArray(), new Shape(layout.ShapeOfA(rank)));
        var pb = new Parameter(nameB, b.ToArray(), new Shape(layout.ShapeOfB(rank)));
        RegisterParameter(nameA, pa);
        RegisterParameter(nameB, pb);
        Parameter? magnitude = null;
        if (useDora)
        {
            float scale = LoraAdapter.ScaleOf(alpha, rank, useRsLora);
            var norms = new float[FanOut];
            DoraNorms(rank, scale, a, b, norms);
            magnitude = new Parameter(NameOfMagnitude(name), norms, new Shape(layout.ShapeOfMagnitude));
            RegisterParameter(magnitude.Name, magnitude);
        }
        var adapter = new LoraAdapter(name, pa, pb, magnitude, alpha, useRsLora, (float)dropout, seed);
        _adapters.Add(adapter);
        return adapter;
    }

    void CheckFactorLengths(int rank, int aLength, int bLength, string? name = null)
    {
        if (rank < 1 || aLength != (long)rank * FanIn || bLength != (long)FanOut * rank)
            throw new ArgumentException($"{(name is null ? "LoRA" : $"Adapter '{name}'")}: A has {aLength} and B {bLength} elements, expected rank ≥ 1 and ({rank}, {FanIn}) and ({FanOut}, {rank}) flat.");
    }

    /// <summary>Removes an adapter (unmerging the layer first if that adapter is merged). When it was the last
    /// active adapter and others remain, the first remaining one in ordinal name order becomes active (trainable
    /// unless the adapters are disabled), as PEFT's <c>delete_adapter</c> does: the same choice on every layer
    /// holding the same adapters.</summary>
    public void DeleteAdapter(string name)
    {
        var a = GetAdapter(name);
        if (_merged.Contains(a)) Unmerge();
        UnregisterParameter(NameOfA(name));
        UnregisterParameter(NameOfB(name));
        if (a.Magnitude != null) UnregisterParameter(NameOfMagnitude(name));
        _adapters.Remove(a);
        bool lastActive = _active.Remove(a) && _active.Count == 0;
        if (lastActive && _adapters.Count > 0) _active.Add(_adapters.MinBy(x => x.Name, StringComparer.Ordinal)!);
        SetTrainable();
        Refresh();
    }

    /// <summary>Why these adapters cannot be combined by <see cref="AddWeightedAdapter"/>, or null. A DoRA delta is not
    /// linear in the factors (the magnitude rescales each row), so no concatenation is exact.</summary>
    internal string? CombineProblem(IEnumerable<string> sources) =>
        sources.FirstOrDefault(s => GetAdapter(s).UseDora) is { } dora ? $"adapter '{dora}' is a DoRA adapter; only plain LoRA adapters combine exactly" : null;

    /// <summary>Adds adapter <paramref name="newName"/> whose delta is exactly Σ weight_i·s_i·ΔW_i over the named
    /// adapters, by concatenating their ranks (rank Σr_i, alpha = rank so s = 1). The new adapter is not activated, and
    /// its factors are frozen until it is (<see cref="SetActiveAdapters"/>), as in PEFT.</summary>
    public LoraAdapter AddWeightedAdapter(string newName, IReadOnlyList<(string Adapter, float Weight)> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        if (sources.Count == 0) throw new ArgumentException("AddWeightedAdapter: no source adapters given.", nameof(sources));
        if (CombineProblem(sources.Select(s => s.Adapter)) is { } problem) throw new ArgumentException($"AddWeightedAdapter: {problem}.", nameof(sources));
        var parts = sources.Select(s => { var a = GetAdapter(s.Adapter); return (a.A.ToArray(), a.B.ToArray(), a.Rank, a.Scale, s.Weight); }).ToList();
        var (ca, cb, rank) = LoraMath.Concatenate(FanOut, FanIn, parts);
        // Not activated, so it changes no forward and may be added to a merged layer too.
        var added = Register(newName, rank, rank, useRsLora: false, 0, ca, cb, seed: 0, whileMerged: true);
        // Inactive, so frozen (PEFT's set_adapter rule) until chosen: an optimizer built now must not decay it.
        added.SetFrozen(true);
        return added;
    }
}
