using Lora.Autograd;

namespace Lora.Core.Training;

/// <summary><see cref="TrainingObjective.NextToken"/>: a sample is a window of T + 1 ids; the model reads the first
/// T and is scored on predicting each following one.</summary>
sealed class NextTokenObjective : TrainingObjective
{
    public override int TargetsPerSample(int featureCount) => featureCount >= 2 ? featureCount - 1
        : throw new ArgumentException($"a sample holds {featureCount} id; next-token windows need at least 2 (T + 1).", nameof(featureCount));

    public override Shape InputShape(int count, int featureCount) => new(count, TargetsPerSample(featureCount));

    // windows (count, T + 1) → input (count, T) = ids 0…T−1, targets (count·T) = ids 1…T; the labels are not used.
    public override void Fill(ReadOnlySpan<float> features, ReadOnlySpan<int> labels, int count, int featureCount,
        Span<float> input, Span<int> targets)
    {
        int t = TargetsPerSample(featureCount);
        for (int i = 0; i < count; i++)
        {
            var w = features.Slice(i * featureCount, featureCount);
            w[..t].CopyTo(input.Slice(i * t, t));
            for (int j = 0; j < t; j++) targets[i * t + j] = (int)w[j + 1];
        }
    }

    public override Tensor Logits(Tensor output, int targets)
    {
        if (output.Shape.Rank != 3 || output.Shape.Rows != targets)
            throw new ArgumentException($"a next-token model must return (batch, time, vocabulary) logits for {targets} positions, got {output.Shape}.", nameof(output));
        return Ops.Reshape(output, new Shape(targets, output.Shape.Last));
    }
}
