using Lora.Core.Experiments;

namespace Lora.Core.Models;

/// <summary>The demos <c>lora train --model NAME</c> runs; one line per task.</summary>
public static class DemoTasks
{
    /// <summary>The MLP on the image data (the default).</summary>
    public static DemoTask Mlp { get; } = new MlpTask();

    /// <summary>Every task, the default first.</summary>
    public static IReadOnlyList<DemoTask> All { get; } =
    [
        Mlp,
        new CnnTask(),
        new CharRnnTask(),
        new NgramEmbeddingTask(),
    ];

    /// <summary>The task named <paramref name="name"/> (<c>--model</c>), or null.</summary>
    public static DemoTask? Find(string name) => All.FirstOrDefault(t => t.Name == name);

    /// <summary>The task whose base model has <paramref name="modelType"/>, or null.</summary>
    public static DemoTask? ForModelType(string modelType) => All.FirstOrDefault(t => t.ModelType == modelType);
}
