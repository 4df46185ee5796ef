using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>
    /// 2-D convolution (cross-correlation, as in PyTorch) of x (N, C, H, W) with weight (Cout, C, KH, KW), optional
    /// bias (Cout), a stride and zero padding on every side; y is (N, Cout, OH, OW), O = (I + 2·pad − K)/stride + 1.
    /// </summary>
    /// <remarks>
    /// Per image: cols = im2col(xₙ) (C·KH·KW, OH·OW), yₙ = W·cols (+ b per channel), one SGEMM. Backward per image
    /// (cols recomputed rather than kept, trading a cheap copy for N times the memory): dW += dyₙ·colsᵀ,
    /// dxₙ += col2im(Wᵀ·dyₙ), db += Σ over positions of dyₙ.
    /// </remarks>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0)
    {
        const string op = "Conv2d";
        RequireRank(op, x, 4, 4);
        RequireRank(op, weight, 4, 4);
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        int cout = weight.Shape[0], kh = weight.Shape[2], kw = weight.Shape[3];
        if (weight.Shape[1] != c) throw Mismatch(op, "input channels differ from the weight's (Cout, C, KH, KW)", x, weight);
        if (bias != null && (bias.Shape.Rank != 1 || bias.Length != cout)) throw Mismatch(op, "bias must be (Cout)", bias, weight);
        int oh, ow;
        try { oh = Im2Col.OutputSize(h, kh, stride, padding); ow = Im2Col.OutputSize(w, kw, stride, padding); }
        catch (ArgumentException e) { throw new ArgumentException($"{op}: {x.Describe()} with weight {weight.Shape}, stride {stride}, padding {padding}: {e.Message}"); }
        int ckk = c * kh * kw, plane = oh * ow;
        var tape = Tape.Current;
        var y = tape.NewTensor(new Shape(n, cout, oh, ow));
        var cols = tape.Pool.RentFloats(ckk * plane);
        var colSpan = cols.AsSpan(0, ckk * plane);
        var xd = x.Data;
        var yd = y.Data;
        for (int i = 0; i < n; i++)
        {
            Im2Col.Unfold(c, h, w, kh, kw, stride, padding, xd.Slice(i * c * h * w, c * h * w), colSpan);
            var yi = yd.Slice(i * cout * plane, cout * plane);
            // w: (cout, ckk), cols: (ckk, plane), yi: (cout, plane)
            Gemm.Sgemm(Transpose.No, Transpose.No, cout, plane, ckk, 1f, weight.Data, ckk, colSpan, plane, 0f, yi, plane);
            if (bias != null)
                for (int o = 0; o < cout; o++) Elementwise.BinaryWithScalar<AddOperator>(yi.Slice(o * plane, plane), bias.Data[o], yi.Slice(o * plane, plane));
        }
        tape.Pool.Return(cols);
        if (Tape.NeedsGrad(x, weight, bias))
        {
            ref var node = ref tape.Record(op, &Conv2dBackward, y);
            node.A = x; node.B = weight; node.C = bias; node.I0 = stride; node.I1 = padding;
        }
        return tape.Finish(op, y);
    }

    static void Conv2dBackward(ref Node node)
    {
        Tensor x = node.A!, weight = node.B!;
        int stride = node.I0, padding = node.I1;
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        int cout = weight.Shape[0], kh = weight.Shape[2], kw = weight.Shape[3];
        int oh = node.Out.Shape[2], ow = node.Out.Shape[3], ckk = c * kh * kw, plane = oh * ow;
        var pool = node.Out._tape!.Pool;
        var dy = node.Out.Grad;
        float[] cols = pool.RentFloats(ckk * plane);
        var colSpan = cols.AsSpan(0, ckk * plane);
        for (int i = 0; i < n; i++)
        {
            var dyi = dy.Slice(i * cout * plane, cout * plane);
            if (Wants(weight))
            {
                Im2Col.Unfold(c, h, w, kh, kw, stride, padding, x.Data.Slice(i * c * h * w, c * h * w), colSpan);
                Gemm.Sgemm(Transpose.No, Transpose.Yes, cout, ckk, plane, 1f, dyi, plane, colSpan, plane, 1f, weight.Grad, ckk);
            }
            if (Wants(x))
            {
                Gemm.Sgemm(Transpose.Yes, Transpose.No, ckk, plane, cout, 1f, weight.Data, ckk, dyi, plane, 0f, colSpan, plane);
                Im2Col.FoldAdd(c, h, w, kh, kw, stride, padding, colSpan, x.Grad.Slice(i * c * h * w, c * h * w));
            }
            if (Wants(node.C))
            {
                var db = node.C!.Grad;
                for (int o = 0; o < cout; o++) db[o] += Reductions.Sum(dyi.Slice(o * plane, plane));
            }
        }
        pool.Return(cols);
    }
}
