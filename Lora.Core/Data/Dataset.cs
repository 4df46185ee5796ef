namespace Lora.Core.Data;

/// <summary>A labelled classification dataset in memory: float features (n × f, row-major) and int labels.</summary>
/// <remarks>
/// Image datasets also carry their height and width (f = height · width, pixels row by row, scaled to [0, 1]);
/// for other data both are 0. Instances are immutable by convention: transforms and splits return new datasets.
/// </remarks>
public sealed class Dataset
{
    /// <summary>Wraps the arrays (not copied) after checking they agree.</summary>
    /// <exception cref="ArgumentException">Sizes that disagree, a label outside [0, classCount), or an image size
    /// whose area is not the feature count.</exception>
    public Dataset(string name, float[] features, int[] labels, int featureCount, int classCount, int height = 0, int width = 0)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        if (featureCount < 1) throw new ArgumentException($"Dataset '{name}': feature count {featureCount} must be positive.", nameof(featureCount));
        if (classCount < 1) throw new ArgumentException($"Dataset '{name}': class count {classCount} must be positive.", nameof(classCount));
        if ((long)labels.Length * featureCount != features.Length)
            throw new ArgumentException(
                $"Dataset '{name}': {labels.Length} labels × {featureCount} features needs {(long)labels.Length * featureCount} values, got {features.Length}.",
                nameof(features));
        if (height < 0 || width < 0 || (height != 0 || width != 0) && (long)height * width != featureCount)
            throw new ArgumentException($"Dataset '{name}': an image of {height}×{width} does not hold {featureCount} features.", nameof(height));
        for (int i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] >= (uint)classCount)
                throw new ArgumentException($"Dataset '{name}': label {labels[i]} of sample {i} is outside [0, {classCount}).", nameof(labels));
        }
        Name = name;
        Features = features;
        Labels = labels;
        FeatureCount = featureCount;
        ClassCount = classCount;
        Height = height;
        Width = width;
    }

    /// <summary>A short description for reports, e.g. <c>digits</c>.</summary>
    public string Name { get; }

    /// <summary>The features, sample by sample: sample i occupies [i·f, (i+1)·f).</summary>
    public float[] Features { get; }

    /// <summary>The class of each sample, in [0, <see cref="ClassCount"/>).</summary>
    public int[] Labels { get; }

    /// <summary>The number of samples.</summary>
    public int Count => Labels.Length;

    /// <summary>Features per sample, f.</summary>
    public int FeatureCount { get; }

    /// <summary>The number of classes.</summary>
    public int ClassCount { get; }

    /// <summary>Image height in pixels, or 0 when the features are not an image.</summary>
    public int Height { get; }

    /// <summary>Image width in pixels, or 0 when the features are not an image.</summary>
    public int Width { get; }

    /// <summary>True when <see cref="Height"/> and <see cref="Width"/> describe the features.</summary>
    public bool IsImage => Height > 0;

    /// <summary>The features of sample <paramref name="index"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An index outside [0, <see cref="Count"/>).</exception>
    public ReadOnlySpan<float> Sample(int index) => (uint)index < (uint)Count
        ? Features.AsSpan(index * FeatureCount, FeatureCount) // index·f < features.Length, an int
        : throw new ArgumentOutOfRangeException(nameof(index), $"Dataset '{Name}': sample {index} is outside [0, {Count}).");

    /// <summary>The samples at <paramref name="indices"/>, in that order, as a new dataset.</summary>
    public Dataset Subset(ReadOnlySpan<int> indices, string? name = null)
    {
        var features = new float[(long)indices.Length * FeatureCount];
        var labels = new int[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            int j = indices[i];
            if ((uint)j >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(indices), $"Index {j} is outside [0, {Count}).");
            Sample(j).CopyTo(features.AsSpan(i * FeatureCount, FeatureCount));
            labels[i] = Labels[j];
        }
        return new Dataset(name ?? Name, features, labels, FeatureCount, ClassCount, Height, Width);
    }

    /// <summary>How many samples each class has.</summary>
    public int[] ClassCounts()
    {
        var counts = new int[ClassCount];
        foreach (int l in Labels) counts[l]++;
        return counts;
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Name}: {Count} samples, {FeatureCount} features{(IsImage ? $" ({Height}×{Width})" : "")}, {ClassCount} classes";
}
