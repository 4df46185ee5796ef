using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>y = σ(x) = 1/(1 + e^(−x)) elementwise.</summary>
    /// <remarks>Backward: dx += dy ⊙ y ⊙ (1 − y), from the saved output.</remarks>
    public static Tensor Sigmoid(Tensor x)
    {
        const string op = "Sigmoid";
        RequireNotNull(op, x);
        var tape = Tape.Current;
        var y = tape.NewTensor(x.Shape);
        Elementwise.Sigmoid(x.Data, y.Data);
        if (Tape.NeedsGrad(x))
        {
            ref var node = ref tape.Record(op, &SigmoidBackward, y);
            node.A = x;
        }
        return tape.Finish(op, y);
    }

    static void SigmoidBackward(ref Node node) => Elementwise.SigmoidBackward(node.Out.Data, node.Out.Grad, node.A!.Grad);
}
