using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>y = tanh(x) elementwise.</summary>
    /// <remarks>Backward: dx += dy ⊙ (1 − y²), from the saved output.</remarks>
    public static Tensor Tanh(Tensor x)
    {
        const string op = "Tanh";
        RequireNotNull(op, x);
        var tape = Tape.Current;
        var y = tape.NewTensor(x.Shape);
        Elementwise.Tanh(x.Data, y.Data);
        if (Tape.NeedsGrad(x))
        {
            ref var node = ref tape.Record(op, &TanhBackward, y);
            node.A = x;
        }
        return tape.Finish(op, y);
    }

    static void TanhBackward(ref Node node) => Elementwise.TanhBackward(node.Out.Data, node.Out.Grad, node.A!.Grad);
}
