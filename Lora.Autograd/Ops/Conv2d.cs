using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>
    /// 2-D convolution (cross-correlation, as in PyTorch) of x (N, C, H, W) with weight (Cout, C, KH, KW), optional
    /// bias (Cout), a stride and zero padding on every side; y is (N, Cout, OH, OW), O = (I + 2·pad − K)/stride + 1.
    /// </summary>
    /// <remarks>
    /// Runs on <see cref="LoraConv"/> with rank 0: per image, cols = im2col(xₙ) (C·KH·KW, OH·OW) and
    /// yₙ = W·cols + b in one packed GEMM (the bias rides the GEMM as one more inner step), images split over threads.
    /// Backward per image (cols recomputed rather than kept, trading a cheap copy for N times the memory):
    /// dW += dyₙ·colsᵀ, dxₙ += col2im(Wᵀ·dyₙ), db += Σ over positions of dyₙ.
    /// </remarks>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0)
    {
        const string op = "Conv2d";
        var (oh, ow) = ConvGeometry(op, x, weight, bias, stride, padding);
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3], cout = weight.Shape[0], kh = weight.Shape[2], kw = weight.Shape[3];
        var tape = Tape.Current;
        var y = tape.NewTensor(new Shape(n, cout, oh, ow));
        LoraConv.Forward(n, c, h, w, cout, kh, kw, stride, padding, 0, 0f, x.Data, default, weight.Data, default, default,
            bias != null ? bias.Data : default, default, y.Data, LoraDropout.None);
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
        LoraConv.Backward(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], weight.Shape[0], weight.Shape[2], weight.Shape[3], node.I0, node.I1,
            0, 0f, x.Data, default, weight.Data, default, default, default, node.Out.Grad,
            GradOf(x), default, default, GradOf(node.C), GradOf(weight), LoraDropout.None);
    }

    /// <summary>Checks x (N, C, H, W) against weight (Cout, C, KH, KW) and bias (Cout); returns (OH, OW).</summary>
    static (int, int) ConvGeometry(string op, Tensor x, Tensor weight, Tensor? bias, int stride, int padding)
    {
        RequireRank(op, x, 4, 4);
        RequireRank(op, weight, 4, 4);
        if (weight.Shape[1] != x.Shape[1]) throw Mismatch(op, "input channels differ from the weight's (Cout, C, KH, KW)", x, weight);
        if (x.Shape[1] == 0 || weight.Shape[0] == 0) throw Mismatch(op, "channels must be positive", x, weight);
        if (bias != null && (bias.Shape.Rank != 1 || bias.Length != weight.Shape[0])) throw Mismatch(op, "bias must be (Cout)", bias, weight);
        try
        {
            return (Im2Col.OutputSize(x.Shape[2], weight.Shape[2], stride, padding), Im2Col.OutputSize(x.Shape[3], weight.Shape[3], stride, padding));
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{op}: {x.Describe()} with weight {weight.Shape}, stride {stride}, padding {padding}: {e.Message}");
        }
    }
}
