using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.IO;

/// <summary>One module an adapter trains in full (PEFT's <c>modules_to_save</c>): its parameters by local name
/// (<c>weight</c>, <c>bias</c>) in PyTorch's layout, stored under <c>base_model.model.{path}.{parameter}</c>.</summary>
/// <remarks>PEFT keeps the trained copy at <c>{path}.modules_to_save.{adapter}.{parameter}</c> in the model and removes
/// <c>modules_to_save.</c> and <c>.{adapter}</c> when it saves, so the file holds the module's own parameter names.</remarks>
public sealed class PeftSavedModule
{
    /// <summary>The module at <paramref name="modulePath"/> with <paramref name="parameters"/> (local name → tensor).</summary>
    /// <exception cref="ArgumentException">An empty or malformed path or parameter name, or no parameters.</exception>
    public PeftSavedModule(string modulePath, IReadOnlyDictionary<string, TensorData> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (Malformed(modulePath)) throw new ArgumentException($"modules_to_save: module path '{modulePath}' is empty or malformed.", nameof(modulePath));
        if (parameters.Count == 0) throw new ArgumentException($"modules_to_save: module '{modulePath}' has no parameters.", nameof(parameters));
        var sorted = new SortedDictionary<string, TensorData>(StringComparer.Ordinal);
        foreach (var (name, t) in parameters)
        {
            ArgumentNullException.ThrowIfNull(t, nameof(parameters));
            if (Malformed(name)) throw new ArgumentException($"modules_to_save: parameter name '{name}' of '{modulePath}' is empty or malformed.", nameof(parameters));
            sorted.Add(name, t);
        }
        ModulePath = modulePath;
        Parameters = sorted;
    }

    /// <summary>The module's path, e.g. <c>layers.2</c>.</summary>
    public string ModulePath { get; }

    /// <summary>The trained copy's parameters by local name (ordinal order), e.g. <c>weight</c> (out, in) and <c>bias</c> (out).</summary>
    public IReadOnlyDictionary<string, TensorData> Parameters { get; }

    /// <summary>The file key of parameter <paramref name="parameter"/>: <c>base_model.model.{path}.{parameter}</c>.</summary>
    public string KeyOf(string parameter) => KeyOf(ModulePath, parameter);

    /// <summary>The file key of a saved module's parameter.</summary>
    public static string KeyOf(string modulePath, string parameter) => PeftAdapter.KeyPrefix + modulePath + "." + parameter;

    internal static bool Malformed(string? path) =>
        string.IsNullOrEmpty(path) || path.StartsWith('.') || path.EndsWith('.') || path.Contains("..", StringComparison.Ordinal);

    /// <summary>The outermost module path <c>modules_to_save</c> selects among the dot-separated prefixes of
    /// <paramref name="rest"/> (a key without its <c>base_model.model.</c> prefix), or null: <c>layers.2</c> for
    /// <c>layers.2.weight</c>.</summary>
    internal static string? SavedPathOf(PeftAdapterConfig config, string rest)
    {
        if (config.ModulesToSave.Count == 0) return null;
        for (int dot = rest.IndexOf('.'); dot > 0; dot = rest.IndexOf('.', dot + 1))
            if (config.SavesModule(rest[..dot])) return rest[..dot];
        return null;
    }

    /// <summary>Checks the saved modules against the model's modules that <c>modules_to_save</c> selects (path →
    /// parameter local name → shape): each must exist, hold exactly the model's parameters, in the model's shapes.</summary>
    internal static void CheckAgainst(IReadOnlyList<PeftSavedModule> saved, IReadOnlyDictionary<string, Dictionary<string, int[]>> selected, string file)
    {
        foreach (var m in saved)
        {
            if (!selected.TryGetValue(m.ModulePath, out var shapes))
                throw Corrupt(file, Quote(m.KeyOf(m.Parameters.Keys.First())), $"unexpected key: modules_to_save selects no module '{m.ModulePath}' of the model");
            foreach (var (name, t) in m.Parameters)
            {
                if (!shapes.TryGetValue(name, out var shape))
                    throw Corrupt(file, Quote(m.KeyOf(name)), $"unexpected key: the model's module '{m.ModulePath}' has no parameter '{name}'");
                if (!t.HasShape(shape))
                    throw Corrupt(file, Quote(m.KeyOf(name)), $"has shape {TensorData.FormatShape(t.Shape)} but the model's '{m.ModulePath}.{name}' is {TensorData.FormatShape(shape)}");
            }
            foreach (var name in shapes.Keys.Order(StringComparer.Ordinal))
                if (!m.Parameters.ContainsKey(name))
                    throw Corrupt(file, Quote(m.KeyOf(name)), $"missing key: the model's module '{m.ModulePath}' is in modules_to_save");
        }
        foreach (var (path, shapes) in selected.OrderBy(s => s.Key, StringComparer.Ordinal))
            if (!saved.Any(m => m.ModulePath == path))
                throw Corrupt(file, Quote(KeyOf(path, shapes.Keys.Order(StringComparer.Ordinal).FirstOrDefault() ?? "weight")),
                    $"missing key: modules_to_save selects the model's module '{path}'");
    }
}
