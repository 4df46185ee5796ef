namespace Lora.Kernels;

/// <summary>
/// The LoRA convolution (PEFT's formulation): y = conv(x, W) + bias + s·conv1×1(conv(d(x), A), B), with A a
/// convolution of r output channels and the base kernel's size, stride and padding, B a 1×1 convolution back to the
/// output channels, and d the LoRA dropout. With r = 0 it is the plain convolution y = conv(x, W) + bias.
/// </summary>
/// <remarks>
/// <para>Shapes (NCHW, row-major): x (n, c, height, width); W (cout, c·kh·kw), the base kernel (cout, c, kh, kw) seen
/// flat; A (r, c·kh·kw); B (cout, r); bias (cout) or empty; h (n, r, oh·ow); y (n, cout, oh, ow), where
/// o = (size + 2·pad − k)/stride + 1 per axis.</para>
/// <para>Per image: cols = im2col(x) (c·kh·kw, oh·ow) is formed once; h = A·colsD (colsD = im2col(d(x)), the same
/// columns without dropout) and y = W·cols + [s·B | bias]·[h ; 1]. Without dropout the stacked rows [W; A] multiply
/// each packed block of cols together, so the low-rank term costs r more output rows and an r + 1 long inner
/// stretch: its FLOPs, and no extra pass over y or cols (docs/kernels.md, "Fused LoRA convolution").</para>
/// <para>Results are bitwise the same for any <see cref="KernelThreads.Count"/>; after warm-up on a thread a call
/// allocates nothing on the managed heap. <see cref="LoraConvReference"/> is the scalar twin.</para>
/// </remarks>
public static unsafe class LoraConv
{
    const string Kernel = "LoraConv";

    /// <summary>h = A·im2col(d(x)), y = W·im2col(x) + s·B·h + bias, image by image (y and h are overwritten).</summary>
    /// <param name="xDrop">Receives x ⊙ mask when <paramref name="dropout"/> is active ((n, c, height, width); keep it
    /// for the backward); may be empty otherwise.</param>
    /// <exception cref="ArgumentException">A size is out of range or a span does not match its shape.</exception>
    public static void Forward(int n, int c, int height, int width, int cout, int kh, int kw, int stride, int pad, int r, float scale,
        ReadOnlySpan<float> x, Span<float> xDrop, ReadOnlySpan<float> w, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> bias, Span<float> h, Span<float> y, LoraDropout dropout)
    {
        ConvArguments.Check(n, c, height, width, cout, kh, kw, stride, pad, r, x, w, a, b, h, y.Length, "y");
        ConvArguments.Bias(bias, cout, "bias");
        bool drop = dropout.IsActive && r > 0;
        // Outputs are written while the operands are still read: shared memory would give wrong numbers silently.
        SpanOverlap.DisjointFromAll(Kernel, "y", y, "x|w|a|b|bias", x, w, a, b, bias);
        SpanOverlap.DisjointFromAll(Kernel, "h", h, "x|w|a|b|bias|y", x, w, a, b, bias, y);
        if (drop)
        {
            ConvArguments.Need("xDrop", xDrop.Length, x.Length);
            SpanOverlap.DisjointFromAll(Kernel, "xDrop", xDrop, "x|w|a|b|bias|h|y", x, w, a, b, bias, h, y);
            DropoutKernels.Mask(dropout.Seed, 0, dropout.P, xDrop);
            Elementwise.Multiply(x, xDrop, xDrop);
        }
        fixed (float* px = x, pxd = xDrop, pw = w, pa = a, pb = b, pbias = bias, ph = h, py = y)
            LoraConvForward.Run(n, c, height, width, cout, kh, kw, stride, pad, r, scale,
                px, drop ? pxd : null, pw, pa, pb, bias.IsEmpty ? null : pbias, ph, py);
    }

    /// <summary>
    /// Given dy (n, cout, oh, ow), adds the gradients into the outputs (+=): dx += col2im(Wᵀ·dy + (Aᵀ·s·g) masked),
    /// dA += s·g·im2col(d(x))ᵀ, dB += s·dy·hᵀ, dBias += Σ dy, dW += dy·im2col(x)ᵀ, with g = Bᵀ·dy (r, oh·ow) per image.
    /// Any output passed empty is skipped (dW is the full fine-tuning gradient: skip it for LoRA).
    /// </summary>
    /// <param name="xDrop">The forward's x ⊙ mask when <paramref name="dropout"/> is active (used for dA), else empty.</param>
    /// <param name="dropout">The forward's dropout: the mask of dx's low-rank term is regenerated from its seed.</param>
    /// <exception cref="ArgumentException">A size is out of range or a span does not match its shape.</exception>
    public static void Backward(int n, int c, int height, int width, int cout, int kh, int kw, int stride, int pad, int r, float scale,
        ReadOnlySpan<float> x, ReadOnlySpan<float> xDrop, ReadOnlySpan<float> w, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> h, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dA, Span<float> dB, Span<float> dBias,
        Span<float> dW, LoraDropout dropout)
    {
        ConvArguments.Check(n, c, height, width, cout, kh, kw, stride, pad, r, x, w, a, b, h, dy.Length, "dy");
        bool drop = dropout.IsActive && r > 0;
        if (drop && !dA.IsEmpty) ConvArguments.Need("xDrop", xDrop.Length, x.Length);
        if (!dx.IsEmpty) ConvArguments.Need("dx", dx.Length, x.Length);
        if (!dA.IsEmpty) ConvArguments.Need("dA", dA.Length, a.Length);
        if (!dB.IsEmpty) ConvArguments.Need("dB", dB.Length, b.Length);
        if (!dW.IsEmpty) ConvArguments.Need("dW", dW.Length, w.Length);
        ConvArguments.Bias(dBias, cout, "dBias");
        ReadOnlySpan<float> xd = drop ? xDrop : default;
        SpanOverlap.DisjointFromAll(Kernel, "dx", dx, "x|xDrop|w|a|b|h|dy", x, xd, w, a, b, h, dy);
        SpanOverlap.DisjointFromAll(Kernel, "dA", dA, "x|xDrop|w|a|b|h|dy", x, xd, w, a, b, h, dy);
        SpanOverlap.DisjointFromAll(Kernel, "dB", dB, "x|xDrop|w|a|b|h|dy", x, xd, w, a, b, h, dy);
        SpanOverlap.DisjointFromAll(Kernel, "dBias", dBias, "x|xDrop|w|a|b|h|dy", x, xd, w, a, b, h, dy);
        SpanOverlap.DisjointFromAll(Kernel, "dW", dW, "x|xDrop|w|a|b|h|dy", x, xd, w, a, b, h, dy);
        SpanOverlap.DisjointFromAll(Kernel, "dx", dx, "dA|dB|dBias|dW", dA, dB, dBias, dW);
        SpanOverlap.DisjointFromAll(Kernel, "dA", dA, "dB|dBias|dW", dB, dBias, dW);
        SpanOverlap.DisjointFromAll(Kernel, "dB", dB, "dBias|dW", dBias, dW);
        SpanOverlap.DisjointFromAll(Kernel, "dBias", dBias, "dW", dW);
        if (n == 0) return;
        fixed (float* px = x, pxd = xDrop, pw = w, pa = a, pb = b, ph = h, pdy = dy, pdx = dx, pdA = dA, pdB = dB, pdBias = dBias, pdW = dW)
            LoraConvBackward.Run(n, c, height, width, cout, kh, kw, stride, pad, r, scale, px, drop ? pxd : null, pw, pa, pb, ph, pdy,
                dx.IsEmpty ? null : pdx, dA.IsEmpty ? null : pdA, dB.IsEmpty ? null : pdB, dBias.IsEmpty ? null : pdBias,
                dW.IsEmpty ? null : pdW, drop ? dropout : LoraDropout.None);
    }
}

/// <summary>Shape checks of <see cref="LoraConv"/> and its twin; every message names the offending shapes.</summary>
internal static class ConvArguments
{
    public static void Check(int n, int c, int height, int width, int cout, int kh, int kw, int stride, int pad, int r,
        ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> h,
        int outLength, string outName)
    {
        if (n < 0 || c <= 0 || cout <= 0 || r < 0)
            throw new ArgumentException($"conv sizes: n = {n} must be ≥ 0, c = {c} and cout = {cout} positive, r = {r} ≥ 0.");
        int oh = Im2Col.OutputSize(height, kh, stride, pad), ow = Im2Col.OutputSize(width, kw, stride, pad);
        long ckk = (long)c * kh * kw, plane = (long)oh * ow;
        // The messages are formatted only on failure (a call must not allocate).
        if (x.Length != (long)n * c * height * width) Fail("x", x.Length, $"({n}, {c}, {height}, {width})");
        if (w.Length != cout * ckk) Fail("w", w.Length, $"({cout}, {c}, {kh}, {kw})");
        if (a.Length != r * ckk) Fail("a", a.Length, $"({r}, {c}, {kh}, {kw})");
        if (b.Length != (long)cout * r) Fail("b", b.Length, $"({cout}, {r})");
        if (h.Length != (long)n * r * plane) Fail("h", h.Length, $"({n}, {r}, {oh}·{ow})");
        if (outLength != (long)n * cout * plane) Fail(outName, outLength, $"({n}, {cout}, {oh}, {ow})");
    }

    static void Fail(string name, int length, string shape) => throw new ArgumentException($"{name} has {length} elements, expected {shape}.", name);

    public static void Bias(ReadOnlySpan<float> bias, int cout, string name)
    {
        if (!bias.IsEmpty && bias.Length != cout) throw new ArgumentException($"{name} has {bias.Length} elements, expected ({cout}).", name);
    }

    public static void Need(string name, int length, long expected)
    {
        if (length != expected) throw new ArgumentException($"{name} has {length} elements, expected {expected} (the shape of its counterpart).", name);
    }
}
