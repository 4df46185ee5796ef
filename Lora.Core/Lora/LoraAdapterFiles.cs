using Lora.Core.IO;
using Lora.Core.Modules;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.Lora;

/// <summary>Saving and loading one named adapter of a model in PEFT's layout (<see cref="PeftAdapter"/>).</summary>
/// <remarks>
/// <para>Saved: <c>target_modules</c> = the exact paths of the wrapped layers (always valid for PEFT, whatever patterns
/// the <see cref="LoraConfig"/> used), r, lora_alpha, lora_dropout, use_rslora, use_dora, bias and init_lora_weights; the
/// factors under <c>base_model.model.{path}.lora_A.weight</c> / <c>.lora_B.weight</c> (and a DoRA adapter's magnitude
/// under <c>.lora_magnitude_vector</c>), and the chosen biases;
/// <c>modules_to_save</c> = the paths of the modules holding a copy for the adapter (<see cref="ModulesToSaveLayer"/>),
/// each copy's parameters under <c>base_model.model.{path}.{parameter}</c>.</para>
/// <para>Loading checks the whole adapter against the model (keys, shapes, r, targets) before changing anything: a
/// failed load leaves the model as it was. A PiSSA adapter only makes sense with the residual base model it was
/// trained against (as in PEFT): save that base with <see cref="ModelFiles.Save"/> too.</para>
/// </remarks>
public static class LoraAdapterFiles
{
    /// <summary>Builds the PEFT form of adapter <paramref name="adapterName"/> (copies of its tensors).</summary>
    /// <remarks>Layers may differ in rank and alpha: the file's <c>r</c> and <c>lora_alpha</c> are the most common ones
    /// (the first layer's on a tie) and every other layer gets an exact <c>rank_pattern</c> / <c>alpha_pattern</c> key
    /// (<c>^layers\.1</c>: its path, dots escaped, anchored), as PEFT reads them.</remarks>
    /// <exception cref="ArgumentException">No layer has the adapter, or its layers disagree on dropout, rsLoRA or the
    /// bias setting (PEFT's file holds one of each).</exception>
    public static PeftAdapter ToPeft(Module model, string adapterName = "default", string? baseModelNameOrPath = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var layers = model.LoraLayers().Where(l => l.Layer.HasAdapter(adapterName))
            .Select(l => (l.Path, l.Layer, Adapter: l.Layer.GetAdapter(adapterName))).ToList();
        if (layers.Count == 0) throw new ArgumentException($"No LoRA layer has an adapter named '{adapterName}'.", nameof(adapterName));
        var first = layers[0].Adapter;
        foreach (var (path, _, a) in layers)
            if (a.Dropout != first.Dropout || a.UseRsLora != first.UseRsLora || a.Bias != first.Bias || a.UseDora != first.UseDora)
                throw new ArgumentException($"Adapter '{adapterName}' has dropout={a.Dropout}, use_rslora={a.UseRsLora}, use_dora={a.UseDora}, bias={a.Bias} on '{path}' but dropout={first.Dropout}, use_rslora={first.UseRsLora}, use_dora={first.UseDora}, bias={first.Bias} on '{layers[0].Path}'; a PEFT file holds one setting.", nameof(adapterName));
        int r = MostCommon(layers.Select(l => l.Adapter.Rank));
        double alpha = MostCommon(layers.Select(l => l.Adapter.Alpha));
        var config = new PeftAdapterConfig
        {
            R = r,
            LoraAlpha = alpha,
            RankPattern = layers.Where(l => l.Adapter.Rank != r).OrderBy(l => l.Path, StringComparer.Ordinal)
                .Select(l => KeyValuePair.Create(PeftPatterns.Exact(l.Path), l.Adapter.Rank)).ToList(),
            AlphaPattern = layers.Where(l => l.Adapter.Alpha != alpha).OrderBy(l => l.Path, StringComparer.Ordinal)
                .Select(l => KeyValuePair.Create(PeftPatterns.Exact(l.Path), l.Adapter.Alpha)).ToList(),
            LoraDropout = first.Dropout,
            UseRsLora = first.UseRsLora,
            UseDora = first.UseDora,
            TargetModules = layers.Select(l => l.Path).ToArray(),
            Bias = first.Bias switch { LoraBias.All => PeftBias.All, LoraBias.LoraOnly => PeftBias.LoraOnly, _ => PeftBias.None },
            InitLoraWeights = first.Init switch { LoraInit.Gaussian => "gaussian", LoraInit.Pissa => "pissa", _ => "true" },
            BaseModelNameOrPath = baseModelNameOrPath,
            ModulesToSave = SavedPaths(model, adapterName),
        };
        var modules = layers.Select(l => new PeftLoraWeights(l.Path,
            new TensorData("lora_A", l.Layer.Layout.ShapeOfA(l.Adapter.Rank), l.Adapter.A.ToArray()),
            new TensorData("lora_B", l.Layer.Layout.ShapeOfB(l.Adapter.Rank), l.Adapter.B.ToArray()), l.Layer.Layout.Embedding,
            l.Adapter.Magnitude is { } m ? new TensorData("lora_magnitude_vector", l.Layer.Layout.ShapeOfMagnitude, m.ToArray()) : null));
        var biases = new Dictionary<string, TensorData>(StringComparer.Ordinal);
        if (first.Bias == LoraBias.LoraOnly)
            foreach (var (path, layer, _) in layers)
                if (layer.BaseBias is { } b) biases[path] = new TensorData("bias", [b.Length], b.ToArray());
        if (first.Bias == LoraBias.All)
            foreach (var (path, m) in model.AdaptableLayers())
                if (BiasOf(m) is { } b) biases[path] = new TensorData("bias", [b.Length], b.ToArray());
        var saved = model.ModulesToSaveLayers().Where(w => w.Layer.HasCopy(adapterName)).Select(w => new PeftSavedModule(w.Path,
            w.Layer.GetCopy(adapterName).NamedParameters().ToDictionary(p => p.Name, p => new TensorData(p.Name, p.Parameter.Shape.ToArray(), p.Parameter.ToArray()))));
        return PeftAdapter.Create(config, modules, biases, saved);
    }

    /// <summary>The paths of the modules holding a copy for the adapter, written as <c>modules_to_save</c> names; they
    /// must select exactly those modules again when loaded into this model (PEFT's suffix rule has no dot boundary).</summary>
    static string[] SavedPaths(Module model, string adapterName)
    {
        var paths = model.ModulesToSaveLayers().Where(w => w.Layer.HasCopy(adapterName)).Select(w => w.Path).Order(StringComparer.Ordinal).ToArray();
        foreach (var (path, m) in ModulesToSaveSelection.Candidates(model))
            if (paths.Any(p => path.EndsWith(p, StringComparison.Ordinal)) && !(m is ModulesToSaveLayer w && w.HasCopy(adapterName)))
                throw new ArgumentException($"Adapter '{adapterName}': modules_to_save {string.Join(", ", paths)} would also select '{path}', which has no copy; the file could not be loaded back.", nameof(adapterName));
        return paths;
    }

    static T MostCommon<T>(IEnumerable<T> values) where T : notnull =>
        values.Select((v, i) => (v, i)).GroupBy(x => x.v).OrderByDescending(g => g.Count()).ThenBy(g => g.Min(x => x.i)).First().Key;

    /// <summary>Writes adapter <paramref name="adapterName"/> into <paramref name="directory"/> (each file atomically).</summary>
    public static void Save(Module model, string directory, string adapterName = "default", string? baseModelNameOrPath = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ToPeft(model, adapterName, baseModelNameOrPath).Save(directory);
    }

    /// <summary>Reads a PEFT adapter directory and applies it to <paramref name="model"/> as <paramref name="adapterName"/>:
    /// its LoRA factors, its trained biases, and a copy of each module its <c>modules_to_save</c> selects
    /// (<see cref="ModulesToSaveLayer"/>); the loaded adapter becomes the model's active adapter, as after
    /// <see cref="LoraModel.ApplyLora"/> (a layer holding only other adapters runs none).</summary>
    /// <param name="trainable">True: only this adapter (and its saved biases' layers per <c>bias</c>) train afterwards, as
    /// after <see cref="LoraModel.ApplyLora"/>; false: every parameter is frozen (inference).</param>
    /// <exception cref="InvalidDataException">A corrupt file or an adapter that does not fit the model, naming the file
    /// and key; the model is unchanged.</exception>
    /// <exception cref="FileNotFoundException">A missing file; the model is unchanged.</exception>
    public static void Load(Module model, string directory, string adapterName = "default", bool trainable = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        Apply(model, PeftAdapter.Load(directory), adapterName, trainable);
    }

    /// <summary>Applies an in-memory PEFT adapter (see <see cref="Load"/>).</summary>
    public static void Apply(Module model, PeftAdapter adapter, string adapterName = "default", bool trainable = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(adapter);
        ArgumentException.ThrowIfNullOrEmpty(adapterName);
        // 1. Validate everything against the model without touching it.
        var layers = model.AdaptableLayers().ToDictionary(l => l.Path, l => l.Layer, StringComparer.Ordinal);
        var layouts = layers.ToDictionary(l => l.Key, l => LoraModel.LayoutOf(l.Value), StringComparer.Ordinal);
        adapter.CheckCompatible(layouts);
        if (LoraModel.HoldersOf(model, adapterName) is { } holders)
            throw Corrupt(adapter.Source, Quote(adapter.Modules[0].KeyA), $"the model already has an adapter named '{adapterName}' (on {holders}); load this one under another name");
        if (model.LoraLayers().FirstOrDefault(l => l.Layer.IsMerged) is { Path: { } mergedPath })
            throw Corrupt(adapter.Source, Quote(adapter.Modules[0].KeyA), $"the model's layer '{mergedPath}' is merged; unmerge it before loading an adapter");
        foreach (var (path, _) in adapter.Biases)
            if (BiasOf(layers[path]) is null)
                throw Corrupt(adapter.Source, Quote(PeftAdapter.KeyBias(path)), $"the model's layer '{path}' has no bias");
        var c = adapter.Config;
        var loraPaths = adapter.Modules.Select(m => m.ModulePath).ToHashSet(StringComparer.Ordinal);
        var selected = ModulesToSaveSelection.Select(model, c.SavesModule, loraPaths.Contains, adapterName, out string? problem);
        if (problem is not null) throw Corrupt(adapter.Source, "modules_to_save", problem);
        adapter.CheckSavedModules(selected.ToDictionary(s => s.Path, s => ModulesToSaveSelection.ParameterShapes(s.Module), StringComparer.Ordinal));
        var copies = adapter.SavedModules.ToDictionary(m => m.ModulePath, m => m.Parameters.ToDictionary(p => p.Key, p => p.Value.Data, StringComparer.Ordinal), StringComparer.Ordinal);
        var bias = c.Bias switch { PeftBias.All => LoraBias.All, PeftBias.LoraOnly => LoraBias.LoraOnly, _ => LoraBias.None };
        var alphas = adapter.Modules.ToDictionary(m => m.ModulePath, m => c.AlphaFor(m.ModulePath), StringComparer.Ordinal);
        var init = c.InitLoraWeights switch { "gaussian" => LoraInit.Gaussian, var s when s.StartsWith("pissa", StringComparison.Ordinal) => LoraInit.Pissa, _ => LoraInit.KaimingUniform };

        // 2. Assign (nothing below can fail on valid input).
        foreach (var m in adapter.Modules)
        {
            var lora = layers[m.ModulePath] as LoraLayer ?? LoraModel.Wrap(model, m.ModulePath, layers[m.ModulePath]);
            var added = lora.AddAdapter(adapterName, m.Rank, alphas[m.ModulePath], c.UseRsLora, c.LoraDropout, m.A.Data, m.B.Data,
                DropoutSeed(adapterName, m.ModulePath), useDora: m.Magnitude != null);
            m.Magnitude?.Data.CopyTo(added.Magnitude!.Data);
            added.Bias = bias;
            added.Init = init;
        }
        foreach (var (path, t) in adapter.Biases)
        {
            var target = model.GetSubmodule(path);
            t.Data.CopyTo(BiasOf(target)!.Data);
        }
        foreach (var (path, m) in selected) ModulesToSaveSelection.AddCopy(model, path, m, adapterName, copies[path]);
        model.SetActiveAdapters(adapterName); // the model's active adapter everywhere, as after ApplyLora
        if (trainable) model.MarkTrainable(adapterName, bias);
        else model.Freeze();
    }

    /// <summary>A loaded adapter's dropout seed for one layer: FNV-1a over the adapter name and module path, so that
    /// every layer draws its own masks (with one seed for all, layers of equal width dropped the same inputs) and the
    /// same load gives the same masks.</summary>
    static ulong DropoutSeed(string adapterName, string modulePath)
    {
        ulong h = 14695981039346656037UL;
        foreach (char ch in adapterName + "/" + modulePath) h = (h ^ ch) * 1099511628211UL;
        return h;
    }

    /// <summary>The bias of an adaptable layer or of a LoRA wrapper's base layer, or null.</summary>
    static Autograd.Parameter? BiasOf(Module layer) => layer is LoraLayer l ? l.BaseBias : layer.NamedParameters().FirstOrDefault(p => p.Name == "bias").Parameter;
}
