using Lora.Core.Data;
using Lora.Core.IO;
using Lora.Core.Lora;
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
/// The main job: pretrain an MLP on task A, shift to task B, then adapt the same base twice — with LoRA and with full
/// fine-tuning — and measure accuracy, trainable state and time.
/// </summary>
/// <remarks>Every random choice derives from <see cref="AdaptationOptions.Seed"/>, and the kernels are deterministic
/// across thread counts, so the same options give the same bits.</remarks>
public static class AdaptationExperiment
{
    /// <summary>Runs the experiment on a dataset, splitting off <see cref="AdaptationOptions.TestFraction"/> for testing.</summary>
    public static AdaptationResult Run(Dataset data, AdaptationOptions options, Action<ExperimentPhase, TrainingProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var (train, test) = DatasetSplit.Split(data, options.TestFraction, options.Seed, stratified: true);
        return Run(train, test, options, progress);
    }

    /// <summary>Runs the experiment on a given train/test split of task A.</summary>
    /// <exception cref="ArgumentException">Bad options, mismatched datasets, or a rank larger than a targeted layer.</exception>
    public static AdaptationResult Run(Dataset train, Dataset test, AdaptationOptions options, Action<ExperimentPhase, TrainingProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (train.FeatureCount != test.FeatureCount || train.ClassCount != test.ClassCount)
            throw new ArgumentException($"train '{train.Name}' ({train.FeatureCount} features, {train.ClassCount} classes) and test '{test.Name}' ({test.FeatureCount}, {test.ClassCount}) differ.");
        var loraConfig = new LoraConfig { R = options.Rank, Alpha = options.Alpha, TargetModules = options.Targets.ToArray() };
        var sizes = new List<int> { train.FeatureCount };
        sizes.AddRange(options.Hidden);
        sizes.Add(train.ClassCount);
        var config = new ModelConfig(sizes);
        CheckTargets(config, loraConfig);

        var trainB = options.ApplyShift(train);
        var testB = options.ApplyShift(test);

        var baseModel = new Mlp(config, options.Seed);
        var baseHistory = Fit(baseModel, TrainableSlots.AdamW(baseModel, LearningRateSchedule.Constant(options.BaseLearningRate), weightDecay: 0),
            train, test, options.BaseEpochs, options, ExperimentPhase.Pretrain, progress);
        double baseAccuracy = Trainer.Evaluate(baseModel, test).Accuracy;
        double before = Trainer.Evaluate(baseModel, testB).Accuracy;

        var loraModel = Clone(baseModel);
        var report = loraModel.ApplyLora(loraConfig, seed: options.Seed + 1);
        var loraOptimizer = TrainableSlots.AdamW(loraModel, LearningRateSchedule.Constant(options.LoraLearningRate), weightDecay: 0);
        var loraHistory = Fit(loraModel, loraOptimizer, trainB, testB, options.LoraEpochs, options, ExperimentPhase.Lora, progress);
        var lora = new AdaptationPhase(loraModel, Trainer.Evaluate(loraModel, testB).Accuracy,
            loraOptimizer.ParameterCount, StateBytes(loraOptimizer), loraHistory);

        var fullModel = Clone(baseModel);
        var fullOptimizer = TrainableSlots.AdamW(fullModel, LearningRateSchedule.Constant(options.FullLearningRate), weightDecay: 0);
        var fullHistory = Fit(fullModel, fullOptimizer, trainB, testB, options.FullEpochs, options, ExperimentPhase.Full, progress);
        var full = new AdaptationPhase(fullModel, Trainer.Evaluate(fullModel, testB).Accuracy,
            fullOptimizer.ParameterCount, StateBytes(fullOptimizer), fullHistory);

        return new AdaptationResult
        {
            Base = baseModel, BaseAccuracy = baseAccuracy, BaseHistory = baseHistory, TaskBBefore = before,
            Lora = lora, LoraReport = report, Full = full, Sizes = (train.Count, test.Count),
        };
    }

    /// <summary>Weights + gradients + optimizer state of the trainable parameters, in bytes.</summary>
    static long StateBytes(Optimizer optimizer) => optimizer.ParameterCount * 2 * sizeof(float) + optimizer.StateBytes;

    static TrainingHistory Fit(Mlp model, Optimizer optimizer, Dataset train, Dataset test, int epochs, AdaptationOptions options,
        ExperimentPhase phase, Action<ExperimentPhase, TrainingProgress>? progress)
    {
        var trainer = new Trainer(model, optimizer, new TrainerOptions
        {
            Epochs = epochs, BatchSize = options.BatchSize, Seed = options.Seed + (ulong)phase * 1000, ProgressInterval = 4,
        });
        if (progress != null) trainer.Progress += p => progress(phase, p);
        return trainer.Fit(train, test);
    }

    /// <summary>A new model with the same architecture and a copy of every weight.</summary>
    static Mlp Clone(Mlp source)
    {
        var copy = Mlp.CreateEmpty(source.Config);
        var weights = source.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter);
        foreach (var (name, p) in copy.NamedParameters()) weights[name].Data.CopyTo(p.Data);
        return copy;
    }

    /// <summary>Fails before any training when the targets match nothing or the rank exceeds a targeted layer.</summary>
    static void CheckTargets(ModelConfig config, LoraConfig lora)
    {
        var layers = config.Linears().ToList();
        var targeted = layers.Where(l => lora.Targets(l.Path)).ToList();
        if (targeted.Count == 0)
            throw new ArgumentException($"LoRA targets [{string.Join(", ", lora.TargetModules)}] match no layer of the model [{string.Join(", ", layers.Select(l => l.Path))}].");
        foreach (var (path, i, o) in targeted)
            if (lora.R > Math.Min(i, o))
                throw new ArgumentException($"rank {lora.R} is larger than layer {path} ({o}×{i}) allows (at most {Math.Min(i, o)}).");
    }
}
