using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>
    /// The fused LoRA convolution (PEFT's formulation) y = conv(x, W) + b + s·conv1×1(conv(d(x), A), B) for x (N, C, H, W),
    /// the base kernel W (Cout, C, KH, KW), A (r, C, KH, KW) (or flat (r, C·KH·KW)) with W's stride and padding,
    /// B (Cout, r, 1, 1) (or flat (Cout, r)), bias (Cout) or null, scale s = alpha/r and LoRA dropout d (inverted,
    /// seeded; pass 0 in eval).
    /// </summary>
    /// <remarks>
    /// Runs on <see cref="LoraConv"/>: per image, cols = im2col(x) is formed once and shared by W and A, h = A·cols,
    /// y = W·cols + s·B·h + b. With g = Bᵀ·dy per image the backward is dx += col2im(Wᵀ·dy + (Aᵀ·s·g)) (the low-rank
    /// half masked by the dropout, regenerated from the seed), dA += s·g·im2col(d(x))ᵀ, dB += s·dy·hᵀ, db += Σ dy,
    /// and dW += dy·im2col(x)ᵀ only when W requires a gradient (full fine-tuning); a frozen W costs nothing there.
    /// The mask of element e of x is <see cref="DropoutKernels.Mask"/>(seed, 0, p)[e], the same for any thread count.
    /// </remarks>
    public static Tensor LoraConv2d(Tensor x, Tensor weight, Tensor a, Tensor b, Tensor? bias, float scale, int stride = 1, int padding = 0,
        float dropout = 0f, ulong seed = 0)
    {
        const string op = "LoraConv2d";
        var (oh, ow) = ConvGeometry(op, x, weight, bias, stride, padding);
        RequireNotNull(op, a);
        RequireNotNull(op, b);
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3], cout = weight.Shape[0], kh = weight.Shape[2], kw = weight.Shape[3];
        int r = a.Shape.Rank > 0 ? a.Shape[0] : 0, ckk = c * kh * kw;
        bool aOk = a.Shape.Rank == 2 ? a.Shape[1] == ckk : a.Shape.Rank == 4 && a.Shape[1] == c && a.Shape[2] == kh && a.Shape[3] == kw;
        if (!aOk) throw new ArgumentException($"{op}: {a.Describe()} must be (r, {c}, {kh}, {kw}) or (r, {ckk}) for the weight {weight.Shape}.");
        bool bOk = b.Shape.Rank == 2 ? b.Shape[0] == cout && b.Shape[1] == r
            : b.Shape.Rank == 4 && b.Shape[0] == cout && b.Shape[1] == r && b.Shape[2] == 1 && b.Shape[3] == 1;
        if (!bOk) throw new ArgumentException($"{op}: {b.Describe()} must be ({cout}, {r}, 1, 1) or ({cout}, {r}) for A {a.Shape} and the weight {weight.Shape}.");
        if (!(dropout >= 0f && dropout < 1f)) throw new ArgumentException($"{op}: dropout must be in [0, 1), got {dropout}.", nameof(dropout));
        var tape = Tape.Current;
        var y = tape.NewTensor(new Shape(n, cout, oh, ow));
        var hs = tape.NewTensor(new Shape(n, r, oh * ow));
        var drop = dropout > 0f && r > 0 ? new LoraDropout(dropout, seed) : LoraDropout.None;
        // With dropout the kernel writes x ⊙ mask here; the backward needs it for dA.
        var xDrop = drop.IsActive ? tape.NewTensor(x.Shape) : null;
        LoraConv.Forward(n, c, h, w, cout, kh, kw, stride, padding, r, scale, x.Data, xDrop != null ? xDrop.Data : default, weight.Data,
            a.Data, b.Data, bias != null ? bias.Data : default, hs.Data, y.Data, drop);
        if (Tape.NeedsGrad(x, a, b, bias) || Tape.NeedsGrad(weight))
        {
            ref var node = ref tape.Record(op, &LoraConv2dBackward, y);
            node.A = x; node.B = a; node.C = b; node.D = bias; node.Obj = weight; node.Saved0 = hs; node.Saved1 = xDrop;
            node.I0 = stride; node.I1 = padding; node.F0 = scale; node.F1 = drop.P; node.U0 = seed;
        }
        return tape.Finish(op, y);
    }

    static void LoraConv2dBackward(ref Node node)
    {
        Tensor x = node.A!, a = node.B!, b = node.C!, weight = (Tensor)node.Obj!;
        var drop = node.F1 > 0f ? new LoraDropout(node.F1, node.U0) : LoraDropout.None;
        LoraConv.Backward(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], weight.Shape[0], weight.Shape[2], weight.Shape[3], node.I0, node.I1,
            a.Shape[0], node.F0, x.Data, node.Saved1 != null ? node.Saved1.Data : default, weight.Data, a.Data, b.Data, node.Saved0!.Data,
            node.Out.Grad, GradOf(x), GradOf(a), GradOf(b), GradOf(node.D), GradOf(weight), drop);
    }
}
