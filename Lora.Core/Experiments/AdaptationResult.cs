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
public sealed record AdaptationPhase(Module Model, double Accuracy, long TrainableParameters, long TrainableStateBytes, TrainingHistory History)
{
    /// <summary>Held-out mean loss on task B after adaptation (per token for a language model).</summary>
    public double Loss { get; init; } = double.NaN;

    /// <summary>Training samples per second over the phase's epochs (evaluation excluded).</summary>
    public double SamplesPerSecond { get; init; }

    /// <summary>Mean wall seconds per training epoch.</summary>
    public double SecondsPerEpoch => History.SecondsPerEpoch;
}

/// <summary>Everything the main job reports: the base model, task B before adaptation, after LoRA and after full
/// fine-tuning from the same base.</summary>
public sealed record AdaptationResult
{
    /// <summary>The demo that ran.</summary>
    public required DemoTask Task { get; init; }
    /// <summary>Its data (tasks A and B).</summary>
    public required DemoData Data { get; init; }
    /// <summary>The pretrained model (its weights are not changed by the adaptation phases); an
    /// <see cref="IConfiguredModel"/>.</summary>
    public required Module Base { get; init; }
    /// <summary>Held-out accuracy of the base model on task A.</summary>
    public required double BaseAccuracy { get; init; }
    /// <summary>Held-out mean loss of the base model on task A.</summary>
    public double BaseLoss { get; init; } = double.NaN;
    /// <summary>Pretraining history on task A.</summary>
    public required TrainingHistory BaseHistory { get; init; }
    /// <summary>Held-out accuracy of the base model on task B, before any adaptation.</summary>
    public required double TaskBBefore { get; init; }
    /// <summary>Held-out mean loss of the base model on task B, before any adaptation.</summary>
    public double TaskBBeforeLoss { get; init; } = double.NaN;
    /// <summary>LoRA adaptation.</summary>
    public required AdaptationPhase Lora { get; init; }
    /// <summary>The LoRA cost report (trainable share, state bytes next to full fine-tuning's).</summary>
    public required LoraReport LoraReport { get; init; }
    /// <summary>Full fine-tuning.</summary>
    public required AdaptationPhase Full { get; init; }
    /// <summary>Samples in task A's training and held-out sets.</summary>
    public required (int Train, int Test) Sizes { get; init; }

    /// <summary>The base model's architecture.</summary>
    public IO.IModelConfig Config => ((IConfiguredModel)Base).Config;

    /// <summary>exp(loss): the perplexity of a language model, from a per-token mean cross-entropy in nats.</summary>
    public static double Perplexity(double loss) => Math.Exp(loss);
}
