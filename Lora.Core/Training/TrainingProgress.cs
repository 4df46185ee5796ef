namespace Lora.Core.Training;

/// <summary>When a progress event is raised.</summary>
public enum ProgressKind
{
    /// <summary>After a training step (every <see cref="TrainerOptions.ProgressInterval"/> steps and the last of an epoch).</summary>
    Batch,
    /// <summary>After an epoch and its evaluation; <see cref="TrainingProgress.EpochResult"/> is set.</summary>
    EpochEnd,
}

/// <summary>A progress report: enough to draw a progress bar (epoch, batch, samples, loss, throughput).</summary>
/// <param name="Kind">Batch or end of epoch.</param>
/// <param name="Epoch">The epoch, counted from 1.</param>
/// <param name="Epochs">The number of epochs planned.</param>
/// <param name="Batch">Minibatches done in this epoch, counted from 1 (optimizer steps too, unless
/// <see cref="TrainerOptions.GradientAccumulation"/> groups them).</param>
/// <param name="BatchesPerEpoch">Minibatches per epoch.</param>
/// <param name="SamplesSeen">Training samples processed since the run began.</param>
/// <param name="Loss">Mean training loss over this epoch's batches so far (sample-weighted).</param>
/// <param name="SamplesPerSecond">Training throughput over this epoch so far.</param>
/// <param name="LearningRate">The learning rate of the last step.</param>
/// <param name="EpochResult">The finished epoch's metrics (only for <see cref="ProgressKind.EpochEnd"/>).</param>
public readonly record struct TrainingProgress(ProgressKind Kind, int Epoch, int Epochs, int Batch, int BatchesPerEpoch,
    long SamplesSeen, double Loss, double SamplesPerSecond, double LearningRate, EpochMetrics? EpochResult);

/// <summary>One epoch's results.</summary>
/// <param name="Epoch">Counted from 1.</param>
/// <param name="TrainLoss">Mean training loss over the epoch's batches (as trained, dropout on).</param>
/// <param name="TrainAccuracy">Fraction of training samples classified correctly during the epoch's steps.</param>
/// <param name="ValidationLoss">Loss on the validation set after the epoch (eval mode), or null.</param>
/// <param name="ValidationAccuracy">Accuracy on the validation set after the epoch, or null.</param>
/// <param name="Seconds">Wall time of the epoch's training steps (evaluation excluded).</param>
/// <param name="LearningRate">The learning rate of the epoch's last step.</param>
public sealed record EpochMetrics(int Epoch, double TrainLoss, double TrainAccuracy, double? ValidationLoss,
    double? ValidationAccuracy, double Seconds, double LearningRate)
{
    /// <summary>False for an epoch that cancellation cut short: its figures cover only <see cref="Samples"/>
    /// samples, and <see cref="TrainingHistory.SecondsPerEpoch"/> leaves it out.</summary>
    public bool Complete { get; init; } = true;

    /// <summary>Training samples the epoch's steps went through (all of them unless cut short).</summary>
    public long Samples { get; init; }
}

/// <summary>Loss and accuracy of a model on a dataset.</summary>
/// <param name="Loss">Mean cross-entropy.</param>
/// <param name="Accuracy">Fraction of argmax predictions equal to the label.</param>
/// <param name="Count">Samples evaluated.</param>
public readonly record struct Evaluation(double Loss, double Accuracy, int Count);

/// <summary>The record of a run.</summary>
public sealed class TrainingHistory
{
    internal readonly List<EpochMetrics> _epochs = [];

    /// <summary>Every epoch run, in order; when cancellation cut the last one short, it is here with
    /// <see cref="EpochMetrics.Complete"/> false.</summary>
    public IReadOnlyList<EpochMetrics> Epochs => _epochs;

    /// <summary>The epoch (from 1) with the best monitored metric, 0 if none ran or every one was NaN.</summary>
    public int BestEpoch { get; internal set; }

    /// <summary>True when early stopping ended the run.</summary>
    public bool StoppedEarly { get; internal set; }

    /// <summary>True when the run was cancelled.</summary>
    public bool Cancelled { get; internal set; }

    /// <summary>Optimizer steps taken.</summary>
    public long Steps { get; internal set; }

    /// <summary>Mean wall seconds per complete training epoch (evaluation excluded; 0 when none completed).</summary>
    public double SecondsPerEpoch => _epochs.Any(e => e.Complete) ? _epochs.Where(e => e.Complete).Average(e => e.Seconds) : 0;

    /// <summary>Training samples per wall second over every epoch run, a cut-short one included.</summary>
    public double SamplesPerSecond
    {
        get
        {
            double seconds = _epochs.Sum(e => e.Seconds);
            return seconds > 0 ? _epochs.Sum(e => e.Samples) / seconds : 0;
        }
    }
}
