using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Training;

namespace Lora.Core.Experiments;

/// <summary>The outcome of one adaptation phase (LoRA or full fine-tuning) on task B.</summary>
/// <param name="Model">The adapted model (for LoRA: the base wrapped with the adapter, unmerged).</param>
/// <param name="Accuracy">Held-out accuracy on task B after adaptation.</param>
/// <param name="TrainableParameters">Parameters the optimizer updated.</param>
/// <param name="TrainableStateBytes">Bytes of trainable weights + gradients + AdamW's two moments.</param>
/// <param name="History">Per-epoch loss and accuracy.</param>
public sealed record AdaptationPhase(Mlp Model, double Accuracy, long TrainableParameters, long TrainableStateBytes, TrainingHistory History)
{
    /// <summary>Mean wall seconds per training epoch.</summary>
    public double SecondsPerEpoch => History.SecondsPerEpoch;
}

/// <summary>Everything the main job reports: the base model, task B before adaptation, after LoRA and after full
/// fine-tuning from the same base.</summary>
public sealed record AdaptationResult
{
    /// <summary>The pretrained model (its weights are not changed by the adaptation phases).</summary>
    public required Mlp Base { get; init; }
    /// <summary>Held-out accuracy of the base model on task A.</summary>
    public required double BaseAccuracy { get; init; }
    /// <summary>Pretraining history on task A.</summary>
    public required TrainingHistory BaseHistory { get; init; }
    /// <summary>Held-out accuracy of the base model on task B, before any adaptation.</summary>
    public required double TaskBBefore { get; init; }
    /// <summary>LoRA adaptation.</summary>
    public required AdaptationPhase Lora { get; init; }
    /// <summary>The LoRA cost report (trainable share, state bytes next to full fine-tuning's).</summary>
    public required LoraReport LoraReport { get; init; }
    /// <summary>Full fine-tuning.</summary>
    public required AdaptationPhase Full { get; init; }
    /// <summary>Samples in task A's training and held-out sets.</summary>
    public required (int Train, int Test) Sizes { get; init; }
}
