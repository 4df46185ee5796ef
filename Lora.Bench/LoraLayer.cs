using Lora.Kernels;

namespace Lora.Bench;

/// <summary>
/// One LoRA layer's buffers and the five operations the LoRA benchmarks time, shared by the BenchmarkDotNet
/// class and <c>quick lora</c>: x (n, k), W (d, k), A (r, k), B (d, r), s = 2, no bias; a step's backward takes
/// dy = ones and computes dx, the LoRA step also dA and dB, the full step also dW.
/// </summary>
internal sealed class LoraLayer
{
    public readonly int N, D, K, R;
    const float Scale = 2f;
    readonly float[] _x, _w, _a, _b, _h, _y, _dy, _g, _dx, _dA, _dB, _dW;
    readonly PackedWeight _packed;

    public LoraLayer(int n, int d, int k, int r)
    {
        N = n; D = d; K = k; R = r;
        var rng = new Random(1);
        float[] Fill(long count, float scale)
        {
            var v = new float[count];
            for (long i = 0; i < count; i++) v[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
            return v;
        }
        _x = Fill((long)n * k, 1f);
        _w = Fill((long)d * k, 1f / MathF.Sqrt(k));
        _a = Fill((long)r * k, 1f / MathF.Sqrt(k));
        _b = Fill((long)d * r, 0.01f);
        _h = new float[n * r];
        _y = new float[(long)n * d];
        _dy = new float[(long)n * d];
        Array.Fill(_dy, 1f);
        _g = new float[n * r];
        _dx = new float[(long)n * k];
        _dA = new float[(long)r * k];
        _dB = new float[(long)d * r];
        _dW = new float[(long)d * k];
        _packed = new PackedWeight(d, k);
        _packed.Pack(_w);
    }

    /// <summary>Bytes of W one forward must read (the n = 1 bandwidth figure).</summary>
    public long WeightBytes => (long)D * K * sizeof(float);

    /// <summary>y = x·Wᵀ through the library's plain GEMM (W row-major, packed per call as any BLAS does).</summary>
    public void PlainForward() =>
        Gemm.Sgemm(Transpose.No, Transpose.Yes, N, D, K, 1f, _x, K, _w, K, 0f, _y, D);

    /// <summary>The fused LoRA forward on the pre-packed W.</summary>
    public void LoraForward() =>
        LoraGemm.Forward(N, D, K, R, Scale, _x, default, _packed, _a, _b, default, _h, _y);

    /// <summary>The usual three GEMM calls: h = x·Aᵀ, y = x·Wᵀ, y += s·h·Bᵀ (an extra pass over y).</summary>
    public void UnfusedForward()
    {
        Gemm.Sgemm(Transpose.No, Transpose.Yes, N, R, K, 1f, _x, K, _a, K, 0f, _h, R);
        Gemm.Sgemm(Transpose.No, Transpose.Yes, N, D, K, 1f, _x, K, _w, K, 0f, _y, D);
        Gemm.Sgemm(Transpose.No, Transpose.Yes, N, D, R, Scale, _h, R, _b, R, 1f, _y, D);
    }

    /// <summary>Fused forward, then dx, dA, dB (W frozen: no dW).</summary>
    public void LoraStep()
    {
        LoraForward();
        LoraGemm.Backward(N, D, K, R, Scale, _x, default, _packed, _a, _b, _h, _dy, _g, _dx, _dA, _dB, default, default, false);
    }

    /// <summary>Full fine-tuning of the plain layer: y = x·Wᵀ, dx = dy·W, dW = dyᵀ·x.</summary>
    public void FullStep()
    {
        PlainForward();
        Gemm.Sgemm(Transpose.No, Transpose.No, N, K, D, 1f, _dy, D, _w, K, 0f, _dx, K);
        Gemm.Sgemm(Transpose.Yes, Transpose.No, D, K, N, 1f, _dy, D, _x, K, 0f, _dW, K);
    }

    /// <summary>The five operations by the names quick mode prints.</summary>
    public (string Name, Action Body)[] Kernels() =>
    [
        ("plain_forward", PlainForward), ("lora_forward", LoraForward), ("unfused_forward", UnfusedForward),
        ("lora_step", LoraStep), ("full_step", FullStep),
    ];
}
