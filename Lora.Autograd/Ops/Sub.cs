using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>y = a − b, with b either a's shape or one row broadcast over a's rows.</summary>
    /// <remarks>Backward: da += dy; db −= dy, or db −= Σ_rows dy when b was broadcast.</remarks>
    public static Tensor Sub(Tensor a, Tensor b)
    {
        const string op = "Sub";
        bool row = IsRowBroadcast(op, a, b);
        var tape = Tape.Current;
        var y = tape.NewTensor(a.Shape);
        if (row) Elementwise.SubtractRow(a.Shape.Rows, a.Shape.Last, a.Data, b.Data, y.Data);
        else Elementwise.Subtract(a.Data, b.Data, y.Data);
        if (Tape.NeedsGrad(a, b))
        {
            ref var node = ref tape.Record(op, &SubBackward, y);
            node.A = a; node.B = b; node.I0 = row ? 1 : 0;
        }
        return tape.Finish(op, y);
    }

    static void SubBackward(ref Node node)
    {
        var dy = node.Out.Grad;
        if (Wants(node.A)) Elementwise.AddInto(dy, node.A!.Grad);
        if (!Wants(node.B)) return;
        var db = node.B!.Grad;
        if (node.I0 == 0) { Elementwise.AddScaled(-1f, dy, db); return; }
        int cols = node.Out.Shape.Last;
        for (int i = 0; i < node.Out.Shape.Rows; i++) Elementwise.AddScaled(-1f, dy.Slice(i * cols, cols), db);
    }
}
