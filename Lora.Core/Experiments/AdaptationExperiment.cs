using Lora.Core.Data;
using Lora.Core.Lora;
using Lora.Core.Models;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;

namespace Lora.Core.Experiments;

/// <summary>Which phase a progress event belongs to.</summary>
public enum ExperimentPhase
{
    /// <summary>Pretraining the base model on task A.</summary>
    Pretrain,
    /// <summary>Adapting with LoRA on task B.</summary>
    Lora,
    /// <summary>Full fine-tuning on task B.</summary>
    Full,
}

/// <summary>
/// The main job, for any <see cref="DemoTask"/>: pretrain a base model on task A, evaluate it on task B, then adapt
/// copies of the same base twice — with LoRA and with full fine-tuning — and measure accuracy (and perplexity for
/// language models), trainable state and time.
/// </summary>
/// <remarks>Every random choice derives from <see cref="AdaptationOptions.Seed"/>, and the kernels are deterministic
/// across thread counts, so the same options give the same bits.</remarks>
public static class AdaptationExperiment
{
    /// <summary>Runs the MLP job on a dataset, splitting off <see cref="AdaptationOptions.TestFraction"/> for testing.</summary>
    public static AdaptationResult Run(Dataset data, AdaptationOptions options, Action<ExperimentPhase, TrainingProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var (train, test) = DatasetSplit.Split(data, options.TestFraction, options.Seed, stratified: true);
        return Run(train, test, options, progress);
    }

    /// <summary>Runs the MLP job on a given train/test split of task A.</summary>
    /// <exception cref="ArgumentException">Bad options, mismatched datasets, or a rank larger than a targeted layer.</exception>
    public static AdaptationResult Run(Dataset train, Dataset test, AdaptationOptions options, Action<ExperimentPhase, TrainingProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return Run(DemoTasks.Mlp, ImageTask.Prepare(train, test, options, train.Name), options, progress);
    }

    /// <summary>Runs the job of <paramref name="task"/> on its data.</summary>
    /// <exception cref="ArgumentException">Bad options, LoRA targets that match no layer, or a rank larger than a
    /// targeted layer allows (all checked before any training).</exception>
    public static AdaptationResult Run(DemoTask task, DemoData data, AdaptationOptions options, Action<ExperimentPhase, TrainingProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var loraConfig = new LoraConfig { R = options.Rank, Alpha = options.Alpha, UseDora = options.UseDora, TargetModules = options.Targets.ToArray(), ModulesToSave = options.ModulesToSave.ToArray() };
        var baseModel = task.CreateBase(data, options);
        // Fails before any training when the targets or modules_to_save match nothing (or the same module), or the
        // rank exceeds a targeted layer.
        ModelFiles.Clone(baseModel).ApplyLora(loraConfig, seed: options.Seed + 1);

        var baseHistory = Fit(task, baseModel, AdamW(baseModel, options.BaseLearningRate, options.BaseEpochs, data.TrainA, options),
            data.TrainA, data.TestA, options.BaseEpochs, options, ExperimentPhase.Pretrain, progress);
        var baseA = task.Evaluate(baseModel, data.TestA);
        var before = task.Evaluate(baseModel, data.TestB);

        var loraModel = ModelFiles.Clone(baseModel);
        var report = loraModel.ApplyLora(loraConfig, seed: options.Seed + 1);
        var loraOptimizer = AdamW(loraModel, options.LoraLearningRate, options.LoraEpochs, data.TrainB, options);
        var loraHistory = Fit(task, loraModel, loraOptimizer, data.TrainB, data.TestB, options.LoraEpochs, options, ExperimentPhase.Lora, progress);
        var lora = Phase(task, loraModel, loraOptimizer, loraHistory, data);

        var fullModel = ModelFiles.Clone(baseModel);
        var fullOptimizer = AdamW(fullModel, options.FullLearningRate, options.FullEpochs, data.TrainB, options);
        var fullHistory = Fit(task, fullModel, fullOptimizer, data.TrainB, data.TestB, options.FullEpochs, options, ExperimentPhase.Full, progress);
        var full = Phase(task, fullModel, fullOptimizer, fullHistory, data);

        return new AdaptationResult
        {
            Task = task, Data = data, Base = baseModel, BaseAccuracy = baseA.Accuracy, BaseLoss = baseA.Loss, BaseHistory = baseHistory,
            TaskBBefore = before.Accuracy, TaskBBeforeLoss = before.Loss,
            Lora = lora, LoraReport = report, Full = full, Sizes = (data.TrainA.Count, data.TestA.Count),
        };
    }

    static AdaptationPhase Phase(DemoTask task, Module model, Optimizer optimizer, TrainingHistory history, DemoData data)
    {
        var e = task.Evaluate(model, data.TestB);
        double samplesPerSecond = history.SamplesPerSecond;
        return new AdaptationPhase(model, e.Accuracy, optimizer.ParameterCount, StateBytes(optimizer), history)
        {
            Loss = e.Loss, SamplesPerSecond = samplesPerSecond,
        };
    }

    /// <summary>
    /// About how many bytes a job holds at its peak per parameter of the base model: in the last phase the trained
    /// base model with its gradients, the LoRA copy with W packed in both orientations, and the fully fine-tuned
    /// copy with its gradients and AdamW moments are alive together, plus the collector's headroom. Measured
    /// (session 12, digits data): <c>lora train --model mlp --hidden 8000,8000</c> peaked at 3.17 GB of resident
    /// memory for 64.6 M parameters, <c>--hidden 4000,4000</c> at 0.80 GB for 16.3 M: 12.3 floats (49 bytes) per
    /// added parameter.
    /// </summary>
    public const int PeakBytesPerParameter = 49;

    /// <summary>The job's approximate peak memory for a base model of <paramref name="baseParameters"/>
    /// parameters (<see cref="PeakBytesPerParameter"/>), so that a caller can refuse sizes that cannot fit before
    /// anything is allocated.</summary>
    public static long EstimatedPeakBytes(long baseParameters) =>
        baseParameters > long.MaxValue / PeakBytesPerParameter ? long.MaxValue : baseParameters * PeakBytesPerParameter;

    /// <summary>Weights + gradients + optimizer state of the trainable parameters, in bytes.</summary>
    static long StateBytes(Optimizer optimizer) => optimizer.ParameterCount * 2 * sizeof(float) + optimizer.StateBytes;

    /// <summary>AdamW without weight decay over the trainable parameters, at <paramref name="lr"/> under the options'
    /// schedule for a phase of <paramref name="epochs"/> epochs over <paramref name="train"/>.</summary>
    static Optimizer AdamW(Module model, double lr, int epochs, Dataset train, AdaptationOptions options)
    {
        long steps = new TrainerOptions { Epochs = epochs, BatchSize = options.BatchSize }.TotalSteps(train.Count);
        return TrainableSlots.AdamW(model, options.ScheduleFor(lr, steps), weightDecay: 0);
    }

    static TrainingHistory Fit(DemoTask task, Module model, Optimizer optimizer, Dataset train, Dataset test, int epochs, AdaptationOptions options,
        ExperimentPhase phase, Action<ExperimentPhase, TrainingProgress>? progress)
    {
        var trainerOptions = new TrainerOptions
        {
            Epochs = epochs, BatchSize = options.BatchSize, Seed = options.Seed + (ulong)phase * 1000, ProgressInterval = 4,
        };
        try
        {
            return task.Fit(model, optimizer, train, test, trainerOptions, progress is null ? null : p => progress(phase, p));
        }
        catch (TrainingDivergedException e) when (e.Phase is null)
        {
            throw e.WithPhase(Describe(phase));
        }
    }

    /// <summary>The phase as the job's messages name it: "pretraining", "LoRA adaptation" or "full fine-tuning" (the
    /// <see cref="TrainingDivergedException.Phase"/> of a divergence in that phase).</summary>
    public static string Describe(ExperimentPhase phase) => phase switch
    {
        ExperimentPhase.Pretrain => "pretraining",
        ExperimentPhase.Lora => "LoRA adaptation",
        ExperimentPhase.Full => "full fine-tuning",
        _ => throw new ArgumentException($"Unknown phase {phase}.", nameof(phase)),
    };
}
