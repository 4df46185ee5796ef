using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>Columns [start, start + length) of the last axis, copied into a new tensor.</summary>
    /// <remarks>Backward: those columns of dx get dy added; the others get nothing.</remarks>
    public static Tensor Slice(Tensor x, int start, int length)
    {
        const string op = "Slice";
        RequireRank(op, x, 1);
        int cols = x.Shape.Last;
        // length > cols − start rather than start + length > cols: the sum can wrap past int.MaxValue.
        if (start < 0 || length < 0 || length > cols - start)
            throw new ArgumentException($"{op}: columns [{start}, {(long)start + length}) are outside the last axis of {x.Describe()}.");
        var tape = Tape.Current;
        var y = tape.NewTensor(x.Shape.WithLast(length));
        int rows = x.Shape.Rows;
        var xd = x.Data;
        var yd = y.Data;
        for (int i = 0; i < rows; i++) xd.Slice(i * cols + start, length).CopyTo(yd.Slice(i * length, length));
        if (Tape.NeedsGrad(x))
        {
            ref var node = ref tape.Record(op, &SliceBackward, y);
            node.A = x; node.I0 = start;
        }
        return tape.Finish(op, y);
    }

    static void SliceBackward(ref Node node)
    {
        int start = node.I0, length = node.Out.Shape.Last, cols = node.A!.Shape.Last, rows = node.Out.Shape.Rows;
        var dy = node.Out.Grad;
        var dx = node.A.Grad;
        for (int i = 0; i < rows; i++) Elementwise.AddInto(dy.Slice(i * length, length), dx.Slice(i * cols + start, length));
    }
}
