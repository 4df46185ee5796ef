using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>Layer normalisation over the last axis: y = (x − μ)/√(σ² + eps) ⊙ γ + β, for x (…, d) and
    /// gamma, beta (d) or null.</summary>
    /// <remarks>μ and σ² (biased) are per row; μ and 1/√(σ² + eps) are saved for the backward, given in
    /// <see cref="LayerNormKernels"/>.</remarks>
    public static Tensor LayerNorm(Tensor x, Tensor? gamma = null, Tensor? beta = null, float eps = 1e-5f)
    {
        const string op = "LayerNorm";
        RequireRank(op, x, 1);
        int d = x.Shape.Last, rows = x.Shape.Rows;
        if (gamma != null && (gamma.Shape.Rank != 1 || gamma.Length != d)) throw Mismatch(op, "gamma must be (d) for x (…, d)", x, gamma);
        if (beta != null && (beta.Shape.Rank != 1 || beta.Length != d)) throw Mismatch(op, "beta must be (d) for x (…, d)", x, beta);
        var tape = Tape.Current;
        var y = tape.NewTensor(x.Shape);
        var mean = tape.NewTensor(new Shape(rows));
        var rstd = tape.NewTensor(new Shape(rows));
        LayerNormKernels.Forward(rows, d, eps, x.Data, gamma != null ? gamma.Data : default, beta != null ? beta.Data : default,
            y.Data, mean.Data, rstd.Data);
        if (Tape.NeedsGrad(x, gamma, beta))
        {
            ref var node = ref tape.Record(op, &LayerNormBackward, y);
            node.A = x; node.B = gamma; node.C = beta; node.Saved0 = mean; node.Saved1 = rstd;
        }
        return tape.Finish(op, y);
    }

    static void LayerNormBackward(ref Node node)
    {
        var x = node.A!;
        LayerNormKernels.Backward(x.Shape.Rows, x.Shape.Last, x.Data, node.B != null ? node.B.Data : default,
            node.Saved0!.Data, node.Saved1!.Data, node.Out.Grad, GradOf(x), GradOf(node.B), GradOf(node.C));
    }
}
