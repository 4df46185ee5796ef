namespace Lora.Kernels;

/// <summary>
/// Unfolds one NCHW image into the column matrix a 2-D convolution multiplies by its weight, and folds gradients
/// back. With the columns, conv2d is one GEMM: y (cOut, oh·ow) = W (cOut, c·kh·kw) · cols (c·kh·kw, oh·ow).
/// </summary>
/// <remarks>
/// Output size per axis: o = (size + 2·pad − k) / stride + 1 (floor). Row (ch·kh + ki)·kw + kj of cols holds, for each
/// output position (oy, ox), x[ch, oy·stride − pad + ki, ox·stride − pad + kj], or 0 where that falls in the padding.
/// These loops only move data (plain scalar code, contiguous copies where the stride is 1); the tests check them
/// against direct indexing.
/// </remarks>
public static class Im2Col
{
    /// <summary>The output size along one axis, or throws if the kernel does not fit.</summary>
    public static int OutputSize(int size, int kernel, int stride, int pad)
    {
        if (size <= 0 || kernel <= 0 || stride <= 0 || pad < 0)
            throw new ArgumentException($"conv geometry must be positive (pad ≥ 0): size = {size}, kernel = {kernel}, stride = {stride}, pad = {pad}.");
        long span = size + 2L * pad - kernel; // in 64 bits: a large pad must not wrap around
        if (span < 0) throw new ArgumentException($"kernel {kernel} is larger than the padded input {size} + 2·{pad}.");
        long output = span / stride + 1;
        if (output > int.MaxValue)
            throw new ArgumentException($"output size {output} (size {size}, kernel {kernel}, stride {stride}, pad {pad}) exceeds int.MaxValue.");
        return (int)output;
    }

    /// <summary>x: (c, h, w) → cols: (c·kh·kw, oh·ow).</summary>
    public static void Unfold(int c, int h, int w, int kh, int kw, int stride, int pad, ReadOnlySpan<float> x, Span<float> cols)
    {
        int oh = OutputSize(h, kh, stride, pad), ow = OutputSize(w, kw, stride, pad);
        Check(c, h, w, kh, kw, oh, ow, x.Length, cols.Length);
        UnfoldColumns(c, h, w, kh, kw, stride, pad, x, 0, oh * ow, cols);
    }

    /// <summary>
    /// The output positions j0..j1 (row-major over (oh, ow)) of <see cref="Unfold"/>: x (c, h, w) →
    /// cols (c·kh·kw, j1 − j0), so that a convolution can be split into column slices that each unfold their own.
    /// </summary>
    public static void UnfoldColumns(int c, int h, int w, int kh, int kw, int stride, int pad, ReadOnlySpan<float> x,
        int j0, int j1, Span<float> cols)
    {
        int oh = OutputSize(h, kh, stride, pad), ow = OutputSize(w, kw, stride, pad);
        if (j0 < 0 || j1 < j0 || j1 > oh * ow)
            throw new ArgumentException($"column range [{j0}, {j1}) is outside the {oh}×{ow} output positions.");
        int width = j1 - j0;
        if (c <= 0) throw new ArgumentException($"channels must be positive, got {c}.", nameof(c));
        if (x.Length != (long)c * h * w) throw new ArgumentException($"image has {x.Length} elements, expected ({c}, {h}, {w}).", nameof(x));
        if (cols.Length != (long)c * kh * kw * width)
            throw new ArgumentException($"cols has {cols.Length} elements, expected ({c * kh * kw}, {width}).", nameof(cols));
        SpanOverlap.Disjoint("Im2Col", "cols", cols, "x", x); // the image is read after columns are written
        for (int ch = 0; ch < c; ch++)
            for (int ki = 0; ki < kh; ki++)
                for (int kj = 0; kj < kw; kj++)
                {
                    var dst = cols.Slice(((ch * kh + ki) * kw + kj) * width, width);
                    // Walk the range one output row at a time: within a row, ix = ox·stride − pad + kj.
                    for (int j = j0; j < j1;)
                    {
                        int oy = j / ow, ox0 = j - oy * ow, ox1 = Math.Min(ow, ox0 + (j1 - j));
                        var drow = dst.Slice(j - j0, ox1 - ox0);
                        j += ox1 - ox0;
                        int iy = oy * stride - pad + ki;
                        if ((uint)iy >= (uint)h) { drow.Clear(); continue; }
                        var src = x.Slice((ch * h + iy) * w, w);
                        // Positions whose ix falls inside the row: ox in [lo, hi).
                        int lo = Math.Clamp(CeilDiv(pad - kj, stride), ox0, ox1);
                        int hi = Math.Clamp(CeilDiv(w + pad - kj, stride), lo, ox1);
                        drow[..(lo - ox0)].Clear();
                        drow[(hi - ox0)..].Clear();
                        // No position inside the row (an image narrower than the padding): ix may lie outside it.
                        if (hi == lo) continue;
                        int ix = lo * stride - pad + kj;
                        if (stride == 1) src.Slice(ix, hi - lo).CopyTo(drow.Slice(lo - ox0, hi - lo));
                        else for (int ox = lo; ox < hi; ox++, ix += stride) drow[ox - ox0] = src[ix];
                    }
                }
    }

    static int CeilDiv(int a, int b) => a >= 0 ? (a + b - 1) / b : -(-a / b);

    /// <summary>Adjoint of <see cref="Unfold"/>, accumulated: dx (c, h, w) += fold(dcols (c·kh·kw, oh·ow)).</summary>
    public static void FoldAdd(int c, int h, int w, int kh, int kw, int stride, int pad, ReadOnlySpan<float> dcols, Span<float> dx)
    {
        int oh = OutputSize(h, kh, stride, pad), ow = OutputSize(w, kw, stride, pad);
        Check(c, h, w, kh, kw, oh, ow, dx.Length, dcols.Length);
        SpanOverlap.Disjoint("Im2Col.FoldAdd", "dx", dx, "dcols", dcols);
        int plane = oh * ow;
        for (int ch = 0; ch < c; ch++)
            for (int ki = 0; ki < kh; ki++)
                for (int kj = 0; kj < kw; kj++)
                {
                    var src = dcols.Slice(((ch * kh + ki) * kw + kj) * plane, plane);
                    for (int oy = 0; oy < oh; oy++)
                    {
                        int iy = oy * stride - pad + ki;
                        if ((uint)iy >= (uint)h) continue;
                        var drow = dx.Slice((ch * h + iy) * w, w);
                        var srow = src.Slice(oy * ow, ow);
                        for (int ox = 0; ox < ow; ox++)
                        {
                            int ix = ox * stride - pad + kj;
                            if ((uint)ix < (uint)w) drow[ix] += srow[ox];
                        }
                    }
                }
    }

    static void Check(int c, int h, int w, int kh, int kw, int oh, int ow, int xLength, int colsLength)
    {
        if (c <= 0) throw new ArgumentException($"channels must be positive, got {c}.", nameof(c));
        if (xLength != (long)c * h * w) throw new ArgumentException($"image has {xLength} elements, expected ({c}, {h}, {w}).", "x");
        if (colsLength != (long)c * kh * kw * oh * ow)
            throw new ArgumentException($"cols has {colsLength} elements, expected ({c * kh * kw}, {oh * ow}).", "cols");
    }
}
