using BenchmarkDotNet.Attributes;
using Lora.Kernels;

namespace Lora.Bench;

/// <summary>One training step of the 784-1024-1024-10 MLP (batch 128, AdamW): LoRA r = 8, DoRA r = 8 and full
/// fine-tuning.
/// The PyTorch reference is <c>Lora.Bench/compare/mlp_step.py</c>.</summary>
[MemoryDiagnoser]
public class MlpStepBench
{
    MlpStepCase _case = null!;

    /// <summary>"lora", "dora" or "full".</summary>
    [Params("lora", "dora", "full")]
    public string Mode { get; set; } = "lora";

    /// <summary>Kernel threads.</summary>
    [Params(1, 2)]
    public int Threads { get; set; } = 1;

    /// <summary>Builds the model and sets the thread count.</summary>
    [GlobalSetup]
    public void Setup()
    {
        KernelThreads.Count = Threads;
        _case = new MlpStepCase(Mode != "full", dora: Mode == "dora");
        for (int i = 0; i < 3; i++) _case.Step();
    }

    /// <summary>Restores the thread count.</summary>
    [GlobalCleanup]
    public void Cleanup() => KernelThreads.Reset();

    /// <summary>Forward, backward, AdamW update, zero gradients.</summary>
    [Benchmark]
    public float Step() => _case.Step();
}
