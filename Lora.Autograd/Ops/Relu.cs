using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>y = max(x, 0) elementwise.</summary>
    /// <remarks>Backward: dx += dy ⊙ [x &gt; 0] (the kink at 0 gets gradient 0, as in PyTorch).</remarks>
    public static Tensor Relu(Tensor x)
    {
        const string op = "Relu";
        RequireNotNull(op, x);
        var tape = Tape.Current;
        var y = tape.NewTensor(x.Shape);
        Elementwise.Relu(x.Data, y.Data);
        if (Tape.NeedsGrad(x))
        {
            ref var node = ref tape.Record(op, &ReluBackward, y);
            node.A = x;
        }
        return tape.Finish(op, y);
    }

    static void ReluBackward(ref Node node)
    {
        var dx = node.A!.GradForWrite(out bool overwrite);
        if (overwrite) Elementwise.Binary<ReluBackwardOperator>(node.A.Data, node.Out.Grad, dx); // dx = dy ⊙ [x > 0]
        else Elementwise.ReluBackward(node.A.Data, node.Out.Grad, dx);
    }
}
