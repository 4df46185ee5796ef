namespace Lora.Kernels;

/// <summary>
/// The scalar twin of <see cref="LoraConv"/>: the same contract, computed unfused with plain loops in float (per image:
/// cols = im2col(x), h = A·colsD, y = W·cols + bias + s·B·h). It is the oracle the fast kernel is tested against, next
/// to the tests' double-precision direct convolution.
/// </summary>
public static class LoraConvReference
{
    /// <summary>As <see cref="LoraConv.Forward"/>.</summary>
    /// <exception cref="ArgumentException">A size is out of range or a span does not match its shape.</exception>
    public static void Forward(int n, int c, int height, int width, int cout, int kh, int kw, int stride, int pad, int r, float scale,
        ReadOnlySpan<float> x, Span<float> xDrop, ReadOnlySpan<float> w, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> bias, Span<float> h, Span<float> y, LoraDropout dropout)
    {
        ConvArguments.Check(n, c, height, width, cout, kh, kw, stride, pad, r, x, w, a, b, h, y.Length, "y");
        ConvArguments.Bias(bias, cout, "bias");
        bool drop = dropout.IsActive && r > 0;
        if (drop)
        {
            ConvArguments.Need("xDrop", xDrop.Length, x.Length);
            DropoutKernels.MaskScalar(dropout.Seed, 0, dropout.P, xDrop);
            for (int e = 0; e < x.Length; e++) xDrop[e] *= x[e];
        }
        int ckk = c * kh * kw, plane = y.Length / Math.Max(1, n * cout), chw = c * height * width;
        var cols = new float[ckk * plane];
        var colsD = drop ? new float[ckk * plane] : cols;
        for (int i = 0; i < n; i++)
        {
            Im2Col.Unfold(c, height, width, kh, kw, stride, pad, x.Slice(i * chw, chw), cols);
            if (drop) Im2Col.Unfold(c, height, width, kh, kw, stride, pad, xDrop.Slice(i * chw, chw), colsD);
            var hi = h.Slice(i * r * plane, r * plane);
            var yi = y.Slice(i * cout * plane, cout * plane);
            for (int j = 0; j < r; j++)
                for (int q = 0; q < plane; q++)
                {
                    float s = 0f;
                    for (int p = 0; p < ckk; p++) s += a[j * ckk + p] * colsD[p * plane + q];
                    hi[j * plane + q] = s;
                }
            for (int o = 0; o < cout; o++)
                for (int q = 0; q < plane; q++)
                {
                    float s = 0f, low = 0f;
                    for (int p = 0; p < ckk; p++) s += w[o * ckk + p] * cols[p * plane + q];
                    for (int j = 0; j < r; j++) low += b[o * r + j] * hi[j * plane + q];
                    yi[o * plane + q] = s + (bias.IsEmpty ? 0f : bias[o]) + scale * low;
                }
        }
    }

    /// <summary>As <see cref="LoraConv.Backward"/>.</summary>
    /// <exception cref="ArgumentException">A size is out of range or a span does not match its shape.</exception>
    public static void Backward(int n, int c, int height, int width, int cout, int kh, int kw, int stride, int pad, int r, float scale,
        ReadOnlySpan<float> x, ReadOnlySpan<float> xDrop, ReadOnlySpan<float> w, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> h, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dA, Span<float> dB, Span<float> dBias,
        Span<float> dW, LoraDropout dropout)
    {
        ConvArguments.Check(n, c, height, width, cout, kh, kw, stride, pad, r, x, w, a, b, h, dy.Length, "dy");
        bool drop = dropout.IsActive && r > 0;
        if (drop && !dA.IsEmpty) ConvArguments.Need("xDrop", xDrop.Length, x.Length);
        ConvArguments.Bias(dBias, cout, "dBias");
        int ckk = c * kh * kw, plane = dy.Length / Math.Max(1, n * cout), chw = c * height * width;
        var cols = new float[ckk * plane];
        var g = new float[r * plane];
        var dcols = new float[ckk * plane];
        var low = new float[chw];
        var mask = new float[chw];
        for (int i = 0; i < n; i++)
        {
            var dyi = dy.Slice(i * cout * plane, cout * plane);
            var hi = h.Slice(i * r * plane, r * plane);
            for (int o = 0; o < cout && !dBias.IsEmpty; o++)
            {
                float s = 0f;
                for (int q = 0; q < plane; q++) s += dyi[o * plane + q];
                dBias[o] += s;
            }
            for (int j = 0; j < r; j++)
                for (int q = 0; q < plane; q++)
                {
                    float s = 0f;
                    for (int o = 0; o < cout; o++) s += b[o * r + j] * dyi[o * plane + q];
                    g[j * plane + q] = s;
                }
            if (!dB.IsEmpty)
                for (int o = 0; o < cout; o++)
                    for (int j = 0; j < r; j++)
                    {
                        float s = 0f;
                        for (int q = 0; q < plane; q++) s += dyi[o * plane + q] * hi[j * plane + q];
                        dB[o * r + j] += scale * s;
                    }
            if (!dA.IsEmpty)
            {
                Im2Col.Unfold(c, height, width, kh, kw, stride, pad, (drop ? xDrop : x).Slice(i * chw, chw), cols);
                AddProductTransposed(r, ckk, plane, scale, g, cols, dA);
            }
            if (!dW.IsEmpty)
            {
                Im2Col.Unfold(c, height, width, kh, kw, stride, pad, x.Slice(i * chw, chw), cols);
                AddProductTransposed(cout, ckk, plane, 1f, dyi, cols, dW);
            }
            if (dx.IsEmpty) continue;
            var dxi = dx.Slice(i * chw, chw);
            for (int p = 0; p < ckk; p++)
                for (int q = 0; q < plane; q++)
                {
                    float s = 0f, sl = 0f;
                    for (int o = 0; o < cout; o++) s += w[o * ckk + p] * dyi[o * plane + q];
                    for (int j = 0; j < r; j++) sl += a[j * ckk + p] * g[j * plane + q];
                    dcols[p * plane + q] = drop ? s : s + scale * sl;
                }
            Im2Col.FoldAdd(c, height, width, kh, kw, stride, pad, dcols, dxi);
            if (!drop) continue;
            for (int p = 0; p < ckk; p++)
                for (int q = 0; q < plane; q++)
                {
                    float sl = 0f;
                    for (int j = 0; j < r; j++) sl += a[j * ckk + p] * g[j * plane + q];
                    dcols[p * plane + q] = scale * sl;
                }
            Array.Clear(low);
            Im2Col.FoldAdd(c, height, width, kh, kw, stride, pad, dcols, low);
            DropoutKernels.MaskScalar(dropout.Seed, (long)i * chw, dropout.P, mask);
            for (int e = 0; e < chw; e++) dxi[e] += low[e] * mask[e];
        }
    }

    /// <summary>dst (rows, ckk) += s·src (rows, plane)·colsᵀ (plane, ckk).</summary>
    static void AddProductTransposed(int rows, int ckk, int plane, float s, ReadOnlySpan<float> src, ReadOnlySpan<float> cols, Span<float> dst)
    {
        for (int j = 0; j < rows; j++)
            for (int p = 0; p < ckk; p++)
            {
                float acc = 0f;
                for (int q = 0; q < plane; q++) acc += src[j * plane + q] * cols[p * plane + q];
                dst[j * ckk + p] += s * acc;
            }
    }
}
