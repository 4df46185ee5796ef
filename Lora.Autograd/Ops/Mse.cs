using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>Mean squared error, the scalar L = (1/N)·Σᵢ (predᵢ − targetᵢ)² over all N elements.</summary>
    /// <remarks>Backward: dpred += (2·dL/N)·(pred − target); dtarget −= the same (only if target requires a gradient).</remarks>
    public static Tensor Mse(Tensor pred, Tensor target)
    {
        const string op = "Mse";
        RequireNotNull(op, pred);
        RequireNotNull(op, target);
        if (pred.Shape != target.Shape) throw Mismatch(op, "shapes differ", pred, target);
        var tape = Tape.Current;
        var y = tape.NewTensor(Shape.Scalar);
        var diff = tape.NewTensor(pred.Shape);
        Elementwise.Subtract(pred.Data, target.Data, diff.Data);
        y.Data[0] = pred.Length == 0 ? float.NaN : Reductions.Dot(diff.Data, diff.Data) / pred.Length;
        if (Tape.NeedsGrad(pred, target))
        {
            ref var node = ref tape.Record(op, &MseBackward, y);
            node.A = pred; node.B = target; node.Saved0 = diff;
        }
        return tape.Finish(op, y);
    }

    static void MseBackward(ref Node node)
    {
        float k = 2f * node.Out.Grad[0] / node.A!.Length;
        var diff = node.Saved0!.Data;
        if (Wants(node.A)) Elementwise.AddScaled(k, diff, node.A.Grad);
        if (Wants(node.B)) Elementwise.AddScaled(-k, diff, node.B!.Grad);
    }
}
