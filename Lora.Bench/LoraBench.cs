using BenchmarkDotNet.Attributes;
using Lora.Kernels;

namespace Lora.Bench;

/// <summary>
/// BenchmarkDotNet: the fused LoRA forward against the plain GEMM x·Wᵀ and the unfused three-call version, and
/// the LoRA training step (forward + backward without dW) against the full fine-tuning step (with dW), on the
/// shapes of <c>quick lora</c>, at 1 thread and all cores.
/// Run: <c>dotnet run -c Release --project Lora.Bench -- --filter '*LoraBench*'</c>.
/// </summary>
[MemoryDiagnoser]
public class LoraBench
{
    LoraLayer _layer = null!;

    /// <summary>The layer shape as "n,d,k,r".</summary>
    [Params("256,1024,1024,8", "256,1024,1024,64", "256,4096,4096,8", "16,4096,4096,8", "1,4096,4096,8")]
    public string Shape { get; set; } = "";

    /// <summary>Kernel threads (1, or 0 for all cores).</summary>
    [Params(1, 0)]
    public int Threads { get; set; }

    /// <summary>Builds the layer and sets the thread count.</summary>
    [GlobalSetup]
    public void Setup()
    {
        int[] v = Shape.Split(',').Select(int.Parse).ToArray();
        _layer = new LoraLayer(v[0], v[1], v[2], v[3]);
        KernelThreads.Count = Threads == 0 ? Environment.ProcessorCount : Threads;
    }

    /// <summary>Restores the default thread count.</summary>
    [GlobalCleanup]
    public void Cleanup() => KernelThreads.Reset();

    /// <summary>y = x·Wᵀ by the plain GEMM.</summary>
    [Benchmark(Baseline = true)]
    public void PlainForward() => _layer.PlainForward();

    /// <summary>The fused forward [x | s·h]·[W | B]ᵀ.</summary>
    [Benchmark]
    public void LoraForward() => _layer.LoraForward();

    /// <summary>Three GEMM calls and an extra pass over y.</summary>
    [Benchmark]
    public void UnfusedForward() => _layer.UnfusedForward();

    /// <summary>Fused forward + backward (dx, dA, dB).</summary>
    [Benchmark]
    public void LoraStep() => _layer.LoraStep();

    /// <summary>Plain forward + backward (dx, dW).</summary>
    [Benchmark]
    public void FullStep() => _layer.FullStep();
}
