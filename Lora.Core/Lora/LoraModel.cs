using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Modules;

namespace Lora.Core.Lora;

/// <summary>Applying LoRA to a model and managing its adapters as a whole (PEFT's <c>get_peft_model</c>,
/// <c>merge_and_unload</c>, <c>set_adapter</c>, …) for every layer type <see cref="LoraLayerTypes"/> can wrap.</summary>
public static partial class LoraModel
{
    /// <summary>Wraps every adaptable layer (Linear, convolution, embedding: <see cref="LoraLayerTypes"/>) that
    /// <paramref name="config"/> targets in its <see cref="LoraLayer"/> (or adds an adapter to an already wrapped one), initialises the new adapter,
    /// gives every module <see cref="LoraConfig.ModulesToSave"/> selects a trainable full copy (<see cref="ModulesToSaveLayer"/>),
    /// makes the new adapter the model's active adapter (as <see cref="SetActiveAdapters"/> does: a layer holding only
    /// earlier adapters runs none), freezes everything except the new factors, those copies and the biases
    /// <see cref="LoraConfig.Bias"/> selects, and reports the cost.</summary>
    /// <remarks>Everything is validated before the model is touched: on an exception the model is unchanged.
    /// Initialisation draws from <paramref name="seed"/> in layer order, so the same seed gives the same adapter.</remarks>
    /// <exception cref="ArgumentException">No layer matches, a rank_pattern or alpha_pattern key selects no targeted layer,
    /// the adapter name exists already anywhere in the model, a LoRA layer is merged, a
    /// layer's rank (<see cref="LoraConfig.RankFor"/>) exceeds its min(in, out) (a larger rank cannot add expressiveness),
    /// a PiSSA target whose weight holds NaN or ∞, or a <see cref="LoraConfig.ModulesToSave"/> entry selects nothing, a LoRA target, or a module Lora cannot copy.</exception>
    public static LoraReport ApplyLora(this Module model, LoraConfig config, string adapterName = "default", ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrEmpty(adapterName);
        if (HoldersOf(model, adapterName) is { } holders)
            throw new ArgumentException($"The model already has an adapter named '{adapterName}' (on {holders}); a name stands for one adapter, so choose another or delete that one first.", nameof(adapterName));
        var candidates = AdaptableLayers(model).ToList();
        foreach (var (path, _) in model.ModulesToSaveLayers())
            if (config.TargetsExplicitly(path))
                throw new ArgumentException($"target_modules selects '{path}', a modules_to_save module trained in full; LoRA cannot wrap it.", nameof(config));
        var targets = candidates.Where(c => config.Targets(c.Path)).ToList();
        if (targets.Count == 0)
            throw new ArgumentException($"LoRA target_modules [{string.Join(", ", config.TargetModules)}]{LayersNote(config)} match no adaptable layer; the model's adaptable layers are [{string.Join(", ", candidates.Select(c => c.Path))}].", nameof(config));
        // Like an unmatched ModulesToSave entry, a pattern key that selects no targeted layer is a typo that would
        // silently leave ranks or alphas at the defaults.
        if (config.UnmatchedPatternKey(targets.Select(t => t.Path).ToList()) is var (property, key))
            throw new ArgumentException($"LoraConfig.{property} key '{key}' selects none of the targeted layers [{string.Join(", ", targets.Select(t => t.Path))}] (a key selects a layer path whole or from a dot).", nameof(config));
        foreach (var (path, layer) in targets)
        {
            var layout = LayoutOf(layer);
            int max = Math.Min(layout.FanIn, layout.Out), r = config.RankFor(path);
            if (r > max)
                throw new ArgumentException($"LoRA rank {r}{(r == config.R ? "" : " (from rank_pattern)")} exceeds layer '{path}', a {layout}: the rank must be at most min(fan_in, out) = {max}.", nameof(config));
            _ = config.AlphaFor(path); // a pattern that cannot be matched fails here, before anything changes
            // PiSSA runs an SVD of W and rewrites it: checked here, since a NaN or ∞ failing inside the loop below would
            // leave the earlier layers wrapped and their weights rewritten (and ∞ gives NaN factors without failing).
            if (config.Init == LoraInit.Pissa && NonFinite(layer) is { } bad)
                throw new ArgumentException($"LoraConfig.Init = Pissa: layer '{path}' has {bad}; PiSSA needs the singular vectors of a finite weight.", nameof(config));
        }
        // Every layer's active set changes (the new adapter becomes the model's active one), which a merged layer cannot.
        if (model.LoraLayers().FirstOrDefault(l => l.Layer.IsMerged) is { Path: { } mergedPath })
            throw new ArgumentException($"Layer '{mergedPath}' is merged; unmerge before adding an adapter.", nameof(model));

        var targetPaths = targets.Select(t => t.Path).ToHashSet(StringComparer.Ordinal);
        var saved = ModulesToSaveSelection.Select(model, config.SavesModule, targetPaths.Contains, adapterName, out string? problem);
        if (problem is not null) throw new ArgumentException(problem + ".", nameof(config));
        foreach (var name in config.ModulesToSave)
            if (!saved.Any(s => s.Path.EndsWith(name, StringComparison.Ordinal)))
                throw new ArgumentException($"LoraConfig.ModulesToSave entry '{name}' selects no module (a module is selected when its path ends with the entry).", nameof(config));

        long baseParams = BaseParameterCount(model);
        var rng = new SeededRandom(seed);
        var wrapped = new List<(string Path, LoraLayer Layer)>();
        foreach (var (path, layer) in targets)
        {
            var lora = layer as LoraLayer ?? Wrap(model, path, layer);
            var layerRng = rng.Fork();
            int r = config.RankFor(path);
            var a = new float[r * lora.FanIn];
            var b = new float[lora.FanOut * r];
            lora.InitializeFactors(config.Init, layerRng, r, config.ScaleFor(path), config.PissaIterations, a, b);
            var added = lora.AddAdapter(adapterName, r, config.AlphaFor(path), config.UseRsLora, config.Dropout, a, b, layerRng.NextUInt64(), config.UseDora);
            added.Bias = config.Bias;
            added.Init = config.Init;
            wrapped.Add((path, lora));
        }

        foreach (var (path, m) in saved) ModulesToSaveSelection.AddCopy(model, path, m, adapterName);
        // The new adapter becomes the model's active adapter, as after PEFT's set_adapter: a layer holding only an
        // earlier adapter runs none, so the adapter trains (and is later saved and loaded) with the outputs it will have alone.
        model.SetActiveAdapters(adapterName);

        MarkTrainable(model, adapterName, config.Bias);
        return Report(model, wrapped.Select(w => w.Path).ToList(), baseParams) with { ModulesToSave = saved.Select(s => s.Path).ToList() };
    }

    /// <summary>The paths of the LoRA layers and modules_to_save modules holding adapter <paramref name="adapterName"/>,
    /// comma-separated, or null when none does. Adding under a name some layer already holds would make one name
    /// stand for two adapters (saved together as one, switched together).</summary>
    internal static string? HoldersOf(Module model, string adapterName)
    {
        var paths = model.LoraLayers().Where(l => l.Layer.HasAdapter(adapterName)).Select(l => l.Path)
            .Concat(model.ModulesToSaveLayers().Where(w => w.Layer.HasCopy(adapterName)).Select(w => w.Path)).ToList();
        return paths.Count == 0 ? null : string.Join(", ", paths);
    }

    /// <summary>"'name'[i] = value" for the first NaN or ±∞ of the weight PiSSA would decompose, or null.</summary>
    static string? NonFinite(Module layer)
    {
        var w = layer is LoraLayer l ? l.BaseWeight : layer.NamedParameters().FirstOrDefault(p => p.Name == "weight").Parameter;
        if (w is null) return null;
        var data = w.Data;
        for (int i = 0; i < data.Length; i++)
            if (!float.IsFinite(data[i])) return $"'{w.Name}'[{i}] = {data[i].ToString(System.Globalization.CultureInfo.InvariantCulture)}";
        return null;
    }

    static string LayersNote(LoraConfig config) => config.LayersToTransform is { } layers
        ? $" restricted to {PeftLayers.Describe(layers, config.LayersPattern ?? [])} (a layer index is a number between dots after a named segment, e.g. model.layers.2.fc)"
        : "";

    static long BaseParameterCount(Module model) =>
        model.NamedParameters().Where(p => !IsLoraParameter(p.Name) && !ModulesToSaveLayer.IsCopyParameter(p.Name)).Sum(p => (long)p.Parameter.Length);

    /// <summary>Freezes everything except adapter <paramref name="adapterName"/>'s factors, its modules_to_save copies
    /// and the biases <paramref name="bias"/> selects (PEFT's <c>mark_only_lora_as_trainable</c>); the originals of
    /// modules_to_save modules and other adapters' copies stay frozen.</summary>
    /// <exception cref="ArgumentException">No LoRA layer or modules_to_save module holds <paramref name="adapterName"/>
    /// (a typo would otherwise freeze the whole model); nothing is changed.</exception>
    public static void MarkTrainable(this Module model, string adapterName, LoraBias bias)
    {
        ArgumentNullException.ThrowIfNull(model);
        RequireAdapter(model.LoraLayers().ToList(), model.ModulesToSaveLayers().ToList(), adapterName, nameof(adapterName));
        model.Freeze();
        foreach (var (_, lora) in model.LoraLayers())
        {
            if (!lora.HasAdapter(adapterName)) continue;
            var ad = lora.GetAdapter(adapterName);
            ad.SetFrozen(false);
            if (bias == LoraBias.LoraOnly && lora.BaseBias is { } b) b.Frozen = false;
        }
        if (bias == LoraBias.All)
            foreach (var (name, p) in model.NamedParameters())
                if (name == "bias" || name.EndsWith(".bias", StringComparison.Ordinal)) p.Frozen = false;
        foreach (var (_, w) in model.ModulesToSaveLayers())
        {
            w.Freeze();
            if (w.HasCopy(adapterName)) w.GetCopy(adapterName).Unfreeze();
        }
    }

    static void RequireAdapter(List<(string Path, LoraLayer Layer)> layers, List<(string Path, ModulesToSaveLayer Layer)> wrappers,
        string name, string parameter)
    {
        if (layers.Any(l => l.Layer.HasAdapter(name)) || wrappers.Any(w => w.Layer.HasCopy(name))) return;
        var known = layers.SelectMany(l => l.Layer.Adapters.Select(a => a.Name))
            .Concat(wrappers.SelectMany(w => w.Layer.AdapterNames)).Distinct().Order(StringComparer.Ordinal);
        throw new ArgumentException($"No LoRA layer or modules_to_save module holds an adapter named '{name}'; the model's adapters are [{string.Join(", ", known)}].", parameter);
    }

    /// <summary>The cost report for the model as it is now (trainable = not frozen).</summary>
    public static LoraReport Report(this Module model, int optimizerFloatsPerParameter = 2)
    {
        return Report(model, model.LoraLayers().Select(l => l.Path).ToList(), BaseParameterCount(model)) with
        {
            OptimizerFloatsPerParameter = optimizerFloatsPerParameter,
            ModulesToSave = model.ModulesToSaveLayers().Select(w => w.Path).ToList(),
        };
    }

    static LoraReport Report(Module model, IReadOnlyList<string> wrapped, long baseParams) => new()
    {
        WrappedModules = wrapped,
        TrainableParameters = model.TrainableParameterCount(),
        TotalParameters = model.ParameterCount(),
        BaseParameters = baseParams,
    };

    /// <summary>True for a LoRA factor's parameter name: <c>….lora_A.{adapter}.weight</c> / <c>lora_B</c> (Linear,
    /// convolution), <c>….lora_embedding_A.{adapter}</c> / <c>lora_embedding_B</c> (embedding), or a DoRA magnitude
    /// <c>….lora_magnitude_vector.{adapter}.weight</c>.</summary>
    public static bool IsLoraParameter(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var part in FactorNames)
            if (name.StartsWith(part, StringComparison.Ordinal) || name.Contains("." + part, StringComparison.Ordinal)) return true;
        return false;
    }

    static readonly string[] FactorNames = ["lora_A.", "lora_B.", "lora_embedding_A.", "lora_embedding_B.", "lora_magnitude_vector."];

    /// <summary>Layers LoRA can adapt (<see cref="LoraLayerTypes.CanWrap"/>) not inside a LoRA wrapper, and LoRA
    /// wrappers, with their paths; modules_to_save modules (<see cref="ModulesToSaveLayer"/>) and their insides are not adaptable.</summary>
    public static IEnumerable<(string Path, Module Layer)> AdaptableLayers(this Module model) =>
        OutsideWrappers(model).Where(x => x.Module is LoraLayer || LoraLayerTypes.CanWrap(x.Module));

    /// <summary>The model's modules with their paths, skipping the insides of LoRA layers (their <c>base_layer</c>) and
    /// of modules_to_save modules (<c>original_module</c>, the copies); the wrappers themselves are included.</summary>
    internal static IEnumerable<(string Path, Module Module)> OutsideWrappers(Module model)
    {
        var inside = new List<string>();
        foreach (var (path, m) in model.NamedModules())
        {
            if (inside.Exists(p => path.StartsWith(p, StringComparison.Ordinal))) continue;
            if (m is LoraLayer or ModulesToSaveLayer) inside.Add(path + ".");
            yield return (path, m);
        }
    }

    /// <summary>The factor layout of an adaptable layer or of a LoRA wrapper's base layer.</summary>
    public static PeftFactorLayout LayoutOf(Module layer) =>
        (layer is LoraLayer l ? l.Layout : LoraLayerTypes.LayoutOf(layer))
        ?? throw new ArgumentException($"LoRA cannot adapt a {layer.GetType().Name}.", nameof(layer));

    /// <summary>Every LoRA layer with its path.</summary>
    public static IEnumerable<(string Path, LoraLayer Layer)> LoraLayers(this Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        foreach (var (path, m) in model.NamedModules())
            if (m is LoraLayer l) yield return (path, l);
    }

    /// <summary>Wraps the adaptable layer at <paramref name="path"/> of <paramref name="model"/> in its LoRA layer.</summary>
    internal static LoraLayer Wrap(Module model, string path, Module layer)
    {
        var lora = LoraLayerTypes.Wrap(layer) ?? throw new ArgumentException($"LoRA cannot adapt layer '{path}', a {layer.GetType().Name}.", nameof(layer));
        ReplaceAt(model, path, lora);
        return lora;
    }

    /// <summary>Every modules_to_save module (<see cref="ModulesToSaveLayer"/>) with its path.</summary>
    public static IEnumerable<(string Path, ModulesToSaveLayer Layer)> ModulesToSaveLayers(this Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        foreach (var (path, m) in model.NamedModules())
            if (m is ModulesToSaveLayer w) yield return (path, w);
    }

    internal static void ReplaceAt(Module model, string path, Module replacement)
    {
        if (path.Length == 0) throw new ArgumentException("The root module itself cannot be replaced; wrap it in a container.");
        int dot = path.LastIndexOf('.');
        var parent = dot < 0 ? model : model.GetSubmodule(path[..dot]);
        parent.ReplaceChild(path[(dot + 1)..], replacement);
    }

    /// <summary>Merges the active adapters and replaces every LoRA layer by its base layer, and every modules_to_save
    /// module by the module it runs (the active copy, or the original when adapters are disabled or no copy is
    /// active): the model becomes a plain model computing base + adapters. Returns <paramref name="model"/>.</summary>
    public static T MergeAndUnload<T>(this T model) where T : Module
    {
        foreach (var (path, l) in model.LoraLayers().ToList())
        {
            var plain = l.MergeAndUnload();
            ReplaceAt(model, path, plain);
        }
        foreach (var (path, w) in model.ModulesToSaveLayers().ToList()) ReplaceAt(model, path, w.Running);
        return model;
    }
}
