using BenchmarkDotNet.Attributes;
using Lora.Autograd;
using Lora.Kernels;

namespace Lora.Bench;

/// <summary>
/// Engine overhead per op on tiny tensors (1×4): a chain of 32 elementwise ops (Mul by a parameter, Tanh, …)
/// plus a Sum, run forward + backward through the tape, forward only under NoGrad, and as the same kernel calls
/// on preallocated spans with no engine at all. (Engine − kernels) / ops is the bookkeeping cost per op: tape
/// node, pooled output tensor, gradient buffer, reset.
/// </summary>
/// <remarks>Run: <c>dotnet run -c Release --project Lora.Bench -- --filter '*AutogradOverhead*'</c>.</remarks>
[MemoryDiagnoser]
[WarmupCount(3)]
[IterationCount(15)]
public class AutogradOverheadBench
{
    /// <summary>Ops per invocation: 16 × (Mul, Tanh) and the final Sum.</summary>
    public const int OpsPerChain = 33;
    const int Pairs = 16;

    Tensor _x = null!;
    Parameter _p = null!;
    float[] _xs = null!, _ps = null!, _gp = null!, _gx = null!;
    float[][] _act = null!, _grad = null!;

    [GlobalSetup]
    public void Setup()
    {
        _xs = [0.1f, -0.2f, 0.3f, 0.4f];
        _ps = [0.9f, 1.1f, -0.8f, 1.0f];
        _x = new Tensor(_xs, new Shape(1, 4), requiresGrad: true);
        _p = new Parameter("p", _ps, new Shape(1, 4));
        _gp = new float[4];
        _gx = new float[4];
        _act = Enumerable.Range(0, 2 * Pairs + 1).Select(_ => new float[4]).ToArray();
        _grad = Enumerable.Range(0, 2 * Pairs + 1).Select(_ => new float[4]).ToArray();
        Tape.Current.Reset();
    }

    /// <summary>Forward and backward through the tape (the training path).</summary>
    [Benchmark(OperationsPerInvoke = OpsPerChain)]
    public float TapeForwardBackward()
    {
        var tape = Tape.Current;
        tape.Reset();
        var y = _x;
        for (int i = 0; i < Pairs; i++) y = Ops.Tanh(Ops.Mul(y, _p));
        var loss = Ops.Sum(y);
        loss.Backward();
        _p.ZeroGrad();
        _x.ZeroGrad();
        return loss.Item;
    }

    /// <summary>Forward only under NoGrad (the inference path: pooled outputs, no nodes).</summary>
    [Benchmark(OperationsPerInvoke = OpsPerChain)]
    public float TapeForwardNoGrad()
    {
        var tape = Tape.Current;
        tape.Reset();
        using var _ = Tape.NoGrad();
        var y = _x;
        for (int i = 0; i < Pairs; i++) y = Ops.Tanh(Ops.Mul(y, _p));
        return Ops.Sum(y).Item;
    }

    /// <summary>The same kernels, forward and backward, on preallocated spans: the floor the engine adds to.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = OpsPerChain)]
    public float KernelsOnly()
    {
        _xs.CopyTo(_act[0], 0);
        for (int i = 0; i < Pairs; i++)
        {
            Elementwise.Multiply(_act[2 * i], _ps, _act[2 * i + 1]);
            Elementwise.Tanh(_act[2 * i + 1], _act[2 * i + 2]);
        }
        float loss = Reductions.Sum(_act[2 * Pairs]);
        foreach (var g in _grad) Array.Clear(g);
        Elementwise.BinaryWithScalar<AddOperator>(_grad[2 * Pairs], 1f, _grad[2 * Pairs]);
        for (int i = Pairs - 1; i >= 0; i--)
        {
            Elementwise.TanhBackward(_act[2 * i + 2], _grad[2 * i + 2], _grad[2 * i + 1]);
            Elementwise.BinaryAccumulate<MultiplyOperator>(_grad[2 * i + 1], _ps, _grad[2 * i]);
            Elementwise.BinaryAccumulate<MultiplyOperator>(_grad[2 * i + 1], _act[2 * i], _gp);
        }
        Array.Clear(_gp);
        return loss;
    }
}
