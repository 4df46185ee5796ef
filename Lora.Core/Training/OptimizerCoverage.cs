using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;

namespace Lora.Core.Training;

/// <summary>Whether an optimizer can train a model at all (<see cref="Trainer"/> checks it when built and when fitting).</summary>
internal static class OptimizerCoverage
{
    /// <summary>Why the optimizer cannot train the model, or null. It cannot when every slot is a parameter (slots
    /// over raw memory cannot be checked) and none of them is a trainable parameter of the model: the optimizer was
    /// built before <c>ApplyLora</c> froze the base weights, or over another model. Such a run would train nothing.
    /// Nor when a trainable adapter parameter (a LoRA factor or a modules_to_save copy) has no slot: the optimizer was
    /// built before that adapter was added, and the run would train the rest (biases, say) and silently leave the
    /// adapter as initialised. An optimizer over part of a model without adapters (a head, say) is accepted.</summary>
    public static string? Problem(Module model, Optimizer optimizer)
    {
        var slots = optimizer.Slots;
        foreach (var s in slots) if (s.Parameter is null) return null;
        var own = new Dictionary<Parameter, bool>(ReferenceEqualityComparer.Instance);
        foreach (var p in model.Parameters()) own[p] = !p.Frozen;
        int frozen = 0;
        foreach (var s in slots)
            if (own.TryGetValue(s.Parameter!, out bool trainable))
            {
                if (trainable) return MissingAdapterParameters(model, slots);
                frozen++;
            }
        string head = $"The optimizer's {slots.Count} parameters (the first is '{slots[0].Name}')";
        string what = frozen == slots.Count ? $"{head} are all frozen in this model"
            : frozen == 0 ? $"{head} are not in this model (another model's, or removed from it)"
            : $"Of the optimizer's {slots.Count} parameters (the first is '{slots[0].Name}'), {frozen} are frozen in this model and {slots.Count - frozen} are not in it";
        return $"{what}, so it would update none of the model's {model.TrainableParameterCount():N0} trainable elements. " +
            "Build the optimizer from this model after applying LoRA, choosing adapters or freezing, e.g. TrainableSlots.AdamW(model, schedule); " +
            "disabled adapters are frozen until EnableAdapters.";
    }

    static string? MissingAdapterParameters(Module model, IReadOnlyList<OptimizerSlot> slots)
    {
        var covered = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        foreach (var s in slots) covered.Add(s.Parameter!);
        var missing = model.TrainableParameters()
            .Where(p => (LoraModel.IsLoraParameter(p.Name) || ModulesToSaveLayer.IsCopyParameter(p.Name)) && !covered.Contains(p.Parameter))
            .Select(p => p.Name).ToList();
        if (missing.Count == 0) return null;
        string names = missing.Count <= 4 ? string.Join(", ", missing) : $"{string.Join(", ", missing.Take(4))}, … ({missing.Count} in all)";
        return $"The model's trainable adapter parameters [{names}] are not in the optimizer, so training would leave them as initialised " +
            "(the optimizer was built before that adapter was added or enabled). Build the optimizer from the model as it is now, " +
            "e.g. TrainableSlots.AdamW(model, schedule), or freeze those parameters.";
    }
}
