namespace Lora.Kernels;

/// <summary>
/// The LoRA convolution's backward behind <see cref="LoraConv"/> (arguments already checked), image by image in
/// order, each product a GEMM that splits over threads without changing bits. Per image, with cols = im2col(x),
/// colsD = im2col(d(x)) and g = Bᵀ·dy (r, plane): dA += s·g·colsDᵀ, dB += s·dy·hᵀ, db += Σ dy, dW += dy·colsᵀ, and
/// dx += col2im(Wᵀ·dy + Aᵀ·(s·g)), one two-stretch GEMM (with dropout the low-rank half is folded and masked apart).
/// </summary>
internal static unsafe class LoraConvBackward
{
    // x, xd: (n, c, h, w); w: (cout, ckk); a: (r, ckk); b: (cout, r); hs: (n, r, plane); dy: (n, cout, plane);
    // dx like x; dA like a; dB like b; dBias: (cout); dW like w (null = not wanted)
    public static void Run(int n, int c, int h, int w, int cout, int kh, int kw, int stride, int pad, int r, float scale,
        float* x, float* xd, float* wt, float* a, float* b, float* hs, float* dy,
        float* dx, float* dA, float* dB, float* dBias, float* dW, LoraDropout dropout)
    {
        int oh = Im2Col.OutputSize(h, kh, stride, pad), ow = Im2Col.OutputSize(w, kw, stride, pad);
        int plane = oh * ow, ckk = c * kh * kw, chw = c * h * w;
        bool drop = dropout.IsActive && r > 0;
        int rr = scale == 0f ? 0 : r;
        if (r == 0) { dA = null; dB = null; }
        var buf = ConvBuffers.Current;
        bool needCols = dW != null || (dA != null && !drop), needColsD = dA != null && drop;
        bool needG = r > 0 && (dA != null || (dx != null && rr > 0));
        float* cols = needCols ? buf.Cols((long)ckk * plane + 16) : null;
        float* colsD = needColsD ? buf.ColsDrop((long)ckk * plane + 16) : null;
        float* g = needG ? buf.G((long)r * plane + 16) : null;
        float* dcols = dx != null ? buf.DCols((long)ckk * plane + 16) : null;
        int fusedR = drop ? 0 : rr;
        float* sg = dx != null && fusedR > 0 ? buf.LowRaw((long)r * plane + 16) : null;
        float* image = dx != null && drop && rr > 0 ? buf.Image(2L * chw + 16) : null;
        for (int i = 0; i < n; i++)
        {
            var dyi = new ReadOnlySpan<float>(dy + (long)i * cout * plane, cout * plane);
            if (dBias != null)
                for (int o = 0; o < cout; o++) dBias[o] += Reductions.Sum(dyi.Slice(o * plane, plane));
            if (needCols) Unfold(c, h, w, kh, kw, stride, pad, x + (long)i * chw, cols, ckk * plane);
            if (needColsD) Unfold(c, h, w, kh, kw, stride, pad, xd + (long)i * chw, colsD, ckk * plane);
            // g (r, plane) = Bᵀ (r, cout)·dy (cout, plane)
            if (needG) Gemm.Sgemm(Transpose.Yes, Transpose.No, r, plane, cout, 1f, Span(b, cout * r), r, dyi, plane, 0f, Span(g, r * plane), plane);
            // dA (r, ckk) += s·g·colsDᵀ
            if (dA != null)
                Gemm.Sgemm(Transpose.No, Transpose.Yes, r, ckk, plane, scale, Span(g, r * plane), plane,
                    Span(drop ? colsD : cols, ckk * plane), plane, 1f, Span(dA, r * ckk), ckk);
            // dB (cout, r) += s·dy·hᵀ
            if (dB != null)
                Gemm.Sgemm(Transpose.No, Transpose.Yes, cout, r, plane, scale, dyi, plane, Span(hs + (long)i * r * plane, r * plane), plane,
                    1f, Span(dB, cout * r), r);
            // dW (cout, ckk) += dy·colsᵀ
            if (dW != null)
                Gemm.Sgemm(Transpose.No, Transpose.Yes, cout, ckk, plane, 1f, dyi, plane, Span(cols, ckk * plane), plane, 1f, Span(dW, cout * ckk), ckk);
            if (dx != null) InputGradient(i, c, h, w, cout, kh, kw, stride, pad, r, rr, fusedR, scale, wt, a, dyi, g, sg, dcols, image, dx, dropout);
        }
    }

    /// <summary>dxᵢ += col2im(Wᵀ·dyᵢ + Aᵀ·(s·g)); with dropout the second term is folded apart and masked.</summary>
    static void InputGradient(int i, int c, int h, int w, int cout, int kh, int kw, int stride, int pad, int r, int rr, int fusedR,
        float scale, float* wt, float* a, ReadOnlySpan<float> dyi, float* g, float* sg, float* dcols, float* image, float* dx, LoraDropout dropout)
    {
        int ckk = c * kh * kw, plane = dyi.Length / cout, chw = c * h * w;
        for (int t = 0; t < fusedR * plane; t++) sg[t] = scale * g[t];
        fixed (float* pdy = dyi)
        {
            // dcols (ckk, plane) = [Wᵀ | Aᵀ] (ckk, cout + r) · [dy ; s·g] (cout + r, plane)
            var plan = new GemmPlan
            {
                M = ckk, N = plane, Alpha = 1f, Beta = 0f, C = dcols, Ldc = plane,
                Segment0 = new GemmSegment { K = cout, A = new GemmOperand(wt, ckk, true), B = new GemmOperand(pdy, plane, false) },
                Segment1 = new GemmSegment { K = fusedR, A = new GemmOperand(a, ckk, true), B = new GemmOperand(sg, plane, false) },
            };
            GemmDriver.Run(ref plan);
        }
        var dxi = new Span<float>(dx + (long)i * chw, chw);
        Im2Col.FoldAdd(c, h, w, kh, kw, stride, pad, Span(dcols, ckk * plane), dxi);
        if (image == null) return;
        // dxᵢ += fold(s·Aᵀ·g) ⊙ mask, the mask of element e of image i being counter i·chw + e.
        Gemm.Sgemm(Transpose.Yes, Transpose.No, ckk, plane, r, scale, Span(a, r * ckk), ckk, Span(g, r * plane), plane, 0f, Span(dcols, ckk * plane), plane);
        var low = new Span<float>(image, chw);
        var mask = new Span<float>(image + chw, chw);
        low.Clear();
        Im2Col.FoldAdd(c, h, w, kh, kw, stride, pad, Span(dcols, ckk * plane), low);
        DropoutKernels.Mask(dropout.Seed, (long)i * chw, dropout.P, mask);
        Elementwise.BinaryAccumulate<MultiplyOperator>(low, mask, dxi);
    }

    static void Unfold(int c, int h, int w, int kh, int kw, int stride, int pad, float* x, float* cols, int length) =>
        Im2Col.Unfold(c, h, w, kh, kw, stride, pad, new ReadOnlySpan<float>(x, c * h * w), new Span<float>(cols, length));

    static Span<float> Span(float* p, int length) => new(p, length);
}
