using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>y = a ⊙ b (elementwise), with b either a's shape or one row broadcast over a's rows.</summary>
    /// <remarks>Backward: da += dy ⊙ b; db += dy ⊙ a, summed over rows when b was broadcast.</remarks>
    public static Tensor Mul(Tensor a, Tensor b)
    {
        const string op = "Mul";
        bool row = IsRowBroadcast(op, a, b);
        var tape = Tape.Current;
        var y = tape.NewTensor(a.Shape);
        if (row) Elementwise.MultiplyRow(a.Shape.Rows, a.Shape.Last, a.Data, b.Data, y.Data);
        else Elementwise.Multiply(a.Data, b.Data, y.Data);
        if (Tape.NeedsGrad(a, b))
        {
            ref var node = ref tape.Record(op, &MulBackward, y);
            node.A = a; node.B = b; node.I0 = row ? 1 : 0;
        }
        return tape.Finish(op, y);
    }

    static void MulBackward(ref Node node)
    {
        var dy = node.Out.Grad;
        Tensor a = node.A!, b = node.B!;
        if (node.I0 == 0)
        {
            if (Wants(a)) Elementwise.BinaryAccumulate<MultiplyOperator>(dy, b.Data, a.Grad);
            if (Wants(b)) Elementwise.BinaryAccumulate<MultiplyOperator>(dy, a.Data, b.Grad);
            return;
        }
        int cols = node.Out.Shape.Last, rows = node.Out.Shape.Rows;
        var ad = a.Data;
        for (int i = 0; i < rows; i++)
        {
            var dyr = dy.Slice(i * cols, cols);
            if (Wants(a)) Elementwise.BinaryAccumulate<MultiplyOperator>(dyr, b.Data, a.Grad.Slice(i * cols, cols));
            if (Wants(b)) Elementwise.BinaryAccumulate<MultiplyOperator>(dyr, ad.Slice(i * cols, cols), b.Grad);
        }
    }
}
