using Lora.Core.Modules;

namespace Lora.Core.Lora;

// The model-wide adapter operations: merge, unmerge, disable, enable, choose, delete, combine.
public static partial class LoraModel
{
    /// <summary>Merges the active adapters of every LoRA layer into its W (modules_to_save copies need no merging:
    /// the active one already runs).</summary>
    public static void MergeAdapters(this Module model) { foreach (var (_, l) in model.LoraLayers().ToList()) l.Merge(); }

    /// <summary>Unmerges every LoRA layer.</summary>
    public static void UnmergeAdapters(this Module model) { foreach (var (_, l) in model.LoraLayers().ToList()) l.Unmerge(); }

    /// <summary>Disables every LoRA layer's adapters and every modules_to_save copy (forward = base model).</summary>
    public static void DisableAdapters(this Module model)
    {
        foreach (var (_, l) in model.LoraLayers().ToList()) l.DisableAdapters();
        foreach (var (_, w) in model.ModulesToSaveLayers()) w.Disable();
    }

    /// <summary>Enables every LoRA layer's adapters and modules_to_save copies again.</summary>
    public static void EnableAdapters(this Module model)
    {
        foreach (var (_, l) in model.LoraLayers().ToList()) l.EnableAdapters();
        foreach (var (_, w) in model.ModulesToSaveLayers()) w.Enable();
    }

    /// <summary>Sets the active adapters of every LoRA layer to the named adapters it holds (none, so the base layer
    /// alone, when it holds none of them), as PEFT's <c>set_adapter</c> does; every modules_to_save module runs the
    /// copy of the one named adapter it holds, or its original when it holds none of them.</summary>
    /// <exception cref="ArgumentException">A name that no LoRA layer and no modules_to_save module holds (PEFT raises
    /// for it too: a typo would otherwise change nothing, silently), or a modules_to_save module that holds copies for
    /// two of the names (one copy runs at a time, as in PEFT), or a layer where a DoRA adapter would run with another;
    /// nothing is changed.</exception>
    /// <exception cref="InvalidOperationException">A merged LoRA layer whose active adapters would change (unmerge
    /// first); nothing is changed.</exception>
    public static void SetActiveAdapters(this Module model, params string[] names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var wrappers = model.ModulesToSaveLayers().ToList();
        var layers = model.LoraLayers().ToList();
        foreach (string name in names) RequireAdapter(layers, wrappers, name, nameof(names));
        foreach (var (path, w) in wrappers)
            if (names.Count(w.HasCopy) > 1)
                throw new ArgumentException($"modules_to_save module '{path}' holds copies for {string.Join(" and ", names.Where(w.HasCopy))}; only one copy can run at a time.", nameof(names));
        // A layer lacking some or all of the names runs those it holds: it must not keep running an adapter that was
        // not chosen (PEFT's layers skip the names they lack).
        var chosen = layers.Select(l => names.Where(l.Layer.HasAdapter).Distinct().ToArray()).ToList();
        for (int i = 0; i < layers.Count; i++)
        {
            var l = layers[i].Layer;
            if (l.IsMerged && !l.ActiveAdapters.Select(a => a.Name).Order(StringComparer.Ordinal).SequenceEqual(chosen[i].Order(StringComparer.Ordinal)))
                throw new InvalidOperationException($"Cannot change the active adapters of merged layer '{layers[i].Path}'; call UnmergeAdapters() first.");
            // The layer's own DoRA rule, asked here so that no earlier layer has been switched when it refuses.
            if (l.DoraConflict(chosen[i].Select(l.GetAdapter).ToList()) is { } conflict)
                throw new ArgumentException($"Layer '{layers[i].Path}': {conflict}; nothing was changed.", nameof(names));
        }
        for (int i = 0; i < layers.Count; i++)
            if (!layers[i].Layer.IsMerged) layers[i].Layer.SetActiveAdapters(chosen[i]);
        foreach (var (_, w) in wrappers) w.SetActive(names.FirstOrDefault(w.HasCopy));
    }

    /// <summary>Deletes adapter <paramref name="name"/> from every layer that has it, its modules_to_save copies included.
    /// As in PEFT, a layer that ran it as its last active adapter then runs its first remaining adapter in ordinal
    /// name order (see <see cref="LoraLayer.DeleteAdapter"/>), and a modules_to_save module whose active copy is
    /// deleted runs the copy of the adapter the model's first LoRA layer now runs, or its original when it holds no
    /// such copy. <see cref="LoraLayer.ActiveAdapters"/> tells what runs afterwards.</summary>
    public static void DeleteAdapter(this Module model, string name)
    {
        var all = model.LoraLayers().ToList();
        var layers = all.Where(l => l.Layer.HasAdapter(name)).ToList();
        var wrappers = model.ModulesToSaveLayers().Where(w => w.Layer.HasCopy(name)).ToList();
        if (layers.Count == 0 && wrappers.Count == 0) throw new ArgumentException($"No LoRA layer has an adapter '{name}'.", nameof(name));
        foreach (var (_, l) in layers) l.DeleteAdapter(name);
        // PEFT takes the new active adapter for its auxiliary modules from the first tuner layer of the model.
        string? next = all.Count > 0 ? all[0].Layer.ActiveAdapters.Select(a => a.Name).FirstOrDefault() : null;
        foreach (var (_, w) in wrappers)
        {
            bool wasActive = w.ActiveAdapter == name;
            w.DeleteCopy(name);
            if (wasActive && next != null && w.HasCopy(next)) w.SetActive(next);
        }
    }

    /// <summary>Adds <paramref name="newName"/> = Σ weight·(source delta), exactly, on every layer holding any of the
    /// sources (a layer without a source adds nothing for it, as in PEFT's <c>add_weighted_adapter</c>), so that running
    /// the new adapter runs the weighted sum of the sources everywhere.</summary>
    /// <exception cref="ArgumentException">A source no LoRA layer holds, a <paramref name="newName"/> the model already holds
    /// or holds a DoRA source, or a source with modules_to_save copies: a weighted sum of fully trained modules is not a
    /// LoRA delta, and dropping them would change the model (PEFT also refuses to combine modules_to_save adapters);
    /// nothing is changed.</exception>
    public static void AddWeightedAdapter(this Module model, string newName, IReadOnlyList<(string Adapter, float Weight)> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentException.ThrowIfNullOrEmpty(newName);
        if (HoldersOf(model, newName) is { } holders)
            throw new ArgumentException($"The model already has an adapter named '{newName}' (on {holders}); a name stands for one adapter; nothing was changed.", nameof(newName));
        foreach (var (path, w) in model.ModulesToSaveLayers())
            foreach (var (adapter, _) in sources)
                if (w.HasCopy(adapter))
                    throw new ArgumentException($"Adapter '{adapter}' trains '{path}' in full (modules_to_save); AddWeightedAdapter combines LoRA deltas only.", nameof(sources));
        // Every layer holding some source: one holding only a was left without the new adapter, so choosing it there
        // ran nothing (or kept running a at full weight) instead of weight·a.
        var layers = model.LoraLayers().Where(l => sources.Any(s => l.Layer.HasAdapter(s.Adapter))).ToList();
        foreach (var (adapter, _) in sources)
            if (!layers.Exists(l => l.Layer.HasAdapter(adapter)))
                throw new ArgumentException($"No LoRA layer holds adapter '{adapter}'.", nameof(sources));
        foreach (var (path, l) in layers)
        {
            if (l.CombineProblem(sources.Select(s => s.Adapter).Where(l.HasAdapter)) is { } problem)
                throw new ArgumentException($"AddWeightedAdapter on layer '{path}': {problem}; nothing was changed.", nameof(sources));
        }
        foreach (var (_, l) in layers) l.AddWeightedAdapter(newName, sources.Where(s => l.HasAdapter(s.Adapter)).ToList());
    }
}
