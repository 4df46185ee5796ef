namespace Lora.Kernels;

/// <summary>The LoRA layer's forward and backward: y = x·Wᵀ + bias + s·(x·Aᵀ)·Bᵀ, never forming B·A.</summary>
/// <remarks>
/// Shapes: x (n, k), W (d, k) frozen and packed, A (r, k), B (d, r), bias (d) or empty, h = xd·Aᵀ (n, r),
/// y (n, d), where xd is x after LoRA dropout (or x itself when dropout is off).
/// </remarks>
public static class LoraGemm
{
    /// <summary>h = xd·Aᵀ, then y = x·Wᵀ + bias + scale·h·Bᵀ.</summary>
    /// <param name="xDrop">x after dropout on the LoRA path, (n, k); empty means no dropout (use x).</param>
    public static void Forward(int n, int d, int k, int r, float scale,
        ReadOnlySpan<float> x, ReadOnlySpan<float> xDrop, PackedWeight w, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> bias, Span<float> h, Span<float> y)
    {
        LoraArguments.CheckForward(n, d, k, r, x, xDrop, w, a, b, bias, h, y);
        if (xDrop.IsEmpty) xDrop = x;
        if (r > 0) Gemm.Sgemm(Transpose.No, Transpose.Yes, n, r, k, 1f, xDrop, k, a, k, 0f, h, r);
        Gemm.Sgemm(Transpose.No, Transpose.Yes, n, d, k, 1f, x, k, w.RowMajor, k, 0f, y, d);
        if (r > 0) Gemm.Sgemm(Transpose.No, Transpose.Yes, n, d, r, scale, h, r, b, r, 1f, y, d);
        if (!bias.IsEmpty)
            for (int i = 0; i < n; i++)
                for (int j = 0; j < d; j++) y[i * d + j] += bias[j];
    }

    /// <summary>
    /// Given dy (n, d): dx = dy·W + s·(dy·B)·A; dA = s·(dy·B)ᵀ·xd; dB = s·dyᵀ·h; dBias = Σ_rows dy; dW = dyᵀ·x.
    /// Any output passed as an empty span is skipped (dW is the full fine-tuning gradient: skip it for LoRA).
    /// </summary>
    /// <param name="accumulate">true: outputs are added into (+=), as gradients accumulate; false: overwritten.</param>
    /// <param name="scratch">(n, r) workspace for dy·B; may be empty when r = 0 or when neither dx nor dA is wanted.</param>
    public static void Backward(int n, int d, int k, int r, float scale,
        ReadOnlySpan<float> x, ReadOnlySpan<float> xDrop, PackedWeight w, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> h, ReadOnlySpan<float> dy, Span<float> scratch,
        Span<float> dx, Span<float> dA, Span<float> dB, Span<float> dBias, Span<float> dW, bool accumulate)
    {
        LoraArguments.CheckBackward(n, d, k, r, x, xDrop, w, a, b, h, dy, scratch, dx, dA, dB, dBias, dW);
        if (xDrop.IsEmpty) xDrop = x;
        float beta = accumulate ? 1f : 0f;
        bool needG = r > 0 && (!dx.IsEmpty || !dA.IsEmpty);
        if (needG) Gemm.Sgemm(Transpose.No, Transpose.No, n, r, d, 1f, dy, d, b, r, 0f, scratch, r); // g = dy·B (n, r)
        if (!dx.IsEmpty)
        {
            Gemm.Sgemm(Transpose.No, Transpose.No, n, k, d, 1f, dy, d, w.RowMajor, k, beta, dx, k);
            if (r > 0) Gemm.Sgemm(Transpose.No, Transpose.No, n, k, r, scale, scratch, r, a, k, 1f, dx, k);
        }
        if (!dA.IsEmpty) Gemm.Sgemm(Transpose.Yes, Transpose.No, r, k, n, scale, scratch, r, xDrop, k, beta, dA, k);
        if (!dB.IsEmpty) Gemm.Sgemm(Transpose.Yes, Transpose.No, d, r, n, scale, dy, d, h, r, beta, dB, r);
        if (!dW.IsEmpty) Gemm.Sgemm(Transpose.Yes, Transpose.No, d, k, n, 1f, dy, d, x, k, beta, dW, k);
        if (!dBias.IsEmpty)
        {
            if (!accumulate) dBias[..d].Clear();
            for (int i = 0; i < n; i++)
                for (int j = 0; j < d; j++) dBias[j] += dy[i * d + j];
        }
    }
}
