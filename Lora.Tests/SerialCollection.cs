namespace Lora.Tests;

/// <summary>
/// Tests that change process-wide settings (<c>KernelThreads.Count</c>, GEMM tuning statics) or measure allocation
/// share this collection: xunit runs it alone, after the parallel collections, so nothing else disturbs them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    /// <summary>The collection's name, for <c>[Collection(SerialCollection.Name)]</c>.</summary>
    public const string Name = "Serial";
}
