using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>y = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) elementwise (GELU, tanh form).</summary>
    /// <remarks>Backward: dx += dy ⊙ gelu′(x); see <see cref="GeluBackwardOperator"/>.</remarks>
    public static Tensor Gelu(Tensor x)
    {
        const string op = "Gelu";
        RequireNotNull(op, x);
        var tape = Tape.Current;
        var y = tape.NewTensor(x.Shape);
        Elementwise.Gelu(x.Data, y.Data);
        if (Tape.NeedsGrad(x))
        {
            ref var node = ref tape.Record(op, &GeluBackward, y);
            node.A = x;
        }
        return tape.Finish(op, y);
    }

    static void GeluBackward(ref Node node) => Elementwise.GeluBackward(node.A!.Data, node.Out.Grad, node.A!.Grad);
}
