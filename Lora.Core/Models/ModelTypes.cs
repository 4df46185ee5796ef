using Lora.Core.IO;
using Lora.Core.Modules;
using static Lora.Core.IO.FileFormatErrors;

namespace Lora.Core.Models;

/// <summary>The model types a checkpoint may hold: each <c>model_type</c> with the reader of its <c>config.json</c>
/// and the factory of an empty model of that architecture.</summary>
/// <remarks>One line per type; a new architecture adds its line here (and nothing else needs to change for
/// <see cref="ModelFiles"/> and the <c>lora</c> verbs to save, load, merge and evaluate it).</remarks>
public static class ModelTypes
{
    /// <summary>One registered model type.</summary>
    /// <param name="Name">The <c>model_type</c> value.</param>
    /// <param name="ReadConfig">Parses a <c>config.json</c> of this type.</param>
    /// <param name="CreateEmpty">A zero-initialised model of a configuration of this type, to be filled by loading.</param>
    public sealed record Entry(string Name, ModelConfigReader<IModelConfig> ReadConfig, Func<IModelConfig, Module> CreateEmpty);

    static readonly Entry[] Entries =
    [
        new(ModelConfig.MlpModelType, ModelConfig.FromJson, c => Mlp.CreateEmpty((ModelConfig)c)),
        new(CnnConfig.CnnModelType, CnnConfig.FromJson, c => Cnn.CreateEmpty((CnnConfig)c)),
        new(CharRnnConfig.CharRnnModelType, CharRnnConfig.FromJson, c => CharRnnModel.CreateEmpty((CharRnnConfig)c)),
        new(NgramConfig.NgramModelType, NgramConfig.FromJson, c => NgramModel.CreateEmpty((NgramConfig)c)),
    ];

    /// <summary>Every registered <c>model_type</c>.</summary>
    public static IReadOnlyList<string> Names { get; } = Entries.Select(e => e.Name).ToArray();

    /// <summary>The entry of <paramref name="modelType"/>, or null.</summary>
    public static Entry? Find(string modelType) => Array.Find(Entries, e => e.Name == modelType);

    /// <summary>Parses any registered <c>config.json</c>, dispatching on its <c>model_type</c>.</summary>
    /// <exception cref="InvalidDataException">Invalid JSON, a missing or unknown <c>model_type</c> (naming the file and
    /// the key), or invalid values for that type.</exception>
    public static IModelConfig ReadConfig(ReadOnlySpan<byte> utf8, string file)
    {
        string type;
        using (var doc = StrictJson.Parse(utf8, file))
            type = StrictJson.String(StrictJson.Require(StrictJson.Object(doc, file), "model_type", file), "model_type", file);
        var entry = Find(type) ?? throw Corrupt(file, "model_type", $"'{type}' is not a known model type ({string.Join(", ", Names)})");
        return entry.ReadConfig(utf8, file);
    }

    /// <summary>A zero-initialised model of <paramref name="config"/>'s architecture.</summary>
    /// <exception cref="ArgumentException">A configuration of an unregistered type.</exception>
    public static Module CreateEmpty(IModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var entry = Find(config.ModelType) ?? throw new ArgumentException($"Model type '{config.ModelType}' is not registered ({string.Join(", ", Names)}).", nameof(config));
        return entry.CreateEmpty(config);
    }
}
