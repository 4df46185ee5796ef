using Lora.Core.Experiments;
using Lora.Core.IO;
using Lora.Core.Modules;

namespace Lora.Core.Models;

/// <summary>The original main job (<c>--model mlp</c>): a ReLU MLP on the image data, adapted to the shifted images
/// through its first layer.</summary>
/// <remarks>Why the shift suits low-rank adaptation: rotation is a fixed permutation P of the pixels, so the ideal
/// change of the first layer is W₁·P − W₁, and it only has to act on the span of the data, whose principal subspace
/// is low-dimensional. The defaults (<see cref="AdaptationOptions"/>'s own) come from a PyTorch prototype
/// (docs/benchmarks.md, "The main job").</remarks>
public sealed class MlpTask : ImageTask
{
    /// <inheritdoc/>
    public override string Name => "mlp";

    /// <inheritdoc/>
    public override string ModelType => ModelConfig.MlpModelType;

    /// <inheritdoc/>
    public override string Description => "ReLU MLP on the images (--hidden: layer widths); task B = shifted images; LoRA on layers.0";

    /// <inheritdoc/>
    public override AdaptationOptions Defaults { get; } = new();

    /// <inheritdoc/>
    public override IModelConfig BaseConfig(DemoData data, AdaptationOptions options)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        var sizes = new List<int> { data.TrainA.FeatureCount };
        sizes.AddRange(options.Hidden);
        sizes.Add(data.TrainA.ClassCount);
        return new ModelConfig(sizes);
    }

    /// <inheritdoc/>
    public override Module CreateBase(DemoData data, AdaptationOptions options) =>
        new Mlp((ModelConfig)BaseConfig(data, options), options.Seed);

    /// <inheritdoc/>
    protected override (int Features, int Classes) InputsAndClasses(IModelConfig config) =>
        config is ModelConfig m ? (m.Sizes[0], m.Sizes[^1]) : throw new ArgumentException($"an {Name} task needs an MLP, not {config.Summary}.");
}
