using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>Affine map y = x·Wᵀ + b for x (…, in), W (out, in) (PyTorch's layout), b (out) or null; y is (…, out).</summary>
    /// <remarks>Backward: dx += dy·W, dW += dyᵀ·x, db += Σ_rows dy. A frozen W costs no dW GEMM; an input that
    /// needs no gradient (e.g. the data) costs no dx GEMM.</remarks>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        const string op = "Linear";
        RequireRank(op, x, 1);
        RequireRank(op, weight, 2, 2);
        int inF = weight.Shape[1], outF = weight.Shape[0], m = x.Shape.Rows;
        if (x.Shape.Last != inF) throw Mismatch(op, "input features differ from the weight's (out, in)", x, weight);
        if (bias != null && (bias.Shape.Rank != 1 || bias.Length != outF)) throw Mismatch(op, "bias must be (out)", bias, weight);
        var tape = Tape.Current;
        var y = tape.NewTensor(x.Shape.WithLast(outF));
        var yd = y.Data;
        // x: (m, in), w: (out, in), y: (m, out)
        Gemm.Sgemm(Transpose.No, Transpose.Yes, m, outF, inF, 1f, x.Data, Ld(inF), weight.Data, Ld(inF), 0f, yd, Ld(outF));
        if (bias != null) Elementwise.AddRow(m, outF, yd, bias.Data, yd);
        if (Tape.NeedsGrad(x, weight, bias))
        {
            ref var node = ref tape.Record(op, &LinearBackward, y);
            node.A = x; node.B = weight; node.C = bias; node.I0 = m; node.I1 = inF; node.I2 = outF;
        }
        return tape.Finish(op, y);
    }

    static void LinearBackward(ref Node node)
    {
        int m = node.I0, inF = node.I1, outF = node.I2;
        var dy = node.Out.Grad;
        if (Wants(node.A)) Gemm.Sgemm(Transpose.No, Transpose.No, m, inF, outF, 1f, dy, Ld(outF), node.B!.Data, Ld(inF), 1f, node.A!.Grad, Ld(inF));
        if (Wants(node.B)) Gemm.Sgemm(Transpose.Yes, Transpose.No, outF, inF, m, 1f, dy, Ld(outF), node.A!.Data, Ld(inF), 1f, node.B!.Grad, Ld(inF));
        if (Wants(node.C)) Reductions.AddColumnSums(m, outF, dy, node.C!.Grad);
    }
}
