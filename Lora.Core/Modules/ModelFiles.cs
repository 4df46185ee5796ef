using System.Text.Json;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Models;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.Modules;

/// <summary>Saving and loading a model of any registered architecture (<see cref="ModelTypes"/>) as a checkpoint
/// directory: <c>model.safetensors</c> with PyTorch's names + <c>config.json</c> (see <see cref="ModelCheckpoint{TConfig}"/>).</summary>
/// <remarks>
/// A model is saveable when it implements <see cref="IConfiguredModel"/> (<see cref="Mlp"/> and the demo models do).
/// A LoRA-wrapped model saves and loads its <em>base</em> weights under the plain names (<c>layers.0.weight</c>, not
/// <c>layers.0.base_layer.weight</c>); adapters go to their own files (<see cref="LoraAdapterFiles"/>). To save base +
/// adapter as one plain model, <see cref="LoraModel.MergeAndUnload"/> first. <see cref="Load"/> dispatches on the
/// <c>model_type</c> of <c>config.json</c>. Loading reads and checks both files completely before assigning anything,
/// so a failed load leaves the model as it was.
/// </remarks>
public static class ModelFiles
{
    /// <summary>Writes the base weights and the config of <paramref name="model"/> into <paramref name="directory"/>
    /// (each file atomically).</summary>
    /// <exception cref="ArgumentException">The model does not implement <see cref="IConfiguredModel"/>.</exception>
    /// <exception cref="InvalidOperationException">A LoRA layer is merged: its W is not the base weight.</exception>
    public static void Save(Module model, string directory, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ToCheckpoint(model).Save(directory, metadata);
    }

    /// <summary>The base weights as an in-memory checkpoint (copies).</summary>
    /// <exception cref="ArgumentException">The model does not implement <see cref="IConfiguredModel"/>, or its
    /// parameters are not its config's.</exception>
    /// <exception cref="InvalidOperationException">A LoRA layer is merged.</exception>
    public static ModelCheckpoint<IModelConfig> ToCheckpoint(Module model)
    {
        var config = ConfigOf(model);
        var shapes = config.ExpectedTensors().ToDictionary(t => t.Name, t => t.Shape, StringComparer.Ordinal);
        var tensors = new List<TensorData>();
        foreach (var (name, p) in BaseParameters(model))
        {
            if (!shapes.TryGetValue(name, out var shape))
                throw new ArgumentException($"Parameter '{name}' of the {model.GetType().Name} is not in its config ({config.Summary}).", nameof(model));
            tensors.Add(new TensorData(name, shape, p.ToArray()));
        }
        return ModelCheckpoint<IModelConfig>.Create(config, tensors);
    }

    /// <summary>Reads a checkpoint directory of any registered <c>model_type</c> into a new model (modules start in
    /// training mode).</summary>
    /// <exception cref="InvalidDataException">A corrupt or inconsistent file, or an unknown <c>model_type</c>, naming the
    /// file and key.</exception>
    /// <exception cref="FileNotFoundException">A missing file.</exception>
    public static Module Load(string directory)
    {
        var checkpoint = ModelCheckpoint<IModelConfig>.Load(directory, ModelTypes.ReadConfig);
        var model = ModelTypes.CreateEmpty(checkpoint.Config);
        Assign(model, checkpoint);
        return model;
    }

    /// <summary>Reads a checkpoint directory that must hold a <typeparamref name="T"/>, e.g. <c>Load&lt;Mlp&gt;(dir)</c>.</summary>
    /// <exception cref="InvalidDataException">The checkpoint holds another model type, or is corrupt.</exception>
    public static T Load<T>(string directory) where T : Module
    {
        var model = Load(directory);
        return model as T ?? throw Corrupt(Path.Combine(directory, ModelCheckpoint.ConfigFileName), "model_type",
            $"'{ConfigOf(model).ModelType}' is a {model.GetType().Name}, not a {typeof(T).Name}");
    }

    /// <summary>Loads a checkpoint's weights into an existing model of the same architecture (base weights of LoRA
    /// layers included; adapters untouched).</summary>
    /// <exception cref="InvalidDataException">The files are corrupt or describe another architecture; the model is unchanged.</exception>
    /// <exception cref="InvalidOperationException">A LoRA layer is merged; the model is unchanged.</exception>
    public static void LoadInto(Module model, string directory)
    {
        var config = ConfigOf(model);
        var checkpoint = ModelCheckpoint<IModelConfig>.Load(directory, ModelTypes.ReadConfig);
        if (!checkpoint.Config.Equals(config))
            throw Corrupt(Path.Combine(directory, ModelCheckpoint.ConfigFileName), FirstDifference(checkpoint.Config, config),
                $"describes {checkpoint.Config.Summary} ({Compact(checkpoint.Config)}), but the model is {config.Summary} ({Compact(config)})");
        _ = BaseParameters(model).ToList(); // throws for a merged layer before anything is written
        Assign(model, checkpoint);
    }

    /// <summary>A new model of the same architecture holding a copy of <paramref name="model"/>'s base weights (no
    /// adapters; training mode).</summary>
    public static T Clone<T>(T model) where T : Module
    {
        var checkpoint = ToCheckpoint(model);
        var copy = (T)ModelTypes.CreateEmpty(checkpoint.Config);
        Assign(copy, checkpoint);
        return copy;
    }

    static IModelConfig ConfigOf(Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model is IConfiguredModel c ? c.Config
            : throw new ArgumentException($"A {model.GetType().Name} has no config.json form: only models implementing IConfiguredModel can be saved.", nameof(model));
    }

    static void Assign(Module model, ModelCheckpoint<IModelConfig> checkpoint)
    {
        foreach (var (name, p) in BaseParameters(model).ToList()) checkpoint.Tensors[name].Data.CopyTo(p.Data);
        foreach (var (_, l) in model.LoraLayers()) l.RefreshBaseWeight();
    }

    /// <summary>(checkpoint name, parameter) of every base weight, looking through LoRA wrappers: a wrapper's
    /// <c>base_layer.</c> parameters (a modules_to_save module's <c>original_module.</c> ones) under the wrapper's own
    /// path, its adapter factors (copies) skipped.</summary>
    static IEnumerable<(string Name, Autograd.Parameter Parameter)> BaseParameters(Module model)
    {
        var wrappers = new List<(string Prefix, string Inner)>();
        foreach (var (path, layer) in model.LoraLayers())
        {
            if (layer.IsMerged)
                throw new InvalidOperationException($"Layer '{path}' is merged, so its weight is not the base weight; Unmerge() first, or MergeAndUnload() to save base + adapter as a plain model.");
            wrappers.Add((path + ".", "base_layer."));
        }
        // A modules_to_save module's base weights are its frozen original's; its copies belong to adapters.
        foreach (var (path, _) in model.ModulesToSaveLayers()) wrappers.Add((path + ".", ModulesToSaveLayer.OriginalName + "."));
        foreach (var (name, p) in model.NamedParameters())
        {
            var (wrapper, inner) = wrappers.Find(w => name.StartsWith(w.Prefix, StringComparison.Ordinal));
            if (wrapper is null) yield return (name, p);
            else if (name.AsSpan(wrapper.Length).StartsWith(inner, StringComparison.Ordinal))
                yield return (wrapper + name[(wrapper.Length + inner.Length)..], p);
        }
    }

    /// <summary>The first top-level key of config.json whose value differs (model_type first).</summary>
    static string FirstDifference(IModelConfig a, IModelConfig b)
    {
        if (a.ModelType != b.ModelType) return "model_type";
        using var ja = JsonDocument.Parse(a.ToJson());
        using var jb = JsonDocument.Parse(b.ToJson());
        foreach (var p in ja.RootElement.EnumerateObject())
            if (!jb.RootElement.TryGetProperty(p.Name, out var q) || q.GetRawText() != p.Value.GetRawText()) return p.Name;
        return "model_type";
    }

    static string Compact(IModelConfig c) => c.ToJson().ReplaceLineEndings(" ").Replace("  ", "").Replace("{ ", "{").Replace(" }", "}").Trim();
}
