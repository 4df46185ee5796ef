namespace Lora.Kernels;

/// <summary>
/// The plain scalar, unfused twin of <see cref="LoraGemm"/> over a row-major W (d, k): the readable definition
/// of the layer and an oracle for the fused kernels. Same semantics, no packing, no threads, no SIMD.
/// </summary>
public static class LoraGemmReference
{
    /// <summary>h = xd·Aᵀ, then y = x·Wᵀ + bias + scale·h·Bᵀ. xDrop empty means xd = x.</summary>
    /// <exception cref="ArgumentException">A size is negative or a span does not match its shape.</exception>
    public static void Forward(int n, int d, int k, int r, float scale,
        ReadOnlySpan<float> x, ReadOnlySpan<float> xDrop, ReadOnlySpan<float> w, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> bias, Span<float> h, Span<float> y)
    {
        LoraArguments.CheckForward(n, d, k, r, x, xDrop, new LoraArguments.PackedShape(d, k), a, b, bias, h, y);
        LoraArguments.Need("w", w.Length, d, k);
        ReadOnlySpan<float> xd = xDrop.IsEmpty ? x : xDrop;
        for (int i = 0; i < n; i++)
            for (int q = 0; q < r; q++)
                h[i * r + q] = Dot(xd.Slice(i * k, k), a.Slice(q * k, k));               // h = xd·Aᵀ
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++)
            {
                float low = Dot(h.Slice(i * r, r), b.Slice(j * r, r));                   // (h·Bᵀ)[i, j]
                y[i * d + j] = Dot(x.Slice(i * k, k), w.Slice(j * k, k)) + scale * low + (bias.IsEmpty ? 0f : bias[j]);
            }
    }

    /// <summary>
    /// dx = dy·W + s·(dy·B)·A; dA = s·(dy·B)ᵀ·xd; dB = s·dyᵀ·h; dBias = Σ_rows dy; dW = dyᵀ·x. Empty outputs are
    /// skipped; <paramref name="accumulate"/> adds into them, otherwise they are overwritten.
    /// </summary>
    /// <exception cref="ArgumentException">A size is negative or a span does not match its shape.</exception>
    public static void Backward(int n, int d, int k, int r, float scale,
        ReadOnlySpan<float> x, ReadOnlySpan<float> xDrop, ReadOnlySpan<float> w, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> h, ReadOnlySpan<float> dy,
        Span<float> dx, Span<float> dA, Span<float> dB, Span<float> dBias, Span<float> dW, bool accumulate)
    {
        LoraArguments.CheckBackward(n, d, k, r, x, xDrop, new LoraArguments.PackedShape(d, k), a, b, h, dy, new float[n * r], dx, dA, dB, dBias, dW);
        LoraArguments.Need("w", w.Length, d, k);
        ReadOnlySpan<float> xd = xDrop.IsEmpty ? x : xDrop;
        var g = new float[n * r];                                                        // g = dy·B (n, r)
        for (int i = 0; i < n; i++)
            for (int q = 0; q < r; q++)
            {
                float s = 0f;
                for (int j = 0; j < d; j++) s += dy[i * d + j] * b[j * r + q];
                g[i * r + q] = s;
            }
        if (!dx.IsEmpty)
            for (int i = 0; i < n; i++)
                for (int p = 0; p < k; p++)
                {
                    float s = 0f, low = 0f;
                    for (int j = 0; j < d; j++) s += dy[i * d + j] * w[j * k + p];
                    for (int q = 0; q < r; q++) low += g[i * r + q] * a[q * k + p];
                    Put(dx, i * k + p, s + scale * low, accumulate);
                }
        if (!dA.IsEmpty)
            for (int q = 0; q < r; q++)
                for (int p = 0; p < k; p++)
                {
                    float s = 0f;
                    for (int i = 0; i < n; i++) s += g[i * r + q] * xd[i * k + p];
                    Put(dA, q * k + p, scale * s, accumulate);
                }
        if (!dB.IsEmpty)
            for (int j = 0; j < d; j++)
                for (int q = 0; q < r; q++)
                {
                    float s = 0f;
                    for (int i = 0; i < n; i++) s += dy[i * d + j] * h[i * r + q];
                    Put(dB, j * r + q, scale * s, accumulate);
                }
        if (!dBias.IsEmpty)
            for (int j = 0; j < d; j++)
            {
                float s = 0f;
                for (int i = 0; i < n; i++) s += dy[i * d + j];
                Put(dBias, j, s, accumulate);
            }
        if (!dW.IsEmpty)
            for (int j = 0; j < d; j++)
                for (int p = 0; p < k; p++)
                {
                    float s = 0f;
                    for (int i = 0; i < n; i++) s += dy[i * d + j] * x[i * k + p];
                    Put(dW, j * k + p, s, accumulate);
                }
    }

    static float Dot(ReadOnlySpan<float> u, ReadOnlySpan<float> v)
    {
        float s = 0f;
        for (int i = 0; i < u.Length; i++) s += u[i] * v[i];
        return s;
    }

    static void Put(Span<float> z, int i, float v, bool accumulate) => z[i] = accumulate ? z[i] + v : v;
}
