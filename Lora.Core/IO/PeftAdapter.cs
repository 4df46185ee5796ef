using System.Text.RegularExpressions;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.IO;

/// <summary>A LoRA adapter in PEFT's layout: <c>adapter_config.json</c> plus <c>adapter_model.safetensors</c>.</summary>
/// <remarks>
/// <para>Tensor keys: <c>base_model.model.{path}.lora_A.weight</c> (r, in) and <c>base_model.model.{path}.lora_B.weight</c>
/// (out, r) for a Linear layer; (r, in, kh, kw) and (out, r, 1, 1) under the same keys for a convolution;
/// <c>base_model.model.{path}.lora_embedding_A</c> (r, num) and <c>.lora_embedding_B</c> (dim, r) for an embedding
/// (see <see cref="PeftFactorLayout"/>); with bias <c>all</c> or <c>lora_only</c>, <c>base_model.model.{path}.bias</c> (out);
/// and for each module <c>modules_to_save</c> selects, its whole trained copy: <c>base_model.model.{path}.{parameter}</c>
/// (<see cref="PeftSavedModule"/>). A key whose module path (or a dot-separated prefix of it) <c>modules_to_save</c>
/// selects belongs to that module; a module cannot have both LoRA factors and a saved copy.</para>
/// <para>An instance is only ever complete and consistent: <see cref="Load"/> parses both files and checks every key,
/// shape and the config's <c>r</c> before returning, and <see cref="CheckCompatible(IReadOnlyDictionary{string, PeftFactorLayout})"/> checks it against a model's
/// Linear layers without touching them, so a caller can validate fully before changing anything.</para>
/// </remarks>
public sealed class PeftAdapter
{
    /// <summary>The config file inside an adapter directory.</summary>
    public const string ConfigFileName = "adapter_config.json";

    /// <summary>The weights file inside an adapter directory.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>The prefix PEFT puts before module paths: the PeftModel's <c>base_model</c> (LoraModel) and its <c>model</c>.</summary>
    public const string KeyPrefix = "base_model.model.";

    const string SuffixBias = ".bias";

    PeftAdapter(PeftAdapterConfig config, IReadOnlyList<PeftLoraWeights> modules, IReadOnlyDictionary<string, TensorData> biases,
        IReadOnlyList<PeftSavedModule> savedModules, string source)
    {
        Config = config;
        Modules = modules;
        Biases = biases;
        SavedModules = savedModules;
        Source = source;
    }

    /// <summary>The adapter's configuration.</summary>
    public PeftAdapterConfig Config { get; }

    /// <summary>The LoRA factors per wrapped layer, ordered by module path.</summary>
    public IReadOnlyList<PeftLoraWeights> Modules { get; }

    /// <summary>Trained biases by module path (empty for bias <c>none</c>).</summary>
    public IReadOnlyDictionary<string, TensorData> Biases { get; }

    /// <summary>The modules trained in full (<c>modules_to_save</c>), ordered by module path; empty when none.</summary>
    public IReadOnlyList<PeftSavedModule> SavedModules { get; }

    /// <summary>The weights file this adapter was read from (or "adapter" when built in memory), for messages.</summary>
    public string Source { get; }

    /// <summary>The key of a Linear or convolution layer's A: <c>base_model.model.{path}.lora_A.weight</c>.</summary>
    public static string KeyA(string modulePath) => PeftFactorLayout.KeyOf(modulePath, embedding: false, a: true);

    /// <summary>The key of a Linear or convolution layer's B: <c>base_model.model.{path}.lora_B.weight</c>.</summary>
    public static string KeyB(string modulePath) => PeftFactorLayout.KeyOf(modulePath, embedding: false, a: false);

    /// <summary>The key of a saved bias: <c>base_model.model.{path}.bias</c>.</summary>
    public static string KeyBias(string modulePath) => KeyPrefix + modulePath + SuffixBias;

    /// <summary>Builds an adapter in memory with the same checks as <see cref="Load"/>.</summary>
    /// <exception cref="ArgumentException">The tensors disagree with the config or each other.</exception>
    /// <param name="savedModules">The copies of the modules <c>modules_to_save</c> selects, or null for none.</param>
    public static PeftAdapter Create(PeftAdapterConfig config, IEnumerable<PeftLoraWeights> modules,
        IReadOnlyDictionary<string, TensorData>? biases = null, IEnumerable<PeftSavedModule>? savedModules = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(modules);
        config.Validate(null);
        var tensors = new List<TensorData>();
        foreach (var m in modules)
        {
            ArgumentNullException.ThrowIfNull(m, nameof(modules));
            tensors.Add(m.A.Clone(m.KeyA));
            tensors.Add(m.B.Clone(m.KeyB));
            if (m.Magnitude != null) tensors.Add(m.Magnitude.Clone(m.KeyMagnitude));
        }
        foreach (var (path, bias) in biases ?? new Dictionary<string, TensorData>())
            tensors.Add(bias.Clone(KeyBias(path)));
        foreach (var m in savedModules ?? [])
            foreach (var (name, t) in m.Parameters) tensors.Add(t.Clone(m.KeyOf(name)));
        try
        {
            return FromTensors(config, tensors, "adapter");
        }
        catch (InvalidDataException e)
        {
            throw new ArgumentException(e.Message, nameof(modules), e);
        }
    }

    /// <summary>Reads <c>adapter_config.json</c> and <c>adapter_model.safetensors</c> from <paramref name="directory"/>.</summary>
    /// <exception cref="InvalidDataException">Either file is corrupt, a key is missing or unexpected, shapes disagree,
    /// or the config's <c>r</c> disagrees with the tensors; the message names the file and the key.</exception>
    /// <exception cref="FileNotFoundException">A file is missing, or <paramref name="directory"/> is a file.</exception>
    /// <exception cref="DirectoryNotFoundException"><paramref name="directory"/> does not exist.</exception>
    public static PeftAdapter Load(string directory)
    {
        RequireDirectory(directory, $"{ConfigFileName} and {WeightsFileName}");
        var config = PeftAdapterConfig.Read(Path.Combine(directory, ConfigFileName));
        string weightsPath = Path.Combine(directory, WeightsFileName);
        var file = SafeTensors.Read(weightsPath);
        return FromTensors(config, file.Tensors, weightsPath);
    }

    /// <summary>Writes both files into <paramref name="directory"/> (created if missing), each atomically, weights first.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var tensors = new List<TensorData>();
        foreach (var m in Modules)
        {
            tensors.Add(new TensorData(m.KeyA, m.A.Shape, m.A.Data));
            tensors.Add(new TensorData(m.KeyB, m.B.Shape, m.B.Data));
            if (m.Magnitude != null) tensors.Add(new TensorData(m.KeyMagnitude, m.Magnitude.Shape, m.Magnitude.Data));
        }
        foreach (var (path, bias) in Biases) tensors.Add(new TensorData(KeyBias(path), bias.Shape, bias.Data));
        foreach (var m in SavedModules)
            foreach (var (name, t) in m.Parameters) tensors.Add(new TensorData(m.KeyOf(name), t.Shape, t.Data));
        // PEFT saves adapters with this metadata; keep the files interchangeable.
        SafeTensors.Write(Path.Combine(directory, WeightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        Config.Write(Path.Combine(directory, ConfigFileName));
    }

    /// <summary>Checks this adapter against a model's Linear layers (module path → (out, in)) without changing anything.</summary>
    /// <exception cref="InvalidDataException">A mismatch, naming the adapter's weights file and the key.</exception>
    public void CheckCompatible(IReadOnlyDictionary<string, (int Out, int In)> linears)
    {
        ArgumentNullException.ThrowIfNull(linears);
        CheckCompatible(linears.ToDictionary(l => l.Key, l => PeftFactorLayout.Linear(l.Value.In, l.Value.Out), StringComparer.Ordinal));
    }

    /// <summary>Checks <see cref="SavedModules"/> against the model's modules that <c>modules_to_save</c> selects
    /// (module path → parameter local name → shape) without changing anything.</summary>
    /// <exception cref="InvalidDataException">A selected module without a saved copy (missing key), a saved module or
    /// parameter the model lacks (unexpected key), or another shape, naming the weights file and the key.</exception>
    public void CheckSavedModules(IReadOnlyDictionary<string, Dictionary<string, int[]>> selected)
    {
        ArgumentNullException.ThrowIfNull(selected);
        PeftSavedModule.CheckAgainst(SavedModules, selected, Source);
    }

    /// <summary>Checks this adapter against a model's adaptable layers (module path → the factor layout the layer
    /// needs) without changing anything.</summary>
    /// <remarks>Every LoRA and bias module must exist, be of the same kind (Linear, Conv2d, Embedding) with matching
    /// sizes, and every layer the config targets must have LoRA factors.</remarks>
    /// <exception cref="InvalidDataException">A mismatch, naming the adapter's weights file and the key.</exception>
    public void CheckCompatible(IReadOnlyDictionary<string, PeftFactorLayout> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var byPath = Modules.ToDictionary(m => m.ModulePath, StringComparer.Ordinal);
        foreach (var m in Modules)
        {
            if (!layers.TryGetValue(m.ModulePath, out var layout))
                throw Corrupt(Source, Quote(m.KeyA), $"unexpected key: the model has no adaptable layer '{m.ModulePath}'");
            if (layout.Embedding != m.IsEmbedding || layout.Kind != m.Layout.Kind)
                throw Corrupt(Source, Quote(m.KeyA), $"holds {m.Layout.Kind} factors but the model's layer '{m.ModulePath}' is {layout}");
            if (!m.A.HasShape(layout.ShapeOfA(m.Rank))) throw Corrupt(Source, Quote(m.KeyA),
                $"has shape {TensorData.FormatShape(m.A.Shape)} but the model's layer {layout} needs {TensorData.FormatShape(layout.ShapeOfA(m.Rank))}");
            if (!m.B.HasShape(layout.ShapeOfB(m.Rank))) throw Corrupt(Source, Quote(m.KeyB),
                $"has shape {TensorData.FormatShape(m.B.Shape)} but the model's layer {layout} needs {TensorData.FormatShape(layout.ShapeOfB(m.Rank))}");
        }
        foreach (var (path, bias) in Biases)
        {
            if (!layers.TryGetValue(path, out var layout))
                throw Corrupt(Source, Quote(KeyBias(path)), $"unexpected key: the model has no adaptable layer '{path}'");
            if (!bias.HasShape(layout.Out))
                throw Corrupt(Source, Quote(KeyBias(path)), $"has shape {TensorData.FormatShape(bias.Shape)} but the model's layer has {layout.Out} outputs");
        }
        foreach (var (path, layout) in layers.OrderBy(l => l.Key, StringComparer.Ordinal))
        {
            if (Targets(path, Source) && Config.SavesModule(path))
                throw Corrupt(Source, "target_modules", $"selects the model's layer '{path}', which modules_to_save also selects; PEFT trains such a module in full and puts no LoRA on it");
            if (Targets(path, Source) && !byPath.ContainsKey(path))
                throw Corrupt(Source, Quote(layout.KeyA(path)), $"missing key: target_modules selects the model's layer '{path}'");
        }
    }

    bool Targets(string path, string file) => Targets(Config, path, file);

    static bool Targets(PeftAdapterConfig config, string path, string file)
    {
        try { return config.Targets(path); }
        catch (RegexMatchTimeoutException e) { throw Corrupt(file, "target_modules", $"a regular expression (target_modules or layers_pattern) takes too long to match '{path}'", e); }
    }

    /// <summary>Why a suffix-selected module is left out by layers_to_transform, for the unexpected-key message.</summary>
    static string LayerReason(PeftAdapterConfig config, string path, string file)
    {
        if (PeftExclusions.Excludes(config, path)) return " (exclude_modules excludes it)";
        if (config.LayersToTransform.Count == 0 || !config.TargetModules.Any(t => path.EndsWith("." + t, StringComparison.Ordinal))) return "";
        try
        {
            string index = config.LayerIndexOf(path) is int i ? $"its layer index is {i}" : "its path has no layer index";
            return $" with {PeftLayers.Describe(config.LayersToTransform, config.LayersPattern)} ({index})";
        }
        catch (RegexMatchTimeoutException e) { throw Corrupt(file, "layers_pattern", "a pattern takes too long to match", e); }
    }

    static int RankOf(PeftAdapterConfig config, string path, string file)
    {
        try
        {
            _ = config.AlphaFor(path); // fail here, while loading, rather than when the adapter is applied
            return config.RankFor(path);
        }
        catch (RegexMatchTimeoutException e) { throw Corrupt(file, "rank_pattern", $"a key takes too long to match '{path}'", e); }
    }

    /// <summary>A module's DoRA magnitude: required with use_dora, one value per output in PEFT's shape for the layer
    /// kind (<see cref="PeftFactorLayout.ShapeOfMagnitude"/>).</summary>
    static TensorData? MagnitudeOf(PeftAdapterConfig config, IReadOnlyDictionary<string, TensorData> magnitudes, string path,
        TensorData a, TensorData b, bool embedding, string file)
    {
        if (!config.UseDora) return null;
        string q = Quote(KeyPrefix + path + PeftLoraWeights.MagnitudeSuffix);
        if (!magnitudes.TryGetValue(path, out var m)) throw Corrupt(file, q, "missing key: use_dora is true but the module has no magnitude vector");
        if (PeftFactorLayout.FromFactors(embedding, a.Shape, b.Shape) is { } layout && !m.HasShape(layout.ShapeOfMagnitude))
            throw Corrupt(file, q, $"has shape {TensorData.FormatShape(m.Shape)}, expected {TensorData.FormatShape(layout.ShapeOfMagnitude)}, one per output of lora_B");
        return m;
    }

    internal static PeftAdapter FromTensors(PeftAdapterConfig config, IEnumerable<TensorData> tensors, string file)
    {
        var a = new SortedDictionary<string, (TensorData T, bool Embedding)>(StringComparer.Ordinal);
        var b = new SortedDictionary<string, (TensorData T, bool Embedding)>(StringComparer.Ordinal);
        var biases = new SortedDictionary<string, TensorData>(StringComparer.Ordinal);
        var saved = new SortedDictionary<string, Dictionary<string, TensorData>>(StringComparer.Ordinal);
        var magnitudes = new SortedDictionary<string, TensorData>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            string key = t.Name, q = Quote(key);
            if (!key.StartsWith(KeyPrefix, StringComparison.Ordinal))
                throw Corrupt(file, q, $"unexpected key: adapter keys start with '{KeyPrefix}'");
            string rest = key[KeyPrefix.Length..];
            if (rest.EndsWith(PeftLoraWeights.MagnitudeSuffix, StringComparison.Ordinal) && PeftSavedModule.SavedPathOf(config, rest) is null)
            {
                if (!config.UseDora) throw Corrupt(file, q, "unexpected key: a DoRA magnitude, but the config's use_dora is false");
                if (!magnitudes.TryAdd(rest[..^PeftLoraWeights.MagnitudeSuffix.Length], t)) throw Corrupt(file, q, "duplicate key");
                continue;
            }
            bool isBias = !PeftFactorLayout.TryParseKey(rest, out string path, out bool isA, out bool embedding);
            if (isBias && PeftSavedModule.SavedPathOf(config, rest) is { } savedPath)
            {
                string parameter = rest[(savedPath.Length + 1)..];
                if (PeftSavedModule.Malformed(savedPath) || PeftSavedModule.Malformed(parameter))
                    throw Corrupt(file, q, "unexpected key: the module path or parameter name is empty or malformed");
                if (!saved.TryGetValue(savedPath, out var parameters)) saved.Add(savedPath, parameters = new(StringComparer.Ordinal));
                if (!parameters.TryAdd(parameter, t)) throw Corrupt(file, q, "duplicate key");
                continue;
            }
            if (isBias && rest.EndsWith(SuffixBias, StringComparison.Ordinal)) path = rest[..^SuffixBias.Length];
            else if (isBias) throw Corrupt(file, q, "unexpected key: expected .lora_A.weight, .lora_B.weight, .lora_embedding_A, .lora_embedding_B or .bias");
            if (path.Length == 0 || path.StartsWith('.') || path.EndsWith('.') || path.Contains(".."))
                throw Corrupt(file, q, "unexpected key: the module path is empty or malformed");
            bool added = isBias ? biases.TryAdd(path, t) : (isA ? a : b).TryAdd(path, (t, embedding));
            if (!added) throw Corrupt(file, q, isBias ? "duplicate key" : "duplicate key: the module already has this factor (as lora_A/lora_B or lora_embedding_A/_B)");
        }
        var modules = new List<PeftLoraWeights>();
        foreach (var (path, (ta, embedding)) in a)
        {
            string qa = Quote(PeftFactorLayout.KeyOf(path, embedding, a: true)), qb = Quote(PeftFactorLayout.KeyOf(path, embedding, a: false));
            if (!b.TryGetValue(path, out var fb) || fb.Embedding != embedding)
                throw Corrupt(file, qb, $"missing key: {(embedding ? "lora_embedding_A" : "lora_A")} has no matching {(embedding ? "lora_embedding_B" : "lora_B")}");
            var tb = fb.T;
            int r = RankOf(config, path, file);
            string whose = r == config.R && !config.RankPattern.Any() ? "the config's r" : $"the config's r for '{path}' (r, rank_pattern)";
            if (ta.Shape.Length < 2 || ta.Shape[0] != r)
                throw Corrupt(file, qa, $"has shape {TensorData.FormatShape(ta.Shape)}, expected rank {r} ({whose}) first");
            if (tb.Shape.Length < 2 || tb.Shape[1] != r)
                throw Corrupt(file, qb, $"has shape {TensorData.FormatShape(tb.Shape)}, expected (out, {r}{(tb.Shape.Length == 4 ? ", 1, 1" : "")}) with {whose} = {r}");
            if (PeftFactorLayout.FromFactors(embedding, ta.Shape, tb.Shape) is null)
                throw Corrupt(file, qa, $"and {qb} have shapes {TensorData.FormatShape(ta.Shape)} and {TensorData.FormatShape(tb.Shape)}, which fit no layer: expected (r, in) and (out, r)" +
                    (embedding ? " for an embedding" : ", or (r, in, kh, kw) and (out, r, 1, 1)") + ", no empty dimension");
            if (!Targets(config, path, file))
                throw Corrupt(file, qa, $"unexpected key: '{path}' is not selected by target_modules{LayerReason(config, path, file)}");
            if (PeftSavedModule.SavedPathOf(config, path + ".") is { } inSaved)
                throw Corrupt(file, qa, $"'{inSaved}' is selected by modules_to_save, which trains it in full, so it cannot have LoRA factors (a module cannot be in both target_modules and modules_to_save)");
            modules.Add(new PeftLoraWeights(path, ta, tb, embedding, MagnitudeOf(config, magnitudes, path, ta, tb, embedding, file)));
        }
        foreach (var (path, _) in magnitudes)
            if (!a.ContainsKey(path))
                throw Corrupt(file, Quote(KeyPrefix + path + PeftLoraWeights.MagnitudeSuffix), $"unexpected key: '{path}' has no LoRA factors");
        foreach (var (path, (_, embedding)) in b)
        {
            if (!a.ContainsKey(path))
                throw Corrupt(file, Quote(PeftFactorLayout.KeyOf(path, embedding, a: true)),
                    $"missing key: {(embedding ? "lora_embedding_B" : "lora_B")} has no matching {(embedding ? "lora_embedding_A" : "lora_A")}");
        }
        if (modules.Count == 0) throw Corrupt(file, "lora_A", "missing keys: the adapter holds no LoRA tensors");
        // With layers_to_transform an entry may select only modules outside the listed layers (PEFT accepts that);
        // CheckCompatible still requires factors for every layer the config selects in a model.
        foreach (var name in config.LayersToTransform.Count == 0 ? config.TargetModules : [])
        {
            if (!modules.Any(m => m.ModulePath == name || m.ModulePath.EndsWith("." + name, StringComparison.Ordinal)))
                throw Corrupt(file, Quote(name), "missing keys: this target_modules entry matches no LoRA tensors");
        }
        var byPath = modules.ToDictionary(m => m.ModulePath, StringComparer.Ordinal);
        foreach (var (path, bias) in biases)
        {
            string q = Quote(KeyBias(path));
            if (config.Bias == PeftBias.None) throw Corrupt(file, q, "unexpected key: the config's bias is 'none'");
            if (bias.Shape.Length != 1) throw Corrupt(file, q, $"has shape {TensorData.FormatShape(bias.Shape)}, expected (out)");
            bool lora = byPath.TryGetValue(path, out var m);
            if (config.Bias == PeftBias.LoraOnly && !lora)
                throw Corrupt(file, q, $"unexpected key: bias is 'lora_only' but '{path}' has no LoRA factors");
            if (lora && bias.Shape[0] != m!.Out)
                throw Corrupt(file, q, $"has shape {TensorData.FormatShape(bias.Shape)} but lora_B has {m.Out} outputs");
        }
        var savedModules = saved.Select(s => new PeftSavedModule(s.Key, s.Value)).ToList();
        return new PeftAdapter(config, modules, biases, savedModules, file);
    }
}
