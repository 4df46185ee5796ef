namespace Lora.Core.IO;

/// <summary>The architecture of a saved model: what its <c>config.json</c> holds, for any model type.</summary>
/// <remarks>
/// Every <c>config.json</c> starts with <c>"model_type"</c>, which says which class describes the rest of the file
/// (<see cref="ModelConfig"/> for <c>"mlp"</c>; the demo models register theirs in <c>Lora.Core.Models.ModelTypes</c>).
/// A checkpoint is valid when its weights file holds exactly <see cref="ExpectedTensors"/>, names and shapes.
/// </remarks>
public interface IModelConfig
{
    /// <summary>The <c>model_type</c> value, e.g. <c>mlp</c> or <c>cnn</c>.</summary>
    string ModelType { get; }

    /// <summary>A one-line description for reports, e.g. <c>MLP 64-256-256-10</c>.</summary>
    string Summary { get; }

    /// <summary>Every parameter a checkpoint of this architecture holds, with its PyTorch name and shape.</summary>
    IEnumerable<(string Name, int[] Shape)> ExpectedTensors();

    /// <summary>The parameters a model of this architecture holds: the elements of <see cref="ExpectedTensors"/>,
    /// counted without building the model.</summary>
    long ParameterCount() => ExpectedTensors().Sum(t => t.Shape.Aggregate(1L, (n, d) => n * d));

    /// <summary>The <c>config.json</c> text: two-space indented, <c>model_type</c> first, keys in a fixed order.</summary>
    string ToJson();
}
