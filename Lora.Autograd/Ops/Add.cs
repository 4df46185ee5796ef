using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>y = a + b, with b either a's shape or one row broadcast over a's rows.</summary>
    /// <remarks>Backward: da += dy; db += dy, or db += Σ_rows dy when b was broadcast.</remarks>
    public static Tensor Add(Tensor a, Tensor b)
    {
        const string op = "Add";
        bool row = IsRowBroadcast(op, a, b);
        var tape = Tape.Current;
        var y = tape.NewTensor(a.Shape);
        if (row) Elementwise.AddRow(a.Shape.Rows, a.Shape.Last, a.Data, b.Data, y.Data);
        else Elementwise.Add(a.Data, b.Data, y.Data);
        if (Tape.NeedsGrad(a, b))
        {
            ref var node = ref tape.Record(op, &AddBackward, y);
            node.A = a; node.B = b; node.I0 = row ? 1 : 0;
        }
        return tape.Finish(op, y);
    }

    static void AddBackward(ref Node node)
    {
        var dy = node.Out.Grad;
        if (Wants(node.A)) Elementwise.AddInto(dy, node.A!.Grad);
        if (!Wants(node.B)) return;
        if (node.I0 == 1) Reductions.AddColumnSums(node.Out.Shape.Rows, node.Out.Shape.Last, dy, node.B!.Grad);
        else Elementwise.AddInto(dy, node.B!.Grad);
    }
}
