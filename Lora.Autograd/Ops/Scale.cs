using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>y = s·x for a constant s.</summary>
    /// <remarks>Backward: dx += s·dy.</remarks>
    public static Tensor Scale(Tensor x, float s)
    {
        const string op = "Scale";
        RequireNotNull(op, x);
        var tape = Tape.Current;
        var y = tape.NewTensor(x.Shape);
        Elementwise.Scale(x.Data, s, y.Data);
        if (Tape.NeedsGrad(x))
        {
            ref var node = ref tape.Record(op, &ScaleBackward, y);
            node.A = x; node.F0 = s;
        }
        return tape.Finish(op, y);
    }

    static void ScaleBackward(ref Node node) => Elementwise.AddScaled(node.F0, node.Out.Grad, node.A!.Grad);
}
