namespace Lora.Core.Training;

/// <summary>What early stopping watches.</summary>
public enum EarlyStoppingMetric
{
    /// <summary>The validation loss (lower is better); the training loss when there is no validation set.</summary>
    Loss,
    /// <summary>The validation accuracy (higher is better); the training accuracy when there is no validation set.</summary>
    Accuracy,
}

/// <summary>Settings of a <see cref="Trainer"/> run. Every setter validates and throws <see cref="ArgumentException"/>.</summary>
public sealed record TrainerOptions
{
    /// <summary>Passes over the training set (default 10, ≥ 1).</summary>
    public int Epochs { get; init => field = value >= 1 ? value : throw new ArgumentException($"Epochs = {value} must be at least 1.", nameof(Epochs)); } = 10;

    /// <summary>The epoch <see cref="Trainer.Fit"/> starts at (default 1), to resume a run that stopped after epoch
    /// FirstEpoch − 1: each epoch's batch order depends on (seed, epoch) only, so with the parameters and the
    /// optimizer's state of that moment (<see cref="Optim.Optimizer.LoadState"/>) the resumed run takes the same steps
    /// as the uninterrupted one. Must not exceed <see cref="Epochs"/> (checked by Fit).</summary>
    public int FirstEpoch { get; init => field = value >= 1 ? value : throw new ArgumentException($"FirstEpoch = {value} must be at least 1.", nameof(FirstEpoch)); } = 1;

    /// <summary>Samples per training step (default 64, ≥ 1).</summary>
    public int BatchSize { get; init => field = value >= 1 ? value : throw new ArgumentException($"BatchSize = {value} must be at least 1.", nameof(BatchSize)); } = 64;

    /// <summary>Samples per evaluation forward pass (default 512, ≥ 1); does not change the results.</summary>
    public int EvaluationBatchSize { get; init => field = value >= 1 ? value : throw new ArgumentException($"EvaluationBatchSize = {value} must be at least 1.", nameof(EvaluationBatchSize)); } = 512;

    /// <summary>Seed of the minibatch order (epoch e uses the permutation drawn from (seed, e)).</summary>
    public ulong Seed { get; init; }

    /// <summary>Skip a last batch smaller than <see cref="BatchSize"/> (default false).</summary>
    public bool DropLast { get; init; }

    /// <summary>Stop after this many epochs without improvement of <see cref="EarlyStoppingMetric"/>; null (default) never stops early.</summary>
    public int? EarlyStoppingPatience { get; init => field = value is null or >= 1 ? value : throw new ArgumentException($"EarlyStoppingPatience = {value} must be at least 1.", nameof(EarlyStoppingPatience)); }

    /// <summary>The metric early stopping and <see cref="RestoreBestWeights"/> watch (default loss).</summary>
    public EarlyStoppingMetric EarlyStoppingMetric { get; init; } = EarlyStoppingMetric.Loss;

    /// <summary>An improvement smaller than this does not count (default 0, ≥ 0).</summary>
    public double MinDelta { get; init => field = value >= 0 && double.IsFinite(value) ? value : throw new ArgumentException($"MinDelta = {value} must be finite and ≥ 0.", nameof(MinDelta)); }

    /// <summary>At the end, put back the trainable weights of the best epoch (default false).</summary>
    public bool RestoreBestWeights { get; init; }

    /// <summary>Raise a batch progress event every this many steps (default 1); epoch events are always raised.</summary>
    public int ProgressInterval { get; init => field = value >= 1 ? value : throw new ArgumentException($"ProgressInterval = {value} must be at least 1.", nameof(ProgressInterval)); } = 1;

    /// <summary>Throw <see cref="TrainingDivergedException"/> at the first step whose loss is NaN or infinite, before
    /// its backward pass and update (default true). False trains on, as PyTorch does: the parameters then turn NaN.</summary>
    public bool StopOnNonFiniteLoss { get; init; } = true;

    /// <summary>Minibatches whose gradients add up before each optimizer step (default 1, ≥ 1): the step then follows
    /// the gradient of the mean loss over all their targets, as one batch of that size would, while the activations
    /// held at once are those of one minibatch. An epoch's last group may have fewer minibatches.</summary>
    public int GradientAccumulation { get; init => field = value >= 1 ? value : throw new ArgumentException($"GradientAccumulation = {value} must be at least 1.", nameof(GradientAccumulation)); } = 1;

    /// <summary>Optimizer steps in a run over <paramref name="trainCount"/> samples: what a cosine schedule needs.</summary>
    public long TotalSteps(int trainCount)
    {
        long batches = DropLast ? trainCount / BatchSize : (trainCount + (long)BatchSize - 1) / BatchSize;
        return Epochs * ((batches + GradientAccumulation - 1) / GradientAccumulation);
    }
}
