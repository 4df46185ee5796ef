using Lora.Core.Modules;

namespace Lora.Core.Lora;

/// <summary>Which modules of a model a <c>modules_to_save</c> list selects, and whether each can get a copy: the
/// rules <see cref="LoraModel.ApplyLora"/> and <see cref="LoraAdapterFiles"/> share.</summary>
internal static class ModulesToSaveSelection
{
    /// <summary>The modules a <c>modules_to_save</c> entry may select: every module except the root and the insides of
    /// LoRA layers and of <see cref="ModulesToSaveLayer"/>s (their <c>base_layer</c>, <c>original_module</c> and copies).</summary>
    public static IEnumerable<(string Path, Module Module)> Candidates(Module model) =>
        LoraModel.OutsideWrappers(model).Where(x => x.Path.Length > 0);

    /// <summary>The selected modules, or the first problem: a LoRA layer, a module LoRA will wrap, a type Lora cannot
    /// copy, or a module that already holds a copy for <paramref name="adapter"/>.</summary>
    /// <param name="saves">The suffix rule of the config (<c>path.EndsWith(name)</c> for some name).</param>
    /// <param name="loraTargets">True for a path that gets LoRA factors in the same adapter.</param>
    public static List<(string Path, Module Module)> Select(Module model, Func<string, bool> saves, Func<string, bool> loraTargets,
        string adapter, out string? problem)
    {
        problem = null;
        var selected = new List<(string, Module)>();
        foreach (var (path, m) in Candidates(model))
        {
            if (!saves(path)) continue;
            problem = m switch
            {
                LoraLayer => $"'{path}' is selected by modules_to_save but holds LoRA adapters; a module cannot be both in target_modules and modules_to_save",
                ModulesToSaveLayer w when w.HasCopy(adapter) => $"'{path}' already holds a modules_to_save copy for adapter '{adapter}'",
                ModulesToSaveLayer => null,
                _ when loraTargets(path) => $"'{path}' is selected by both target_modules and modules_to_save; PEFT trains a modules_to_save module in full and cannot put LoRA on it",
                _ when !ModulesToSaveLayer.CanCopy(m) => $"'{path}' (a {m.GetType().Name}) is selected by modules_to_save, but Lora can train full copies only of Linear, Conv2d and Embedding modules",
                _ => null,
            };
            if (problem is not null) return selected;
            selected.Add((path, m));
        }
        return selected;
    }

    /// <summary>The copy's parameters (local name → shape) the module at a selected path needs: the wrapped
    /// original's for an existing <see cref="ModulesToSaveLayer"/>.</summary>
    public static Dictionary<string, int[]> ParameterShapes(Module selected)
    {
        var m = selected is ModulesToSaveLayer w ? w.Original : selected;
        return m.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Shape.ToArray(), StringComparer.Ordinal);
    }

    /// <summary>Gives the module at <paramref name="path"/> a copy for <paramref name="adapter"/> (wrapping it first
    /// unless it is wrapped already), activates that copy and returns it.</summary>
    public static Module AddCopy(Module model, string path, Module selected, string adapter, IReadOnlyDictionary<string, float[]>? values = null)
    {
        if (selected is not ModulesToSaveLayer wrapper)
        {
            wrapper = new ModulesToSaveLayer(selected);
            LoraModel.ReplaceAt(model, path, wrapper);
        }
        var copy = wrapper.AddCopy(adapter, values);
        wrapper.SetActive(adapter);
        return copy;
    }
}
