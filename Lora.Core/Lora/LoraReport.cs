using System.Globalization;
using System.Text;

namespace Lora.Core.Lora;

/// <summary>What applying LoRA to a model costs and saves: parameter counts and the bytes of trainable state.</summary>
/// <remarks>
/// Trainable state = trainable weights + their gradients + optimizer state, all float32:
/// (2 + k)·4 bytes per trainable element with k optimizer floats per element (AdamW: k = 2, so 16 bytes).
/// The full fine-tuning figures are the same formula over every parameter of the model.
/// </remarks>
public sealed record LoraReport
{
    /// <summary>The module paths that were wrapped, in model order.</summary>
    public required IReadOnlyList<string> WrappedModules { get; init; }

    /// <summary>The paths of the modules trained in full (modules_to_save), in model order; empty when none.</summary>
    public IReadOnlyList<string> ModulesToSave { get; init; } = [];

    /// <summary>Parameters that will train (LoRA factors, modules_to_save copies and any trainable biases).</summary>
    public required long TrainableParameters { get; init; }

    /// <summary>All parameters of the wrapped model (frozen base plus LoRA plus modules_to_save copies).</summary>
    public required long TotalParameters { get; init; }

    /// <summary>Parameters of the model before LoRA (modules_to_save originals, not their copies): what full fine-tuning trains.</summary>
    public required long BaseParameters { get; init; }

    /// <summary>Optimizer floats per trainable element assumed for the byte figures (AdamW: 2).</summary>
    public int OptimizerFloatsPerParameter { get; init; } = 2;

    /// <summary>100 · trainable / total.</summary>
    public double TrainablePercent => TotalParameters == 0 ? 0 : 100.0 * TrainableParameters / TotalParameters;

    /// <summary>Bytes of trainable weights + gradients + optimizer state for LoRA.</summary>
    public long TrainableStateBytes => StateBytes(TrainableParameters);

    /// <summary>The same for full fine-tuning of the base model.</summary>
    public long FullFineTuningStateBytes => StateBytes(BaseParameters);

    /// <summary>LoRA's trainable state as a fraction of full fine-tuning's.</summary>
    public double StateRatio => FullFineTuningStateBytes == 0 ? 0 : (double)TrainableStateBytes / FullFineTuningStateBytes;

    long StateBytes(long parameters) => parameters * (2 + OptimizerFloatsPerParameter) * sizeof(float);

    /// <summary>A small table for consoles and logs.</summary>
    public override string ToString()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(c, $"LoRA on {WrappedModules.Count} module(s): {string.Join(", ", WrappedModules)}\n");
        if (ModulesToSave.Count > 0) sb.Append(c, $"trained in full (modules_to_save): {string.Join(", ", ModulesToSave)}\n");
        sb.Append(c, $"trainable params: {TrainableParameters:N0} of {TotalParameters:N0} ({TrainablePercent:F3}%)\n");
        sb.Append(c, $"trainable state (weights + grads + {OptimizerFloatsPerParameter} optimizer floats per param): ");
        sb.Append(c, $"LoRA {TrainableStateBytes:N0} B vs full fine-tuning {FullFineTuningStateBytes:N0} B ({100 * StateRatio:F2}%)");
        return sb.ToString();
    }
}
