using Lora.Core.Data;
using Lora.Core.Experiments;
using Lora.Core.IO;

namespace Lora.Core.Models;

/// <summary>The image demos' data: task A is classifying the images (the embedded UCI digits by default, or an
/// MNIST-format IDX directory with <c>--data</c>), task B the same images under <see cref="AdaptationOptions.Shift"/>
/// (rotated 90° by default), labels unchanged.</summary>
public abstract class ImageTask : DemoTask
{
    /// <summary>The name reports give the built-in data.</summary>
    public const string DigitsName = "digits (embedded UCI optical digits)";

    /// <inheritdoc/>
    public override DemoSettings Settings => DemoSettings.Data | DemoSettings.Shift | DemoSettings.Hidden;

    /// <inheritdoc/>
    public override DemoData LoadData(AdaptationOptions options, string? dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (dataDirectory is null)
        {
            var (train, test) = DatasetSplit.Split(Digits.Load(), options.TestFraction, options.Seed, stratified: true);
            return Prepare(train, test, options, DigitsName);
        }
        var idx = Idx.LoadDirectory(dataDirectory);
        return Prepare(idx.Train, idx.Test, options, Path.GetFullPath(dataDirectory));
    }

    /// <summary>Tasks A and B from a train/test split of task A.</summary>
    /// <exception cref="ArgumentException">The two sets differ in features or classes.</exception>
    public static DemoData Prepare(Dataset train, Dataset test, AdaptationOptions options, string name)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        ArgumentNullException.ThrowIfNull(options);
        if (train.FeatureCount != test.FeatureCount || train.ClassCount != test.ClassCount)
            throw new ArgumentException($"train '{train.Name}' ({train.FeatureCount} features, {train.ClassCount} classes) and test '{test.Name}' ({test.FeatureCount}, {test.ClassCount}) differ.");
        return new DemoData(train, test, options.ApplyShift(train), options.ApplyShift(test), name, AdaptationOptions.ShiftName(options.Shift));
    }

    /// <summary>The input features and the number of classes a saved model of <paramref name="config"/> takes.</summary>
    protected abstract (int Features, int Classes) InputsAndClasses(IModelConfig config);

    /// <inheritdoc/>
    public override void CheckCompatible(IModelConfig config, Dataset data)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(data);
        var (inputs, classes) = InputsAndClasses(config);
        if (data.FeatureCount != inputs || data.ClassCount > classes)
            throw new ArgumentException($"the model ({config.Summary}) takes {inputs} inputs and {classes} classes but the data has {data.FeatureCount} features and {data.ClassCount} classes.");
    }
}
