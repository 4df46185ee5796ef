using Lora.Autograd;

namespace Lora.Core.Training;

/// <summary><see cref="TrainingObjective.Classification"/>: features in, one label per sample.</summary>
sealed class ClassificationObjective : TrainingObjective
{
    public override int TargetsPerSample(int featureCount) => 1;

    public override Shape InputShape(int count, int featureCount) => new(count, featureCount);

    public override void Fill(ReadOnlySpan<float> features, ReadOnlySpan<int> labels, int count, int featureCount,
        Span<float> input, Span<int> targets)
    {
        features[..(count * featureCount)].CopyTo(input);
        labels[..count].CopyTo(targets);
    }

    public override Tensor Logits(Tensor output, int targets)
    {
        if (output.Shape.Rank != 2 || output.Shape[0] != targets)
            throw new ArgumentException($"a classifier must return (batch, classes) logits for {targets} samples, got {output.Shape}.", nameof(output));
        return output;
    }
}
