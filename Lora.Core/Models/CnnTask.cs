using Lora.Core.Experiments;
using Lora.Core.IO;
using Lora.Core.Modules;

namespace Lora.Core.Models;

/// <summary>The CNN demo (<c>--model cnn</c>): a small CNN on the image data, adapted to the shifted images (rotated
/// 90° by default) through its convolutions.</summary>
/// <remarks>
/// <para>Defaults (docs/demos.md; sizes from tools/cnn_prototype.py, learning rates confirmed with this job): two conv blocks of 32 and 64 channels (3×3),
/// LoRA r = 4 on both conv layers only (7.4% of the parameters). A rotation changes what the filters must detect
/// (each 3×3 stroke detector rotated); the convolutions cannot undo the rotation of the pooled grid the head reads
/// (they are translation-equivariant), yet re-tuning them is enough in practice: the adapted filters map rotated
/// strokes onto features the frozen head already separates. The head stays frozen: a rank-4 adapter on it would cost
/// (256 + 10)·4 more parameters, taking LoRA past 10% of the model.</para>
/// </remarks>
public sealed class CnnTask : ImageTask
{
    /// <inheritdoc/>
    public override string Name => "cnn";

    /// <inheritdoc/>
    public override string ModelType => CnnConfig.CnnModelType;

    /// <inheritdoc/>
    public override string Description => "CNN on the images (--hidden: conv channels); task B = shifted images; LoRA on the convolutions";

    /// <inheritdoc/>
    public override AdaptationOptions Defaults { get; } = new()
    {
        Hidden = [32, 64], BaseEpochs = 20, BaseLearningRate = 3e-3, Rank = 4, Alpha = 8, Targets = ["convs.*"],
        LoraLearningRate = 2e-2, LoraEpochs = 30, FullLearningRate = 3e-3, FullEpochs = 20,
    };

    /// <summary>The kernel side of every convolution.</summary>
    public const int KernelSize = 3;

    /// <inheritdoc/>
    public override IModelConfig BaseConfig(DemoData data, AdaptationOptions options)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        var a = data.TrainA;
        if (!a.IsImage) throw new ArgumentException($"the cnn model needs image data, but '{a.Name}' has no height and width.");
        return new CnnConfig(1, a.Height, a.Width, options.Hidden, KernelSize, a.ClassCount);
    }

    /// <inheritdoc/>
    public override Module CreateBase(DemoData data, AdaptationOptions options) =>
        new Cnn((CnnConfig)BaseConfig(data, options), options.Seed);

    /// <inheritdoc/>
    protected override (int Features, int Classes) InputsAndClasses(IModelConfig config) =>
        config is CnnConfig c ? (c.InputFeatures, c.Classes) : throw new ArgumentException($"a {Name} task needs a CNN, not {config.Summary}.");
}
