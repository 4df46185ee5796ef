using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.IO;

/// <summary>Parses <c>config.json</c> bytes into a configuration; <paramref name="file"/> names the file in errors.</summary>
/// <exception cref="InvalidDataException">The text is corrupt or describes another model type.</exception>
public delegate TConfig ModelConfigReader<out TConfig>(ReadOnlySpan<byte> utf8, string file) where TConfig : IModelConfig;

/// <summary>A saved base model of any architecture: <c>model.safetensors</c> with PyTorch's parameter names plus
/// <c>config.json</c>, whose <c>model_type</c> selects <typeparamref name="TConfig"/>.</summary>
/// <remarks>
/// <see cref="Load(string, ModelConfigReader{TConfig})"/> reads and checks both files completely (every expected tensor
/// present with its exact shape, nothing unexpected) before returning, so a caller can apply the result to a live model
/// knowing it fits. <see cref="ModelCheckpoint"/> is the MLP's.
/// </remarks>
public class ModelCheckpoint<TConfig> where TConfig : IModelConfig
{
    private protected ModelCheckpoint(TConfig config, IReadOnlyDictionary<string, TensorData> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Config = config;
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The architecture.</summary>
    public TConfig Config { get; }

    /// <summary>Every parameter by PyTorch name (<c>layers.0.weight</c>, …), shapes as <see cref="IModelConfig.ExpectedTensors"/> lists.</summary>
    public IReadOnlyDictionary<string, TensorData> Tensors { get; }

    /// <summary>The weights file's <c>__metadata__</c>.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Builds a checkpoint in memory, checking the tensors against the config.</summary>
    /// <exception cref="ArgumentException">A missing, unexpected or mis-shaped tensor.</exception>
    public static ModelCheckpoint<TConfig> Create(TConfig config, IEnumerable<TensorData> tensors)
    {
        var (c, map) = Check(config, tensors);
        return new ModelCheckpoint<TConfig>(c, map, new Dictionary<string, string>());
    }

    /// <summary>Reads <c>config.json</c> (through <paramref name="readConfig"/>) and <c>model.safetensors</c> from
    /// <paramref name="directory"/> and checks them against each other.</summary>
    /// <exception cref="InvalidDataException">Either file is corrupt, or a tensor is missing, unexpected or mis-shaped.</exception>
    /// <exception cref="FileNotFoundException">A file is missing, or <paramref name="directory"/> is a file.</exception>
    /// <exception cref="DirectoryNotFoundException"><paramref name="directory"/> does not exist.</exception>
    public static ModelCheckpoint<TConfig> Load(string directory, ModelConfigReader<TConfig> readConfig)
    {
        var (config, map, metadata) = Read(directory, readConfig);
        return new ModelCheckpoint<TConfig>(config, map, metadata);
    }

    /// <summary>Writes this checkpoint into <paramref name="directory"/> (created if missing), each file atomically.</summary>
    public void Save(string directory, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Directory.CreateDirectory(directory);
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        meta.TryAdd("format", "pt"); // what PyTorch-side loaders (transformers' safetensors loader) expect
        SafeTensors.Write(Path.Combine(directory, ModelCheckpoint.WeightsFileName), Tensors.Values, meta);
        AtomicFile.WriteAllBytes(Path.Combine(directory, ModelCheckpoint.ConfigFileName), System.Text.Encoding.UTF8.GetBytes(Config.ToJson()));
    }

    private protected static (TConfig Config, Dictionary<string, TensorData> Map) Check(TConfig config, IEnumerable<TensorData> tensors)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tensors);
        var map = new Dictionary<string, TensorData>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            ArgumentNullException.ThrowIfNull(t, nameof(tensors));
            if (!map.TryAdd(t.Name, t)) throw new ArgumentException($"Two tensors are named '{t.Name}'.", nameof(tensors));
        }
        var problem = FindProblem(config, map);
        if (problem is not null) throw new ArgumentException($"Checkpoint tensors do not match the config: {problem.Value.Key}: {problem.Value.Message}", nameof(tensors));
        return (config, map);
    }

    private protected static (TConfig Config, Dictionary<string, TensorData> Map, IReadOnlyDictionary<string, string> Metadata) Read(
        string directory, ModelConfigReader<TConfig> readConfig)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(readConfig);
        RequireDirectory(directory, $"{ModelCheckpoint.ConfigFileName} and {ModelCheckpoint.WeightsFileName}");
        string configPath = Path.Combine(directory, ModelCheckpoint.ConfigFileName);
        var config = readConfig(ReadFileBytes(configPath), configPath);
        string weightsPath = Path.Combine(directory, ModelCheckpoint.WeightsFileName);
        var file = SafeTensors.Read(weightsPath);
        var map = file.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var problem = FindProblem(config, map);
        if (problem is not null) throw Corrupt(weightsPath, problem.Value.Key, problem.Value.Message);
        return (config, map, file.Metadata);
    }

    static (string Key, string Message)? FindProblem(TConfig config, IReadOnlyDictionary<string, TensorData> tensors)
    {
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, shape) in config.ExpectedTensors())
        {
            expected.Add(name);
            if (!tensors.TryGetValue(name, out var t)) return (Quote(name), "missing key");
            if (!t.HasShape(shape))
                return (Quote(name), $"has shape {TensorData.FormatShape(t.Shape)}, but the config needs {TensorData.FormatShape(shape)}");
        }
        foreach (var name in tensors.Keys.Order(StringComparer.Ordinal))
        {
            if (!expected.Contains(name)) return (Quote(name), "unexpected key: the config's architecture has no such parameter");
        }
        return null;
    }
}

/// <summary>A saved MLP: <c>model.safetensors</c> with PyTorch's parameter names plus a <c>config.json</c> of
/// <c>model_type</c> <c>mlp</c> (<see cref="ModelConfig"/>).</summary>
public sealed class ModelCheckpoint : ModelCheckpoint<ModelConfig>
{
    /// <summary>The weights file inside a checkpoint directory.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>The architecture file inside a checkpoint directory.</summary>
    public const string ConfigFileName = "config.json";

    ModelCheckpoint(ModelConfig config, IReadOnlyDictionary<string, TensorData> tensors, IReadOnlyDictionary<string, string> metadata)
        : base(config, tensors, metadata) { }

    /// <summary>Builds an MLP checkpoint in memory, checking the tensors against the config.</summary>
    /// <exception cref="ArgumentException">A missing, unexpected or mis-shaped tensor.</exception>
    public static new ModelCheckpoint Create(ModelConfig config, IEnumerable<TensorData> tensors)
    {
        var (c, map) = Check(config, tensors);
        return new ModelCheckpoint(c, map, new Dictionary<string, string>());
    }

    /// <summary>Reads an MLP checkpoint directory and checks its two files against each other.</summary>
    /// <exception cref="InvalidDataException">Either file is corrupt, another model_type, or a tensor is missing,
    /// unexpected or mis-shaped.</exception>
    /// <exception cref="FileNotFoundException">A file is missing, or <paramref name="directory"/> is a file.</exception>
    /// <exception cref="DirectoryNotFoundException"><paramref name="directory"/> does not exist.</exception>
    public static ModelCheckpoint Load(string directory)
    {
        var (config, map, metadata) = Read(directory, ModelConfig.FromJson);
        return new ModelCheckpoint(config, map, metadata);
    }
}
