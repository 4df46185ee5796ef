using Lora.Autograd;
using Lora.Core.Data;

namespace Lora.Core.Training;

/// <summary>
/// What a <see cref="Trainer"/> optimises: how a minibatch of dataset samples becomes the model's input and the
/// targets of a softmax cross-entropy, and how the model's output becomes one row of logits per target.
/// </summary>
/// <remarks>
/// <para>The trainer's loop, evaluation, early stopping and progress events are the same for every objective; only
/// this mapping differs. <see cref="Classification"/> (the default) reads a sample's features as the input and its
/// label as the one target; <see cref="NextToken"/> reads a sample as a window of T + 1 token ids whose first T are
/// the input and last T the targets, so the loss is the mean over all N·T positions.</para>
/// <para>Implementations fill caller-owned buffers and allocate nothing, so a training step stays allocation-free.</para>
/// </remarks>
public abstract class TrainingObjective
{
    /// <summary>One label per sample; the input is the sample's features. The model returns (N, classes) logits.</summary>
    public static TrainingObjective Classification { get; } = new ClassificationObjective();

    /// <summary>Next-token prediction on windows of T + 1 ids (see <see cref="TextWindows.AsDataset"/>): input ids
    /// 0…T−1, targets ids 1…T. The model returns (N, T, vocabulary) logits.</summary>
    public static TrainingObjective NextToken { get; } = new NextTokenObjective();

    /// <summary>Targets (loss terms) per sample of a dataset with <paramref name="featureCount"/> features.</summary>
    /// <exception cref="ArgumentException">A feature count this objective cannot read.</exception>
    public abstract int TargetsPerSample(int featureCount);

    /// <summary>The model's input shape for <paramref name="count"/> samples of <paramref name="featureCount"/> features.</summary>
    public abstract Shape InputShape(int count, int featureCount);

    /// <summary>Fills the model's input (<see cref="InputShape"/>, row-major) and the targets
    /// (count · <see cref="TargetsPerSample"/>) from <paramref name="count"/> samples.</summary>
    /// <param name="features">The samples' features, (count, featureCount).</param>
    /// <param name="labels">The samples' labels, count values.</param>
    /// <param name="count">Samples in the batch.</param>
    /// <param name="featureCount">Features per sample.</param>
    /// <param name="input">Receives the input values.</param>
    /// <param name="targets">Receives the target classes.</param>
    public abstract void Fill(ReadOnlySpan<float> features, ReadOnlySpan<int> labels, int count, int featureCount,
        Span<float> input, Span<int> targets);

    /// <summary>The model's output as (targets, classes) logits, one row per target in <see cref="Fill"/>'s order.</summary>
    /// <exception cref="ArgumentException">An output whose shape does not give <paramref name="targets"/> rows.</exception>
    public abstract Tensor Logits(Tensor output, int targets);

    /// <summary>Checks that <paramref name="data"/> can be read by this objective (its feature count).</summary>
    /// <exception cref="ArgumentException">It cannot, naming the dataset.</exception>
    public void Check(Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        try { TargetsPerSample(data.FeatureCount); }
        catch (ArgumentException e) { throw new ArgumentException($"'{data.Name}': {e.Message}", nameof(data), e); }
    }
}
