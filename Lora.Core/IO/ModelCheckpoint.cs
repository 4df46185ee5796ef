using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.IO;

/// <summary>A saved base model: <c>model.safetensors</c> with PyTorch's parameter names plus <c>config.json</c>.</summary>
/// <remarks>
/// <see cref="Load"/> reads and checks both files completely (every expected tensor present with its exact shape,
/// nothing unexpected) before returning, so a caller can apply the result to a live model knowing it fits.
/// </remarks>
public sealed class ModelCheckpoint
{
    /// <summary>The weights file inside a checkpoint directory.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>The architecture file inside a checkpoint directory.</summary>
    public const string ConfigFileName = "config.json";

    ModelCheckpoint(ModelConfig config, IReadOnlyDictionary<string, TensorData> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Config = config;
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The architecture.</summary>
    public ModelConfig Config { get; }

    /// <summary>Every parameter by PyTorch name (<c>layers.0.weight</c>, …), shapes as <see cref="ModelConfig.ExpectedTensors"/> lists.</summary>
    public IReadOnlyDictionary<string, TensorData> Tensors { get; }

    /// <summary>The weights file's <c>__metadata__</c>.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Builds a checkpoint in memory, checking the tensors against the config.</summary>
    /// <exception cref="ArgumentException">A missing, unexpected or mis-shaped tensor.</exception>
    public static ModelCheckpoint Create(ModelConfig config, IEnumerable<TensorData> tensors)
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
        return new ModelCheckpoint(config, map, new Dictionary<string, string>());
    }

    /// <summary>Reads <c>config.json</c> and <c>model.safetensors</c> from <paramref name="directory"/> and checks them against each other.</summary>
    /// <exception cref="InvalidDataException">Either file is corrupt, or a tensor is missing, unexpected or mis-shaped.</exception>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    public static ModelCheckpoint Load(string directory)
    {
        var config = ModelConfig.Read(Path.Combine(directory, ConfigFileName));
        string weightsPath = Path.Combine(directory, WeightsFileName);
        var file = SafeTensors.Read(weightsPath);
        var map = file.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var problem = FindProblem(config, map);
        if (problem is not null) throw Corrupt(weightsPath, problem.Value.Key, problem.Value.Message);
        return new ModelCheckpoint(config, map, file.Metadata);
    }

    /// <summary>Writes this checkpoint into <paramref name="directory"/> (created if missing), each file atomically.</summary>
    public void Save(string directory, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Directory.CreateDirectory(directory);
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        meta.TryAdd("format", "pt"); // what PyTorch-side loaders (transformers' safetensors loader) expect
        SafeTensors.Write(Path.Combine(directory, WeightsFileName), Tensors.Values, meta);
        Config.Write(Path.Combine(directory, ConfigFileName));
    }

    static (string Key, string Message)? FindProblem(ModelConfig config, IReadOnlyDictionary<string, TensorData> tensors)
    {
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, shape) in config.ExpectedTensors())
        {
            expected.Add(name);
            if (!tensors.TryGetValue(name, out var t)) return (Quote(name), "missing key");
            if (!t.HasShape(shape))
                return (Quote(name), $"has shape {TensorData.FormatShape(t.Shape)}, but the config's sizes need {TensorData.FormatShape(shape)}");
        }
        foreach (var name in tensors.Keys.Order(StringComparer.Ordinal))
        {
            if (!expected.Contains(name)) return (Quote(name), "unexpected key: the config's architecture has no such parameter");
        }
        return null;
    }
}
