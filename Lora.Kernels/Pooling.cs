namespace Lora.Kernels;

/// <summary>2-D max pooling over NCHW planes, forward (recording each window's winner) and backward.</summary>
/// <remarks>
/// y[p, oy, ox] = max over the k×k window at (oy·stride − pad, ox·stride − pad) of plane p; padding never wins
/// (it acts as −∞, as in PyTorch). Ties go to the first element in row-major window order. The winner's index
/// within its plane is saved so the backward is a scatter: dx[p, argmax] += dy[p, oy, ox].
/// </remarks>
public static class Pooling
{
    /// <summary>x: (planes, h, w) → y, argmax: (planes, oh, ow), planes = N·C; requires pad ≤ k/2.</summary>
    public static void MaxPool2dForward(int planes, int h, int w, int k, int stride, int pad,
        ReadOnlySpan<float> x, Span<float> y, Span<int> argmax)
    {
        int oh = Im2Col.OutputSize(h, k, stride, pad), ow = Im2Col.OutputSize(w, k, stride, pad);
        Check(planes, h, w, k, pad, oh, ow, x.Length, y.Length, argmax.Length);
        SpanOverlap.Disjoint("MaxPool2d", "y", y, "x", x); // a window would read maxima already written
        for (int p = 0; p < planes; p++)
        {
            var xp = x.Slice(p * h * w, h * w);
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                {
                    float best = float.NegativeInfinity;
                    int arg = -1;
                    int y0 = oy * stride - pad, x0 = ox * stride - pad;
                    for (int i = Math.Max(y0, 0); i < Math.Min(y0 + k, h); i++)
                        for (int j = Math.Max(x0, 0); j < Math.Min(x0 + k, w); j++)
                        {
                            float v = xp[i * w + j];
                            // NaN wins and stays, so a NaN input shows in the output as it does in PyTorch.
                            if (arg < 0 || v > best || (float.IsNaN(v) && !float.IsNaN(best))) { best = v; arg = i * w + j; }
                        }
                    int o = (p * oh + oy) * ow + ox;
                    y[o] = best;
                    argmax[o] = arg;
                }
        }
    }

    /// <summary>dx (planes, h, w) += scatter of dy (planes, oh, ow) to the saved winners.</summary>
    public static void MaxPool2dBackward(int planes, int h, int w, int oh, int ow, ReadOnlySpan<float> dy, ReadOnlySpan<int> argmax, Span<float> dx)
    {
        if (planes < 0 || h <= 0 || w <= 0 || oh <= 0 || ow <= 0)
            throw new ArgumentException($"MaxPool2dBackward: bad sizes planes = {planes}, ({h}, {w}) → ({oh}, {ow}).");
        long outLen = (long)planes * oh * ow;
        if (dy.Length != outLen || argmax.Length != outLen)
            throw new ArgumentException($"MaxPool2dBackward: dy has {dy.Length} and argmax {argmax.Length} elements, expected ({planes}, {oh}, {ow}).");
        if (dx.Length != (long)planes * h * w) throw new ArgumentException($"MaxPool2dBackward: dx has {dx.Length} elements, expected ({planes}, {h}, {w}).", nameof(dx));
        SpanOverlap.Disjoint("MaxPool2dBackward", "dx", dx, "dy", dy);
        int plane = h * w, oplane = oh * ow;
        for (int p = 0; p < planes; p++)
            for (int o = 0; o < oplane; o++)
            {
                int a = argmax[p * oplane + o];
                if ((uint)a >= (uint)plane) throw new ArgumentException($"MaxPool2dBackward: argmax {a} is outside the plane of {plane}.", nameof(argmax));
                dx[p * plane + a] += dy[p * oplane + o];
            }
    }

    static void Check(int planes, int h, int w, int k, int pad, int oh, int ow, int xLength, int yLength, int argLength)
    {
        if (planes < 0) throw new ArgumentException($"MaxPool2d: planes must be non-negative, got {planes}.", nameof(planes));
        if (pad > k / 2) throw new ArgumentException($"MaxPool2d: pad {pad} must be at most half the kernel {k}.", nameof(pad));
        if (xLength != (long)planes * h * w) throw new ArgumentException($"MaxPool2d: x has {xLength} elements, expected ({planes}, {h}, {w}).", "x");
        long outLen = (long)planes * oh * ow;
        if (yLength != outLen) throw new ArgumentException($"MaxPool2d: y has {yLength} elements, expected ({planes}, {oh}, {ow}).", "y");
        if (argLength != outLen) throw new ArgumentException($"MaxPool2d: argmax has {argLength} elements, expected ({planes}, {oh}, {ow}).", "argmax");
    }
}
