using System.Text.RegularExpressions;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.IO;

/// <summary>A LoRA adapter in PEFT's layout: <c>adapter_config.json</c> plus <c>adapter_model.safetensors</c>.</summary>
/// <remarks>
/// <para>Tensor keys: <c>base_model.model.{path}.lora_A.weight</c> (r, in), <c>base_model.model.{path}.lora_B.weight</c>
/// (out, r), and with bias <c>all</c> or <c>lora_only</c>, <c>base_model.model.{path}.bias</c> (out).</para>
/// <para>An instance is only ever complete and consistent: <see cref="Load"/> parses both files and checks every key,
/// shape and the config's <c>r</c> before returning, and <see cref="CheckCompatible"/> checks it against a model's
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

    const string SuffixA = ".lora_A.weight", SuffixB = ".lora_B.weight", SuffixBias = ".bias";

    PeftAdapter(PeftAdapterConfig config, IReadOnlyList<PeftLoraWeights> modules, IReadOnlyDictionary<string, TensorData> biases, string source)
    {
        Config = config;
        Modules = modules;
        Biases = biases;
        Source = source;
    }

    /// <summary>The adapter's configuration.</summary>
    public PeftAdapterConfig Config { get; }

    /// <summary>The LoRA factors per wrapped layer, ordered by module path.</summary>
    public IReadOnlyList<PeftLoraWeights> Modules { get; }

    /// <summary>Trained biases by module path (empty for bias <c>none</c>).</summary>
    public IReadOnlyDictionary<string, TensorData> Biases { get; }

    /// <summary>The weights file this adapter was read from (or "adapter" when built in memory), for messages.</summary>
    public string Source { get; }

    /// <summary>The key of A for a module path: <c>base_model.model.{path}.lora_A.weight</c>.</summary>
    public static string KeyA(string modulePath) => KeyPrefix + modulePath + SuffixA;

    /// <summary>The key of B for a module path: <c>base_model.model.{path}.lora_B.weight</c>.</summary>
    public static string KeyB(string modulePath) => KeyPrefix + modulePath + SuffixB;

    /// <summary>The key of a saved bias: <c>base_model.model.{path}.bias</c>.</summary>
    public static string KeyBias(string modulePath) => KeyPrefix + modulePath + SuffixBias;

    /// <summary>Builds an adapter in memory with the same checks as <see cref="Load"/>.</summary>
    /// <exception cref="ArgumentException">The tensors disagree with the config or each other.</exception>
    public static PeftAdapter Create(PeftAdapterConfig config, IEnumerable<PeftLoraWeights> modules,
        IReadOnlyDictionary<string, TensorData>? biases = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(modules);
        config.Validate(null);
        var tensors = new List<TensorData>();
        foreach (var m in modules)
        {
            ArgumentNullException.ThrowIfNull(m, nameof(modules));
            tensors.Add(m.A.Clone(KeyA(m.ModulePath)));
            tensors.Add(m.B.Clone(KeyB(m.ModulePath)));
        }
        foreach (var (path, bias) in biases ?? new Dictionary<string, TensorData>())
            tensors.Add(bias.Clone(KeyBias(path)));
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
    public static PeftAdapter Load(string directory)
    {
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
            tensors.Add(new TensorData(KeyA(m.ModulePath), m.A.Shape, m.A.Data));
            tensors.Add(new TensorData(KeyB(m.ModulePath), m.B.Shape, m.B.Data));
        }
        foreach (var (path, bias) in Biases) tensors.Add(new TensorData(KeyBias(path), bias.Shape, bias.Data));
        // PEFT saves adapters with this metadata; keep the files interchangeable.
        SafeTensors.Write(Path.Combine(directory, WeightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        Config.Write(Path.Combine(directory, ConfigFileName));
    }

    /// <summary>Checks this adapter against a model's Linear layers (module path → (out, in)) without changing anything.</summary>
    /// <remarks>Every LoRA and bias module must exist with matching widths, and every Linear layer the config targets
    /// must have LoRA factors.</remarks>
    /// <exception cref="InvalidDataException">A mismatch, naming the adapter's weights file and the key.</exception>
    public void CheckCompatible(IReadOnlyDictionary<string, (int Out, int In)> linears)
    {
        ArgumentNullException.ThrowIfNull(linears);
        var byPath = Modules.ToDictionary(m => m.ModulePath, StringComparer.Ordinal);
        foreach (var m in Modules)
        {
            if (!linears.TryGetValue(m.ModulePath, out var shape))
                throw Corrupt(Source, Quote(KeyA(m.ModulePath)), $"unexpected key: the model has no Linear layer '{m.ModulePath}'");
            if (shape.In != m.In) throw Corrupt(Source, Quote(KeyA(m.ModulePath)),
                $"has shape {TensorData.FormatShape(m.A.Shape)} but the model's layer takes {shape.In} inputs");
            if (shape.Out != m.Out) throw Corrupt(Source, Quote(KeyB(m.ModulePath)),
                $"has shape {TensorData.FormatShape(m.B.Shape)} but the model's layer has {shape.Out} outputs");
        }
        foreach (var (path, bias) in Biases)
        {
            if (!linears.TryGetValue(path, out var shape))
                throw Corrupt(Source, Quote(KeyBias(path)), $"unexpected key: the model has no Linear layer '{path}'");
            if (!bias.HasShape(shape.Out))
                throw Corrupt(Source, Quote(KeyBias(path)), $"has shape {TensorData.FormatShape(bias.Shape)} but the model's layer has {shape.Out} outputs");
        }
        foreach (var path in linears.Keys.Order(StringComparer.Ordinal))
        {
            if (Targets(path, Source) && !byPath.ContainsKey(path))
                throw Corrupt(Source, Quote(KeyA(path)), $"missing key: target_modules selects the model's layer '{path}'");
        }
    }

    bool Targets(string path, string file) => Targets(Config, path, file);

    static bool Targets(PeftAdapterConfig config, string path, string file)
    {
        try { return config.Targets(path); }
        catch (RegexMatchTimeoutException e) { throw Corrupt(file, "target_modules", "the regular expression takes too long to match", e); }
    }

    internal static PeftAdapter FromTensors(PeftAdapterConfig config, IEnumerable<TensorData> tensors, string file)
    {
        var a = new SortedDictionary<string, TensorData>(StringComparer.Ordinal);
        var b = new SortedDictionary<string, TensorData>(StringComparer.Ordinal);
        var biases = new SortedDictionary<string, TensorData>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            string key = t.Name, q = Quote(key);
            if (!key.StartsWith(KeyPrefix, StringComparison.Ordinal))
                throw Corrupt(file, q, $"unexpected key: adapter keys start with '{KeyPrefix}'");
            string rest = key[KeyPrefix.Length..];
            var (target, suffix) = rest.EndsWith(SuffixA, StringComparison.Ordinal) ? (a, SuffixA)
                : rest.EndsWith(SuffixB, StringComparison.Ordinal) ? (b, SuffixB)
                : rest.EndsWith(SuffixBias, StringComparison.Ordinal) ? (biases, SuffixBias)
                : throw Corrupt(file, q, "unexpected key: expected .lora_A.weight, .lora_B.weight or .bias");
            string path = rest[..^suffix.Length];
            if (path.Length == 0 || path.StartsWith('.') || path.EndsWith('.') || path.Contains(".."))
                throw Corrupt(file, q, "unexpected key: the module path is empty or malformed");
            if (!target.TryAdd(path, t)) throw Corrupt(file, q, "duplicate key");
        }
        var modules = new List<PeftLoraWeights>();
        foreach (var (path, ta) in a)
        {
            string qa = Quote(KeyA(path)), qb = Quote(KeyB(path));
            if (!b.TryGetValue(path, out var tb)) throw Corrupt(file, qb, "missing key: lora_A has no matching lora_B");
            if (ta.Shape.Length != 2) throw Corrupt(file, qa, $"has shape {TensorData.FormatShape(ta.Shape)}, expected (r, in)");
            if (tb.Shape.Length != 2) throw Corrupt(file, qb, $"has shape {TensorData.FormatShape(tb.Shape)}, expected (out, r)");
            if (ta.Shape[0] != config.R)
                throw Corrupt(file, qa, $"has rank {ta.Shape[0]} (shape {TensorData.FormatShape(ta.Shape)}) but the config's r is {config.R}");
            if (tb.Shape[1] != config.R)
                throw Corrupt(file, qb, $"has rank {tb.Shape[1]} (shape {TensorData.FormatShape(tb.Shape)}) but the config's r is {config.R}");
            if (ta.Shape[1] == 0 || tb.Shape[0] == 0) throw Corrupt(file, qa, "a layer with no inputs or outputs cannot be adapted");
            if (!Targets(config, path, file))
                throw Corrupt(file, qa, $"unexpected key: '{path}' is not selected by target_modules");
            modules.Add(new PeftLoraWeights(path, ta, tb));
        }
        foreach (var path in b.Keys)
        {
            if (!a.ContainsKey(path)) throw Corrupt(file, Quote(KeyA(path)), "missing key: lora_B has no matching lora_A");
        }
        if (modules.Count == 0) throw Corrupt(file, "lora_A", "missing keys: the adapter holds no LoRA tensors");
        foreach (var name in config.TargetModules)
        {
            if (!modules.Any(m => m.ModulePath == name || m.ModulePath.EndsWith("." + name, StringComparison.Ordinal)))
                throw Corrupt(file, Quote(name), "missing keys: this target_modules entry matches no lora_A/lora_B tensors");
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
        return new PeftAdapter(config, modules, biases, file);
    }
}
