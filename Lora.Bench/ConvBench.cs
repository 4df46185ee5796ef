using BenchmarkDotNet.Attributes;
using Lora.Kernels;

namespace Lora.Bench;

/// <summary>
/// BenchmarkDotNet: the fused LoRA convolution forward against the plain convolution (the same kernel with r = 0) and
/// the unfused composition (plain convolution, convolution with A, 1×1 convolution with B), on the ResNet-style shapes
/// of <c>quick conv</c>, at 1 thread and all cores.
/// Run: <c>dotnet run -c Release --project Lora.Bench -- --filter '*ConvBench*'</c>.
/// </summary>
[MemoryDiagnoser]
public class ConvBench
{
    QuickConv.ConvCase _case = null!;

    /// <summary>The shape as "n,c,hw,cout,k,r" (3×3 kernels, stride 1, same padding).</summary>
    [Params("16,128,28,128,3,8", "32,256,14,256,3,8")]
    public string Shape { get; set; } = "";

    /// <summary>Kernel threads (1, or 0 for all cores).</summary>
    [Params(1, 0)]
    public int Threads { get; set; }

    /// <summary>Builds the operands and sets the thread count.</summary>
    [GlobalSetup]
    public void Setup()
    {
        int[] v = Shape.Split(',').Select(int.Parse).ToArray();
        _case = new QuickConv.ConvCase(v[0], v[1], v[2], v[3], v[4], v[5]);
        KernelThreads.Count = Threads == 0 ? Environment.ProcessorCount : Threads;
    }

    /// <summary>Restores the default thread count.</summary>
    [GlobalCleanup]
    public void Cleanup() => KernelThreads.Reset();

    /// <summary>y = conv(x, W) + b: im2col and one packed GEMM per image.</summary>
    [Benchmark(Baseline = true)]
    public void PlainConv() => _case.Plain();

    /// <summary>The fused LoRA convolution.</summary>
    [Benchmark]
    public void LoraConv() => _case.Lora();

    /// <summary>Three convolutions: W, A, then B (1×1) added to y.</summary>
    [Benchmark]
    public void UnfusedLoraConv() => _case.Unfused();
}
